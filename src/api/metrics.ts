/**
 * The API's /metrics (Prometheus text format, prom-client): the system's state read from the
 * database at scrape time (metrics-queries.ts, a handful of cheap statements), and this node's
 * own request errors.
 *
 *   stv3_cell_events_stored_total{cell}            events a cell's yagi-worker stored (ingest_cell)
 *   stv3_cell_duplicates_total{cell}               redelivered / duplicate notifications skipped
 *   stv3_cell_quarantined_total{cell}              messages a cell quarantined, ever
 *   stv3_cell_last_ingest_timestamp_seconds{cell}  wall time of the cell's last stored batch
 *   stv3_cell_last_event_timestamp_seconds{cell}   newest event time the cell stored
 *   stv3_quarantine_messages{cell}                 messages in quarantine now
 *   stv3_streams{trigger,state}                    streams by trigger and state
 *   stv3_streams_errored                           streams in error or expire_error
 *   stv3_oldest_due_stream_age_seconds             how long the longest-waiting due stream waits (0: none)
 *   stv3_api_server_errors_total                   this node's 5xx answers
 * plus prom-client's default process metrics.
 */
import { collectDefaultMetrics, Counter, Gauge, Registry } from 'prom-client';
import type { Queryable } from '../shared/db/sql.js';
import { readSystemStatus } from '../shared/store/metrics-queries.js';
import type { DateTime } from '../shared/time.js';

const seconds = (t: DateTime): number => t.toEpochMicros() / 1e6;

export class ApiMetrics {
  readonly registry = new Registry();
  readonly serverErrors = new Counter({ name: 'stv3_api_server_errors_total', help: "This API node's 5xx answers", registers: [this.registry] });
  private readonly stored = new Counter({ name: 'stv3_cell_events_stored_total', help: 'Events stored by the cell', labelNames: ['cell'], registers: [this.registry] });
  private readonly duplicates = new Counter({ name: 'stv3_cell_duplicates_total', help: 'Duplicate notifications skipped by the cell', labelNames: ['cell'], registers: [this.registry] });
  private readonly quarantinedTotal = new Counter({ name: 'stv3_cell_quarantined_total', help: 'Messages quarantined by the cell', labelNames: ['cell'], registers: [this.registry] });
  private readonly lastIngest = new Gauge({ name: 'stv3_cell_last_ingest_timestamp_seconds', help: "Wall time of the cell's last stored batch", labelNames: ['cell'], registers: [this.registry] });
  private readonly lastEvent = new Gauge({ name: 'stv3_cell_last_event_timestamp_seconds', help: 'Newest event time stored by the cell', labelNames: ['cell'], registers: [this.registry] });
  private readonly quarantine = new Gauge({ name: 'stv3_quarantine_messages', help: 'Messages in quarantine', labelNames: ['cell'], registers: [this.registry] });
  private readonly streams = new Gauge({ name: 'stv3_streams', help: 'Streams by trigger and state', labelNames: ['trigger', 'state'], registers: [this.registry] });
  private readonly errored = new Gauge({ name: 'stv3_streams_errored', help: 'Streams in error or expire_error', registers: [this.registry] });
  private readonly oldestDue = new Gauge({ name: 'stv3_oldest_due_stream_age_seconds', help: 'Age of the oldest due, unclaimed stream (0: none)', registers: [this.registry] });

  constructor() {
    collectDefaultMetrics({ register: this.registry });
  }

  /** Reads the database and renders every metric. */
  async render(db: Queryable, now: DateTime | null): Promise<string> {
    const status = await readSystemStatus(db, now);
    for (const m of [this.stored, this.duplicates, this.quarantinedTotal]) m.reset();
    for (const m of [this.lastIngest, this.lastEvent, this.quarantine, this.streams]) m.reset();
    for (const c of status.cells) {
      this.stored.inc({ cell: c.cell }, c.eventsStored);
      this.duplicates.inc({ cell: c.cell }, c.duplicates);
      this.quarantinedTotal.inc({ cell: c.cell }, c.quarantined);
      if (c.lastIngestAt) this.lastIngest.set({ cell: c.cell }, seconds(c.lastIngestAt));
      if (c.lastEventAt) this.lastEvent.set({ cell: c.cell }, seconds(c.lastEventAt));
    }
    for (const q of status.quarantineByCell) this.quarantine.set({ cell: q.cell }, q.count);
    for (const s of status.streamsByTrigger) this.streams.set({ trigger: s.trigger, state: s.state }, s.count);
    this.errored.set(status.streamsByState.error + status.streamsByState.expire_error);
    this.oldestDue.set(status.oldestDue?.ageSeconds ?? 0);
    return this.registry.metrics();
  }
}
