/**
 * Why a stream has not fired or expired yet (GET /v2/streams/{id}/explain, `stv3 streams
 * explain`): its fire criteria counts against what each needs (stream.fire_counts, kept per
 * criterion by ingest), its fire and expire times against the clock, its lease, attempts and
 * last error, and one sentence that sums it up.
 *
 * "Now" is the database's UTC clock (leases are taken in database time), unless the caller
 * passes the replay clock (time_sync_endpoint), which is what pipeline workers then use.
 */
import type { RowDataPacket } from 'mysql2';
import type { Queryable } from '../db/sql.js';
import { DateTime } from '../time.js';
import type { TriggerDefinition } from '../triggers/index.js';
import { nullableDateTime } from './find-streams.js';
import { stateName, StreamState, type StreamStateName } from './stream-states.js';

export interface CriterionProgress {
  /** The criterion's event_type patterns, as written in triggers.yaml. */
  readonly eventTypes: readonly string[];
  /** Matching events needed (`number`). */
  readonly needed: number;
  /** Matching events seen so far (capped at `needed`). */
  readonly count: number;
  readonly met: boolean;
}

export interface StreamExplanation {
  readonly id: number;
  readonly name: string;
  readonly state: StreamStateName;
  /** The trigger is in the loaded triggers.yaml (false: renamed or removed since). */
  readonly triggerKnown: boolean;
  readonly firePipeline: string | null;
  readonly expirePipeline: string | null;
  readonly eventCount: number;
  readonly firstEvent: DateTime;
  readonly lastEvent: DateTime;
  /** Ingest may still append (open_key set). */
  readonly open: boolean;
  readonly now: DateTime;
  readonly clock: 'database' | 'time_sync';
  readonly fireCriteria: readonly CriterionProgress[];
  readonly fireTimestamp: DateTime | null;
  /** fire_timestamp − now, seconds (negative: overdue); null without a fire time. */
  readonly fireInSeconds: number | null;
  readonly expireTimestamp: DateTime | null;
  readonly expireInSeconds: number | null;
  readonly leaseOwner: string | null;
  readonly leaseExpires: DateTime | null;
  readonly leaseExpiresInSeconds: number | null;
  readonly attempts: number;
  readonly maxAttempts: number;
  readonly lastError: string | null;
  readonly retryAfter: DateTime | null;
  /** One sentence: why it is where it is, and what happens next. */
  readonly verdict: string;
}

export interface ExplainOptions {
  readonly triggers: readonly TriggerDefinition[];
  /** winchester.yaml pipeline_max_attempts. */
  readonly maxAttempts: number;
  /** The replay clock's now, when time sync is configured. */
  readonly replayNow?: DateTime | null | undefined;
}

/** The explanation, or null when there is no such stream. */
export async function explainStream(db: Queryable, id: number, options: ExplainOptions): Promise<StreamExplanation | null> {
  const [rows] = await db.query<RowDataPacket[]>(
    `SELECT id, name, state, first_event, last_event, fire_timestamp, expire_timestamp, open_key IS NOT NULL AS open, fire_counts, event_count,
            lease_owner, lease_expires, attempts, last_error, retry_after, UTC_TIMESTAMP(6) AS db_now
       FROM stream WHERE id = ?`,
    [id],
  );
  const r = rows[0];
  if (!r) return null;
  const dbNow = DateTime.parse(r['db_now'] as string);
  const now = options.replayNow ?? dbNow;
  const trigger = options.triggers.find((t) => t.name === r['name']) ?? null;
  const counts = JSON.parse(r['fire_counts'] as string) as number[];
  const fireCriteria: CriterionProgress[] = (trigger?.fireCriteria ?? []).map((c, i) => {
    const count = counts[i] ?? 0;
    return { eventTypes: c.eventTypes.patterns, needed: c.number, count, met: count >= c.number };
  });
  const fireTimestamp = nullableDateTime(r['fire_timestamp']);
  const expireTimestamp = nullableDateTime(r['expire_timestamp']);
  const leaseExpires = nullableDateTime(r['lease_expires']);
  const secondsFrom = (t: DateTime | null, clock: DateTime): number | null => (t === null ? null : t.diffMicros(clock) / 1e6);
  const facts = {
    id: r['id'] as number,
    name: r['name'] as string,
    state: stateName(r['state'] as number),
    triggerKnown: trigger !== null,
    firePipeline: trigger?.firePipeline ?? null,
    expirePipeline: trigger?.expirePipeline ?? null,
    eventCount: r['event_count'] as number,
    firstEvent: DateTime.parse(r['first_event'] as string),
    lastEvent: DateTime.parse(r['last_event'] as string),
    open: Number(r['open']) === 1,
    now,
    clock: options.replayNow ? ('time_sync' as const) : ('database' as const),
    fireCriteria,
    fireTimestamp,
    fireInSeconds: secondsFrom(fireTimestamp, now),
    expireTimestamp,
    expireInSeconds: secondsFrom(expireTimestamp, now),
    leaseOwner: (r['lease_owner'] as string | null) ?? null,
    leaseExpires,
    // Leases are in database time, whatever clock decides what is due.
    leaseExpiresInSeconds: secondsFrom(leaseExpires, dbNow),
    attempts: r['attempts'] as number,
    maxAttempts: options.maxAttempts,
    lastError: (r['last_error'] as string | null) ?? null,
    retryAfter: nullableDateTime(r['retry_after']),
  };
  return { ...facts, verdict: verdict(facts) };
}

type Facts = Omit<StreamExplanation, 'verdict'>;

function ago(seconds: number): string {
  return `${formatSeconds(-seconds)} ago`;
}

function formatSeconds(s: number): string {
  const abs = Math.abs(s);
  if (abs < 120) return `${abs.toFixed(abs < 10 ? 1 : 0)} s`;
  if (abs < 7200) return `${(abs / 60).toFixed(0)} min`;
  if (abs < 172_800) return `${(abs / 3600).toFixed(1)} h`;
  return `${(abs / 86_400).toFixed(1)} days`;
}

function verdict(f: Facts): string {
  switch (StreamState[f.state]) {
    case StreamState.completed:
      return 'completed: its pipeline ran; nothing is left to do';
    case StreamState.error:
    case StreamState.expire_error:
      return `its ${f.state === 'error' ? 'fire' : 'expire'} pipeline failed${f.lastError ? ` (${f.lastError})` : ''}; it waits for an operator: PUT /v2/streams/${f.id} or \`stv3 streams retry ${f.id}\``;
    case StreamState.firing:
    case StreamState.expiring: {
      const lease = f.leaseExpiresInSeconds;
      if (lease !== null && lease < 0) {
        return `claimed by ${f.leaseOwner ?? '?'} whose lease ran out ${ago(lease)}; the next reaper pass returns it to retry (attempt ${f.attempts} of ${f.maxAttempts})`;
      }
      return `${f.state} now: claimed by ${f.leaseOwner ?? '?'}, lease ends in ${lease === null ? '?' : formatSeconds(lease)} (attempt ${f.attempts} of ${f.maxAttempts})`;
    }
    case StreamState.retry_fire:
    case StreamState.retry_expire: {
      const delayed = f.retryAfter !== null && f.retryAfter.isAfter(f.now);
      return `waiting to be ${f.state === 'retry_fire' ? 'fired' : 'expired'} again${delayed ? ` after ${f.retryAfter!.toIsoformat()}` : ': due now, a pipeline worker takes it on its next pass'}`;
    }
    default:
      return activeVerdict(f);
  }
}

function activeVerdict(f: Facts): string {
  if (f.fireInSeconds !== null) {
    return f.fireInSeconds <= 0
      ? `ready to fire for ${formatSeconds(f.fireInSeconds)}; waiting for a pipeline worker (is one running and reaching the database?)`
      : `fire criteria met; it fires in ${formatSeconds(f.fireInSeconds)} (fire_delay)`;
  }
  const expiry =
    f.expireInSeconds === null
      ? 'it has no expiry'
      : f.expireInSeconds <= 0
        ? `it has been due to expire for ${formatSeconds(f.expireInSeconds)}; waiting for a pipeline worker`
        : `it expires in ${formatSeconds(f.expireInSeconds)} unless they are met first`;
  if (!f.triggerKnown) return `trigger "${f.name}" is not in the loaded triggers.yaml, so its fire criteria are unknown; ${expiry}`;
  const missing = f.fireCriteria.filter((c) => !c.met).map((c) => `${c.count} of ${c.needed} ${c.eventTypes.join(' ')}`);
  return `fire criteria not met (${missing.join('; ') || 'none defined'}); ${expiry}`;
}
