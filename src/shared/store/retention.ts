/**
 * Retention: deleting what is old, in small batches, one trimmer at a time (issue 14).
 *
 * Upstream (spec §4.1, §4.5, §5.2) had `trim_events`: each pipeline-worker pass selected up to
 * `trim_events_batch_size` events with `generated < trim_events_age` (a timex expression over
 * `$timestamp` = now, default `$timestamp - 14d`), oldest first, and deleted their streamevent
 * links, traits and rows, whatever stream they were in. Here the same settings mean the same
 * thing, with these differences:
 *
 * - per event type: winchester.yaml `retention` maps an event type (exact name, or an fnmatch
 *   pattern; exact names first, then patterns in file order) to a duration (`7d`) or `never`;
 *   `default` covers the other types, else trim_events_age does;
 * - an event that belongs to a stream that is not completed (active, firing, expiring, error,
 *   expire_error, retry_*) is never deleted: the stream still needs it to fire, expire or be
 *   retried (upstream let streams lose events, spec §5.2). Events only in completed streams, or
 *   in none, go with their streamevent links (the stream's event_count follows) and their
 *   `trait` rows;
 * - completed streams whose last event is older than trim_completed_streams_age are deleted
 *   with their dist_trait and streamevent rows (as purge_completed_streams
 *   deletes a stream when it completes; with that on there are no completed streams to trim);
 * - quarantine rows only with trim_quarantine_age (or `stv3 trim --quarantine`);
 * - a run takes the named lock `stv3_trim` (GET_LOCK, held by its connection: released if the
 *   process dies), so N pipeline workers and a cron `stv3 trim` never trim at once; each delete
 *   is its own transaction of at most `batchSize` events, the run pauses `pauseMs` between
 *   batches and stops after `maxSeconds`, so ingest keeps its pace.
 *
 * Why a selected event cannot join a stream that is not completed before it is deleted: stream
 * links are written only in the transaction that stores the event (ingest, or a pipeline's new
 * events), which committed before we could see the event, and completed is a final state.
 *
 * Plans (test/integration/retention.test.ts checks them): events are walked by the index
 * (event_type_id, generated) from a cursor, never by scanning `event`; completed streams by
 * ix_stream_state (state, id); quarantine by ix_quarantine_received_at.
 */
import type { Pool, PoolConnection } from 'mysql2/promise';
import type { Logger } from 'pino';
import { sleep } from '../backoff.js';
import { parseRetentionAge, type WinchesterYaml } from '../config/winchester-conf.js';
import { isTransientDbError } from '../db/errors.js';
import { inTransaction } from '../db/sql.js';
import { EventTypeMatcher } from '../glob.js';
import { DateTime } from '../time.js';
import { parseTimex, type TimexExpression } from '../timex/index.js';
import { StreamState } from './stream-states.js';

/** The named lock every trim run holds (GET_LOCK is per server, so per database name). */
export function trimLockName(database: string): string {
  return `stv3_trim:${database}`.slice(0, 64);
}

/** How long something is kept: a timex expression over $timestamp (now), or never deleted. */
export type RetentionAge = { readonly text: string; readonly expr: TimexExpression } | 'never';

export interface RetentionRule {
  readonly pattern: string;
  readonly matcher: EventTypeMatcher;
  readonly age: RetentionAge;
}

export interface RetentionPolicy {
  /** Types no rule names. */
  readonly defaultAge: RetentionAge;
  /** Exact names first, then patterns, in file order. */
  readonly rules: readonly RetentionRule[];
  /** Completed streams by last_event; null: kept. */
  readonly completedStreamsAge: RetentionAge | null;
  /** Quarantine rows by received_at; null: never touched. */
  readonly quarantineAge: RetentionAge | null;
}

function age(text: string): RetentionAge {
  const parsed = parseRetentionAge(text);
  return parsed === 'never' ? 'never' : { text, expr: parsed };
}

/**
 * The policy winchester.yaml describes (already validated by loadWinchesterConfig);
 * `quarantineAge` (stv3 trim --quarantine) overrides trim_quarantine_age.
 */
export function retentionPolicyFrom(raw: WinchesterYaml, overrides: { quarantineAge?: string } = {}): RetentionPolicy {
  const entries = Object.entries(raw.retention ?? {}).filter(([k]) => k !== 'default');
  const isPattern = (k: string): boolean => /[*?[!]/.test(k);
  const ordered = [...entries.filter(([k]) => !isPattern(k)), ...entries.filter(([k]) => isPattern(k))];
  const defaultText = raw.retention?.['default'];
  const quarantine = overrides.quarantineAge ?? raw.trim_quarantine_age;
  return {
    defaultAge: defaultText !== undefined ? age(defaultText) : { text: raw.trim_events_age, expr: parseTimex(raw.trim_events_age) },
    rules: ordered.map(([pattern, text]) => ({ pattern, matcher: new EventTypeMatcher(pattern), age: age(text) })),
    completedStreamsAge: raw.trim_completed_streams_age ? age(raw.trim_completed_streams_age) : null,
    quarantineAge: quarantine ? age(quarantine) : null,
  };
}

/** The age that applies to an event type. */
export function ageOf(policy: RetentionPolicy, eventType: string): RetentionAge {
  return policy.rules.find((r) => r.matcher.matches(eventType))?.age ?? policy.defaultAge;
}

/** The cutoff of an age at `now`: what is strictly older goes; null for never. */
export function cutoffOf(a: RetentionAge, now: DateTime): DateTime | null {
  return a === 'never' ? null : a.expr.evaluate({}, now).timestamp;
}

export interface TrimOptions {
  readonly policy: RetentionPolicy;
  /** Events (or streams, or quarantine rows) per delete transaction (trim_events_batch_size). */
  readonly batchSize: number;
  /** The run stops after this long, where it is; the next run goes on from there. */
  readonly maxSeconds: number;
  /** Pause between two delete transactions. */
  readonly pauseMs: number;
  /** Count what would go; delete nothing. */
  readonly dryRun?: boolean;
  /** Default: the wall clock (upstream's utcnow). */
  readonly now?: DateTime;
  /** Seconds to wait for the lock (0: skip the run if another trimmer holds it). */
  readonly lockWaitSeconds?: number;
  /** Ends the run between two batches. */
  readonly signal?: AbortSignal;
  readonly log?: Logger;
}

export interface TrimReport {
  /** False: another trimmer held the lock, nothing was done. */
  readonly locked: boolean;
  readonly dryRun: boolean;
  /** Per event type: events deleted (or that would be). */
  readonly events: Record<string, number>;
  /** Dry run only: per event type, events past their age kept because a stream not completed holds them. */
  readonly protectedEvents: Record<string, number>;
  readonly streams: number;
  readonly quarantine: number;
  /** Everything due was done (not cut short by maxSeconds or the signal). */
  readonly complete: boolean;
  readonly seconds: number;
  readonly batches: number;
}

/** The event filter: not in a stream that is not completed. */
const NOT_HELD = `NOT EXISTS (SELECT 1 FROM streamevent se JOIN stream s ON s.id = se.stream_id
                   WHERE se.event_id = e.id AND s.state <> ${StreamState.completed})`;

/**
 * The next batch of deletable events of one type, oldest first: parameters type id, cutoff,
 * [cursor generated, cursor generated, cursor id], limit. Walks ix_event_type_generated.
 */
export function selectEventBatchSql(withCursor: boolean): string {
  return `SELECT e.id, e.generated FROM event e
           WHERE e.event_type_id = ? AND e.generated < ? ${withCursor ? 'AND e.generated >= ? AND (e.generated > ? OR e.id > ?)' : ''}
             AND ${NOT_HELD}
           ORDER BY e.generated, e.id LIMIT ?`;
}

/** The next batch of old completed streams after an id: parameters id, cutoff, limit. Walks ix_stream_state (state, id). */
export const SELECT_COMPLETED_STREAMS_SQL = `SELECT id FROM stream WHERE state = ${StreamState.completed} AND id > ? AND last_event < ? ORDER BY state, id LIMIT ?`;

/** Oldest quarantine rows first: parameters cutoff, limit. Walks ix_quarantine_received_at. */
export const DELETE_QUARANTINE_SQL = 'DELETE FROM quarantine WHERE received_at < ? ORDER BY received_at LIMIT ?';

/**
 * One trim run (see the header). Takes the lock on its own connection; returns
 * `{ locked: false }` at once when another run holds it (after lockWaitSeconds). Database errors
 * are thrown (the caller retries at its next run: every batch that committed stays done).
 */
export async function runTrim(pool: Pool, options: TrimOptions): Promise<TrimReport> {
  const started = performance.now();
  const deadline = Date.now() + options.maxSeconds * 1000;
  const now = options.now ?? DateTime.now();
  const dryRun = options.dryRun ?? false;
  const report = { locked: true, dryRun, events: {} as Record<string, number>, protectedEvents: {} as Record<string, number>, streams: 0, quarantine: 0, complete: true, seconds: 0, batches: 0 };
  const conn = await pool.getConnection();
  let broken = false;
  try {
    const [[{ db }]] = (await conn.query('SELECT DATABASE() AS db')) as unknown as [[{ db: string }]];
    const lock = trimLockName(db);
    const [[{ got }]] = (await conn.query('SELECT GET_LOCK(?, ?) AS got', [lock, options.lockWaitSeconds ?? 0])) as unknown as [[{ got: number | null }]];
    if (got !== 1) return { ...report, locked: false, complete: false, seconds: (performance.now() - started) / 1000 };
    try {
      const run = new TrimRun(conn, options, now, deadline, report);
      if (dryRun) await run.count();
      else await run.delete();
    } finally {
      await conn.query('SELECT RELEASE_LOCK(?)', [lock]).catch(() => undefined);
    }
  } catch (err) {
    broken = isTransientDbError(err);
    throw err;
  } finally {
    if (broken) conn.destroy();
    else conn.release();
  }
  report.seconds = (performance.now() - started) / 1000;
  return report;
}

interface MutableReport {
  events: Record<string, number>;
  protectedEvents: Record<string, number>;
  streams: number;
  quarantine: number;
  complete: boolean;
  batches: number;
}

class TrimRun {
  private first = true;

  constructor(
    private readonly conn: PoolConnection,
    private readonly options: TrimOptions,
    private readonly now: DateTime,
    private readonly deadline: number,
    private readonly report: MutableReport,
  ) {}

  /** Types with their cutoff (never-kept types left out), in id order. */
  private async eventTypes(): Promise<{ id: number; name: string; cutoff: DateTime }[]> {
    const [rows] = await this.conn.query('SELECT id, `desc` AS name FROM event_type ORDER BY id');
    const out: { id: number; name: string; cutoff: DateTime }[] = [];
    for (const r of rows as { id: number; name: string }[]) {
      const cutoff = cutoffOf(ageOf(this.options.policy, r.name), this.now);
      if (cutoff !== null) out.push({ ...r, cutoff });
    }
    return out;
  }

  async count(): Promise<void> {
    const { policy } = this.options;
    const streamsCutoff = policy.completedStreamsAge ? cutoffOf(policy.completedStreamsAge, this.now) : null;
    if (streamsCutoff) {
      const [[row]] = (await this.conn.query(`SELECT COUNT(*) AS n FROM stream WHERE state = ${StreamState.completed} AND last_event < ?`, [streamsCutoff.toSql()])) as unknown as [[{ n: number }]];
      this.report.streams = Number(row.n);
    }
    for (const t of await this.eventTypes()) {
      const [[row]] = (await this.conn.query(
        `SELECT COUNT(*) AS n, COALESCE(SUM(NOT ${NOT_HELD}), 0) AS held FROM event e WHERE e.event_type_id = ? AND e.generated < ?`,
        [t.id, t.cutoff.toSql()],
      )) as unknown as [[{ n: number; held: number | string }]];
      const held = Number(row.held);
      const n = Number(row.n) - held;
      if (n > 0) this.report.events[t.name] = n;
      if (held > 0) this.report.protectedEvents[t.name] = held;
    }
    const quarantineCutoff = policy.quarantineAge ? cutoffOf(policy.quarantineAge, this.now) : null;
    if (quarantineCutoff) {
      const [[row]] = (await this.conn.query('SELECT COUNT(*) AS n FROM quarantine WHERE received_at < ?', [quarantineCutoff.toSql()])) as unknown as [[{ n: number }]];
      this.report.quarantine = Number(row.n);
    }
  }

  async delete(): Promise<void> {
    const { policy } = this.options;
    // Streams first: events of the streams deleted here are then in no stream.
    const streamsCutoff = policy.completedStreamsAge ? cutoffOf(policy.completedStreamsAge, this.now) : null;
    if (streamsCutoff && !(await this.deleteStreams(streamsCutoff))) return;
    for (const t of await this.eventTypes()) {
      if (!(await this.deleteEvents(t))) return;
    }
    const quarantineCutoff = policy.quarantineAge ? cutoffOf(policy.quarantineAge, this.now) : null;
    if (quarantineCutoff) await this.deleteQuarantine(quarantineCutoff);
  }

  /** Before each batch: pause after the previous one; false when the run must stop. */
  private async next(): Promise<boolean> {
    if (!this.first) await sleep(this.options.pauseMs, this.options.signal);
    this.first = false;
    if (this.options.signal?.aborted || Date.now() >= this.deadline) {
      this.report.complete = false;
      return false;
    }
    return true;
  }

  private async deleteStreams(cutoff: DateTime): Promise<boolean> {
    let after = 0;
    for (;;) {
      if (!(await this.next())) return false;
      const [rows] = await this.conn.query(SELECT_COMPLETED_STREAMS_SQL, [after, cutoff.toSql(), this.options.batchSize]);
      const ids = (rows as { id: number }[]).map((r) => r.id);
      if (ids.length === 0) return true;
      after = ids[ids.length - 1]!;
      // Its dist_trait and streamevent rows would go by ON DELETE CASCADE; deleted explicitly
      // too, so that nothing is left should foreign key checks be off.
      this.report.streams += await inTransaction(this.conn, async () => {
        const [result] = await this.conn.query(`DELETE FROM stream WHERE id IN (?) AND state = ${StreamState.completed}`, [ids]);
        await this.conn.query('DELETE FROM dist_trait WHERE stream_id IN (?)', [ids]);
        await this.conn.query('DELETE FROM streamevent WHERE stream_id IN (?)', [ids]);
        return (result as { affectedRows: number }).affectedRows;
      });
      this.report.batches++;
      if (ids.length < this.options.batchSize) return true;
    }
  }

  private async deleteEvents(t: { id: number; name: string; cutoff: DateTime }): Promise<boolean> {
    let cursor: { generated: string; id: number } | null = null;
    for (;;) {
      if (!(await this.next())) return false;
      // From the cursor on (events this run kept because a stream holds them are not read again).
      const [rows] = await this.conn.query(selectEventBatchSql(cursor !== null), [
        t.id,
        t.cutoff.toSql(),
        ...(cursor ? [cursor.generated, cursor.generated, cursor.id] : []),
        this.options.batchSize,
      ]);
      const found = rows as { id: number; generated: string }[];
      if (found.length === 0) return true;
      const last = found[found.length - 1]!;
      cursor = { generated: last.generated, id: last.id };
      const ids = found.map((r) => r.id);
      const n = await inTransaction(this.conn, async () => {
        // A completed stream losing events: its event_count says so, which is also what tells
        // the API's page cache (api/page-cache.ts) that the stream's page changed.
        await this.conn.query(
          `UPDATE stream s JOIN (SELECT stream_id, COUNT(*) AS n FROM streamevent WHERE event_id IN (?) GROUP BY stream_id) x ON x.stream_id = s.id
              SET s.event_count = GREATEST(s.event_count - x.n, 0)`,
          [ids],
        );
        await this.conn.query('DELETE FROM streamevent WHERE event_id IN (?)', [ids]);
        await this.conn.query('DELETE FROM trait WHERE event_id IN (?)', [ids]);
        const [result] = await this.conn.query('DELETE FROM event WHERE id IN (?)', [ids]);
        return (result as { affectedRows: number }).affectedRows;
      });
      if (n > 0) this.report.events[t.name] = (this.report.events[t.name] ?? 0) + n;
      this.report.batches++;
      if (found.length < this.options.batchSize) return true;
    }
  }

  private async deleteQuarantine(cutoff: DateTime): Promise<boolean> {
    for (;;) {
      if (!(await this.next())) return false;
      const [result] = await this.conn.query(DELETE_QUARANTINE_SQL, [cutoff.toSql(), this.options.batchSize]);
      const n = (result as { affectedRows: number }).affectedRows;
      this.report.quarantine += n;
      this.report.batches++;
      if (n < this.options.batchSize) return true;
    }
  }
}

/** One line per event type (sorted), then streams and quarantine: for logs and `stv3 trim`. */
export function formatTrimReport(report: TrimReport): string {
  if (!report.locked) return 'another trim is running (lock held); nothing done\n';
  const verb = report.dryRun ? 'would delete' : 'deleted';
  const lines: string[] = [];
  const types = [...new Set([...Object.keys(report.events), ...Object.keys(report.protectedEvents)])].sort();
  for (const t of types) {
    const kept = report.protectedEvents[t];
    lines.push(`${t}: ${verb} ${report.events[t] ?? 0} events${kept ? `, ${kept} kept (in streams not completed)` : ''}`);
  }
  const total = Object.values(report.events).reduce((a, b) => a + b, 0);
  lines.push(`events: ${verb} ${total}`);
  lines.push(`completed streams: ${verb} ${report.streams}`);
  lines.push(`quarantine: ${verb} ${report.quarantine}`);
  if (!report.dryRun) lines.push(report.complete ? `done in ${report.seconds.toFixed(1)} s` : `stopped after ${report.seconds.toFixed(1)} s with more to do (the next run goes on)`);
  return `${lines.join('\n')}\n`;
}
