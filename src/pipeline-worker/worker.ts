/**
 * The pipeline worker loop (spec §4.5): claim due streams in chunks (fire before expire), load
 * their events, run each stream's pipeline, and record each outcome (the events the handlers
 * created, and the stream's new state) as soon as it is known. Idle, it polls every `pollMs`
 * (never longer than pipeline_worker_delay), so a due stream is picked up well within a second.
 *
 * One stream runs in one pipeline at a time (invariant 12): the leases of the streams in hand
 * are renewed while they are worked on (lease-keeper.ts), and a stream is started only while
 * its lease is certainly ours. Outcomes go to the database in the order streams finish, several
 * in one transaction when they finish faster than they are written (recorder below), and only
 * for streams still held (sql/finish-streams.ts): a stream one handler fails costs that stream.
 *
 * Errors: an unknown trigger or pipeline, or a failing handler, errors that stream only. Database
 * trouble is retried with capped backoff until a forced stop; claimed streams keep their lease
 * meanwhile and, if this worker dies, the lease runs out and another worker takes them.
 *
 * stop(): claim nothing new, finish the streams in hand until the grace period ends, give the
 * rest back.
 */
import type { Pool } from 'mysql2/promise';
import type { Logger } from 'pino';
import { backoffMs, sleep } from '../shared/backoff.js';
import { classifyDbError, describeDbError } from '../shared/db/errors.js';
import { retryTransient } from '../shared/db/retry.js';
import { withTransaction } from '../shared/db/sql.js';
import { toError } from '../shared/errors.js';
import type { Event } from '../shared/event.js';
import { prepareEvent, recordCounters } from '../shared/store/batch.js';
import { EventTypeIds } from '../shared/store/events.js';
import { loadStreamEvents } from '../shared/store/stream-events.js';
import type { DateTime } from '../shared/time.js';
import type { PipelineClock } from '../shared/time-sync.js';
import { TriggerDebugger, type TriggerDefinition } from '../shared/triggers/index.js';
import { LeaseKeeper } from './lease-keeper.js';
import type { Pipelines } from './pipelines.js';
import { LeaseReaper } from './reaper.js';
import { runPipeline } from './runner.js';
import { claimDueStreams, type ClaimedStream, type ClaimKind, type ClaimStrategy } from './sql/claim-streams.js';
import { finishStreams, releaseStreams, type Outcome } from './sql/finish-streams.js';

export interface WorkerOptions {
  readonly pool: Pool;
  readonly triggers: readonly TriggerDefinition[];
  readonly pipelines: Pipelines;
  readonly clock: PipelineClock;
  readonly log: Logger;
  readonly owner: string;
  /** Streams per pass (pipeline_worker_batch_size). */
  readonly batchSize: number;
  /** Streams per claim. */
  readonly chunkSize: number;
  readonly pollMs: number;
  readonly leaseSeconds: number;
  readonly maxAttempts: number;
  /** Automatic retries of a failing pipeline (0: none, as upstream), with doubling backoff. */
  readonly errorRetries: number;
  readonly errorRetryBaseSeconds: number;
  readonly purgeCompleted: boolean;
  readonly strategy: ClaimStrategy;
  readonly indexedTraits: ReadonlySet<string>;
  readonly shutdownGraceMs: number;
  /** Aborted by a second stop signal: database retries give up. */
  readonly forceSignal?: AbortSignal;
}

/** Failures of a non-transient error before a group of outcomes is narrowed down. */
const RECORD_ATTEMPTS = 5;

export interface WorkerCounts {
  loaded: number;
  fired: number;
  expired: number;
  errors: number;
  leaseExpiries: number;
  lostLeases: number;
  lostRaces: number;
}

export function emptyWorkerCounts(): WorkerCounts {
  return { loaded: 0, fired: 0, expired: 0, errors: 0, leaseExpiries: 0, lostLeases: 0, lostRaces: 0 };
}

export class PipelineWorker {
  readonly counts: WorkerCounts = emptyWorkerCounts();
  private readonly triggers: ReadonlyMap<string, TriggerDefinition>;
  private readonly unknownTrigger = new TriggerDebugger('n/a', 2);
  private readonly eventTypes: EventTypeIds;
  private readonly leases: LeaseKeeper;
  private readonly reaper: LeaseReaper;
  private readonly log: Logger;
  private stopping = false;
  private stopDeadline = Infinity;
  private readonly wake = new AbortController();
  private running: Promise<void> | null = null;
  /** Outcomes waiting to be written, and the write in progress. */
  private pending: { outcome: Outcome; now: DateTime }[] = [];
  private writing: Promise<void> | null = null;

  constructor(private readonly options: WorkerOptions) {
    this.log = options.log;
    this.triggers = new Map(options.triggers.map((t) => [t.name, t]));
    this.eventTypes = new EventTypeIds(options.pool);
    this.leases = new LeaseKeeper(options.pool, options.owner, options.leaseSeconds, options.log.child({ part: 'leases' }));
    this.reaper = new LeaseReaper(options.pool, options.leaseSeconds, options.maxAttempts, options.log.child({ part: 'reaper' }));
  }

  get debuggers(): TriggerDebugger[] {
    return [...this.options.triggers.map((t) => t.debug), this.unknownTrigger];
  }

  /** Lease renewals so far (heartbeats that reached the database). */
  get leaseRenewals(): number {
    return this.leases.renewals;
  }

  start(): Promise<void> {
    this.reaper.start();
    this.running ??= this.loop();
    return this.running;
  }

  async stop(): Promise<void> {
    this.stopping = true;
    this.stopDeadline = Date.now() + this.options.shutdownGraceMs;
    this.wake.abort();
    await this.running;
    await this.reaper.stop();
    await this.leases.stop();
  }

  private async loop(): Promise<void> {
    let failures = 0;
    while (!this.stopping) {
      try {
        this.counts.leaseExpiries += this.reaper.take();
        let done = 0;
        for (const kind of ['fire', 'expire'] as const) {
          if (!this.stopping) done += await this.pass(kind);
        }
        failures = 0;
        if (done === 0) await sleep(this.options.pollMs, this.wake.signal);
      } catch (err) {
        failures++;
        const waitMs = backoffMs(failures, 200, 10_000);
        this.log.error({ err: toError(err), failures, waitMs, class: classifyDbError(err) }, 'pipeline worker pass failed; retrying');
        await sleep(waitMs, this.wake.signal);
      }
    }
  }

  /** Claims and processes up to batchSize due streams of one kind; returns how many. */
  private async pass(kind: ClaimKind): Promise<number> {
    const o = this.options;
    let total = 0;
    while (!this.stopping && total < o.batchSize) {
      const now = await o.clock.now(this.wake.signal);
      const limit = Math.min(o.chunkSize, o.batchSize - total);
      const { claimed, lostRaces } = await claimDueStreams(o.pool, { kind, now, limit, owner: o.owner, leaseSeconds: o.leaseSeconds, strategy: o.strategy });
      this.counts.lostRaces += lostRaces;
      for (let i = 0; i < lostRaces; i++) this.unknownTrigger.bump('Locked');
      if (claimed.length === 0) break;
      total += claimed.length;
      this.counts.loaded += claimed.length;
      this.leases.hold(claimed.map((s) => s.id));
      await this.process(claimed, now);
      if (claimed.length < limit) break;
    }
    return total;
  }

  private async process(claimed: readonly ClaimedStream[], now: DateTime): Promise<void> {
    const events = await this.retry('load stream events', () => loadStreamEvents(this.options.pool, claimed.map((s) => s.id)));
    const unprocessed: ClaimedStream[] = [];
    for (const stream of claimed) {
      if (this.stopping && Date.now() > this.stopDeadline) {
        unprocessed.push(stream);
        continue;
      }
      if (!this.leases.mayStart(stream.id)) {
        this.counts.lostLeases++;
        this.log.warn({ streamId: stream.id }, 'not started: its lease may have run out (renewals failed); the reaper returns it for retry');
        continue;
      }
      this.enqueue(await this.runOne(stream, events.get(stream.id) ?? [], now), now);
    }
    await this.flushOutcomes();
    if (unprocessed.length > 0) {
      await this.retry('release streams', () => releaseStreams(this.options.pool, unprocessed, this.options.owner));
      this.leases.release(unprocessed.map((s) => s.id));
      this.log.info({ streams: unprocessed.length }, 'grace period over: streams given back unprocessed');
    }
  }

  private async runOne(stream: ClaimedStream, events: Event[], now: DateTime): Promise<Outcome> {
    const o = this.options;
    const trigger = this.triggers.get(stream.name);
    const fire = stream.kind === 'fire';
    const log = this.log.child({ streamId: stream.id, trigger: stream.name });
    const fail = (error: string, debug: TriggerDebugger, counter: string): Outcome => {
      debug.bump(counter);
      const retry = stream.attempts <= o.errorRetries;
      log.warn({ kind: stream.kind, attempts: stream.attempts, retry }, error);
      return { stream, ok: false, error, retryAfterSeconds: retry ? o.errorRetryBaseSeconds * 2 ** (stream.attempts - 1) : null };
    };
    if (!trigger) return fail(`Unknown trigger def '${stream.name}'`, this.unknownTrigger, `Unknown trigger def '${stream.name}'`);
    const pipelineName = fire ? trigger.firePipeline : trigger.expirePipeline;
    if (pipelineName === null) {
      trigger.debug.bump(`No ${stream.kind} pipeline for '${stream.name}'`);
      return { stream, ok: true, newEvents: [] };
    }
    const specs = o.pipelines.get(pipelineName);
    if (!specs) return fail(`Unknown pipeline '${pipelineName}'`, trigger.debug, `Unknown pipeline '${pipelineName}'`);
    const result = await runPipeline(stream, events, specs, log, () => now);
    if (!result.ok) return fail(result.error, trigger.debug, 'Pipeline error');
    trigger.debug.bump('Commit successful');
    try {
      return { stream, ok: true, newEvents: result.newEvents.map((e) => prepareEvent(o.triggers, e, now)) };
    } catch (err) {
      return fail(`handler events could not be filed: ${toError(err).message}`, trigger.debug, 'Pipeline error');
    }
  }

  /** Queues an outcome; the writer records it (with whatever else finished meanwhile). */
  private enqueue(outcome: Outcome, now: DateTime): void {
    this.pending.push({ outcome, now });
    this.writing ??= this.writeOutcomes().finally(() => {
      this.writing = null;
    });
  }

  private async flushOutcomes(): Promise<void> {
    while (this.writing) await this.writing;
  }

  private async writeOutcomes(): Promise<void> {
    while (this.pending.length > 0) {
      const group = this.pending.splice(0);
      try {
        await this.writeGroup(
          group.map((g) => g.outcome),
          group.at(-1)!.now,
        );
      } catch (err) {
        // Only a forced stop gets here: the leases run out and the streams run again.
        this.log.error({ err: toError(err), streams: group.length }, 'outcomes not recorded (forced stop); the streams run again after their lease');
      }
      this.leases.release(group.map((g) => g.outcome.stream.id));
    }
  }

  /**
   * Records outcomes, retrying database trouble until it works (or a forced stop). An error
   * that is not transient and persists is narrowed down: the group is recorded stream by stream,
   * and a stream whose results still cannot be recorded goes to error with the reason, without
   * its new events, so one bad handler result costs one stream.
   */
  private async writeGroup(outcomes: readonly Outcome[], now: DateTime): Promise<void> {
    let group = outcomes;
    let stubborn = 0;
    for (let attempt = 0; ; attempt++) {
      try {
        await this.record(group, now);
        return;
      } catch (err) {
        if (this.options.forceSignal?.aborted) throw err;
        const cls = classifyDbError(err);
        const transient = cls === 'transient' || cls === 'conflict';
        if (!transient && ++stubborn >= RECORD_ATTEMPTS) {
          if (group.length > 1) {
            for (const one of group) await this.writeGroup([one], now);
            return;
          }
          const [only] = group;
          if (only?.ok) {
            group = [{ stream: only.stream, ok: false, error: `results could not be recorded: ${describeDbError(err)}`, retryAfterSeconds: null }];
            stubborn = 0;
            continue;
          }
        }
        const waitMs = backoffMs(attempt, 200, 10_000);
        this.log.warn({ err: toError(err), attempt, waitMs, streams: group.length, class: cls }, `recording pipeline outcomes failed (${describeDbError(err)}); retrying`);
        await sleep(waitMs, this.options.forceSignal);
      }
    }
  }

  private async record(outcomes: readonly Outcome[], now: DateTime): Promise<void> {
    const o = this.options;
    const newEvents = outcomes.flatMap((x) => (x.ok ? x.newEvents : []));
    const typeIds = await this.eventTypes.resolve(newEvents.map((p) => p.event.eventType));
    const result = await withTransaction(o.pool, (conn) => finishStreams(conn, outcomes, { owner: o.owner, purgeCompleted: o.purgeCompleted, typeIds, indexedTraits: o.indexedTraits }));
    if (result.store) recordCounters(result.store.counters);
    for (const x of result.recorded) {
      const debug = this.triggers.get(x.stream.name)?.debug ?? this.unknownTrigger;
      if (!x.ok) this.counts.errors++;
      else if (x.stream.kind === 'fire') {
        this.counts.fired++;
        debug.bump('Streams fired');
      } else {
        this.counts.expired++;
        debug.bump('Streams expired');
      }
    }
    if (result.lost.length > 0) {
      this.counts.lostLeases += result.lost.length;
      this.log.warn({ streams: result.lost.map((s) => s.id), now: now.toString() }, 'lease lost before the results were recorded; results dropped, the other run counts');
    }
  }

  private retry<T>(what: string, fn: () => Promise<T>): Promise<T> {
    return retryTransient(what, fn, this.log, this.options.forceSignal);
  }
}
