/**
 * The yagi-worker's Prometheus metrics (served by shared/metrics-server.ts when a metrics port
 * is set): notifications by outcome, batch latency, deliveries waiting, database retries, and
 * whether the database refuses writes (ingest paused), with `cell` as a default label.
 */
import { Counter, Gauge, Histogram, type Registry } from 'prom-client';
import type { IngestHealth } from './ingest.js';
import type { IngestCounts } from './stats.js';

export class IngestMetrics {
  private readonly notifications: Counter<'outcome'>;
  private readonly batchSeconds: Histogram;
  private readonly lastCommit: Gauge;

  constructor(registry: Registry, health: IngestHealth, depth: () => { waiting: number; inFlight: number }) {
    this.notifications = new Counter({ name: 'stv3_ingest_notifications_total', help: 'Notifications committed, by outcome', labelNames: ['outcome'], registers: [registry] });
    this.batchSeconds = new Histogram({ name: 'stv3_ingest_batch_seconds', help: 'Time from a batch leaving the lane to its commit', buckets: [0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10, 30], registers: [registry] });
    this.lastCommit = new Gauge({ name: 'stv3_ingest_last_commit_timestamp_seconds', help: 'Wall-clock time of the last committed batch', registers: [registry] });
    new Gauge({
      name: 'stv3_ingest_deliveries_waiting',
      help: 'Deliveries received and not yet committed (waiting for a batch, or in the database)',
      registers: [registry],
      collect() {
        const d = depth();
        this.set(d.waiting + d.inFlight);
      },
    });
    new Gauge({
      name: 'stv3_ingest_database_blocked',
      help: '1 while the database refuses writes (the canary fails): ingest paused, nothing acked',
      registers: [registry],
      collect() {
        this.set(health.blockedBy === null ? 0 : 1);
      },
    });
    new Gauge({
      name: 'stv3_ingest_db_retries',
      help: 'Batch attempts retried after a database error since start (lock waits and conflicts included)',
      registers: [registry],
      collect() {
        this.set(health.retries);
      },
    });
    new Gauge({
      name: 'stv3_ingest_lock_retries',
      help: 'Batch attempts retried after a lock wait, deadlock or unique-key conflict since start',
      registers: [registry],
      collect() {
        this.set(health.lockRetries);
      },
    });
  }

  batch(counts: IngestCounts, seconds: number): void {
    this.notifications.inc({ outcome: 'stored' }, counts.stored);
    this.notifications.inc({ outcome: 'duplicate' }, counts.duplicates);
    this.notifications.inc({ outcome: 'quarantined' }, counts.quarantined);
    this.notifications.inc({ outcome: 'unmatched' }, counts.unmatched);
    this.batchSeconds.observe(seconds);
    this.lastCommit.setToCurrentTime();
  }
}
