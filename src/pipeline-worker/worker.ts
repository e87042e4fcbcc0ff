/**
 * The pipeline worker loop (spec §4.5): claim due streams in chunks (fire before expire), load
 * their events, run each stream's pipeline, then record the chunk's outcomes and the events the
 * handlers created in one transaction. Idle, it polls every `pollMs` (never longer than
 * pipeline_worker_delay), so a due stream is picked up well within a second.
 *
 * Errors: an unknown trigger or pipeline, or a failing handler, errors that stream only. Database
 * trouble is retried with capped backoff; claimed streams keep their lease meanwhile and, if
 * this worker dies, the lease runs out and another worker takes them (see reapExpiredLeases).
 *
 * stop(): claim nothing new, finish the streams in hand until the grace period ends, give the
 * rest back.
 */
import type { Pool } from 'mysql2/promise';
import type { Logger } from 'pino';
import { backoffMs, sleep } from '../shared/backoff.js';
import { EventTypeIds } from '../shared/store/events.js';
import { isTransientDbError } from '../shared/db/errors.js';
import { retryTransient } from '../shared/db/retry.js';
import { withTransaction } from '../shared/db/sql.js';
import { toError } from '../shared/errors.js';
import type { Event } from '../shared/event.js';
import { prepareEvent, recordCounters } from '../shared/store/batch.js';
import { DateTime } from '../shared/time.js';
import { TriggerDebugger, type TriggerDefinition } from '../shared/triggers/index.js';
import type { PipelineClock } from '../shared/time-sync.js';
import type { Pipelines } from './pipelines.js';
import { runPipeline } from './runner.js';
import { claimDueStreams, type ClaimedStream, type ClaimKind, type ClaimStrategy } from './sql/claim-streams.js';
import { finishStreams, reapExpiredLeases, releaseStreams, type Outcome } from './sql/finish-streams.js';
import { loadStreamEvents } from '../shared/store/stream-events.js';

export interface WorkerOptions {
  readonly owner: string;
  readonly batchSize: number;
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
}

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
  private readonly triggerList: readonly TriggerDefinition[];
  private readonly unknownTrigger = new TriggerDebugger('n/a', 2);
  private readonly eventTypes: EventTypeIds;
  private stopping = false;
  private stopDeadline = Infinity;
  private readonly wake = new AbortController();
  private running: Promise<void> | null = null;
  private lastReap = 0;

  constructor(
    private readonly pool: Pool,
    triggers: readonly TriggerDefinition[],
    private readonly pipelines: Pipelines,
    private readonly clock: PipelineClock,
    private readonly options: WorkerOptions,
    private readonly log: Logger,
  ) {
    this.triggers = new Map(triggers.map((t) => [t.name, t]));
    this.triggerList = triggers;
    this.eventTypes = new EventTypeIds(pool);
  }

  get debuggers(): TriggerDebugger[] {
    return [...this.triggerList.map((t) => t.debug), this.unknownTrigger];
  }

  start(): Promise<void> {
    this.running ??= this.loop();
    return this.running;
  }

  async stop(): Promise<void> {
    this.stopping = true;
    this.stopDeadline = Date.now() + this.options.shutdownGraceMs;
    this.wake.abort();
    await this.running;
  }

  private async loop(): Promise<void> {
    let failures = 0;
    while (!this.stopping) {
      try {
        await this.reapIfDue();
        let done = 0;
        for (const kind of ['fire', 'expire'] as const) {
          if (!this.stopping) done += await this.pass(kind);
        }
        failures = 0;
        if (done === 0) await sleep(this.options.pollMs, this.wake.signal);
      } catch (err) {
        failures++;
        const waitMs = backoffMs(failures, 200, 10_000);
        this.log.error({ err: toError(err), failures, waitMs, transient: isTransientDbError(err) }, 'pipeline worker pass failed; retrying');
        await sleep(waitMs, this.wake.signal);
      }
    }
  }

  private async reapIfDue(): Promise<void> {
    if (Date.now() - this.lastReap < Math.max(1000, (this.options.leaseSeconds * 1000) / 4)) return;
    this.lastReap = Date.now();
    const reaped = await reapExpiredLeases(this.pool, this.options.maxAttempts);
    if (reaped > 0) {
      this.counts.leaseExpiries += reaped;
      this.log.warn({ streams: reaped }, 'leases ran out (a worker died or stalled); streams returned for retry');
    }
  }

  /** Claims and processes up to batchSize due streams of one kind; returns how many. */
  private async pass(kind: ClaimKind): Promise<number> {
    let total = 0;
    while (!this.stopping && total < this.options.batchSize) {
      const now = await this.clock.now(this.wake.signal);
      const limit = Math.min(this.options.chunkSize, this.options.batchSize - total);
      const { claimed, lostRaces } = await claimDueStreams(this.pool, { kind, now, limit, owner: this.options.owner, leaseSeconds: this.options.leaseSeconds, strategy: this.options.strategy });
      this.counts.lostRaces += lostRaces;
      for (let i = 0; i < lostRaces; i++) this.unknownTrigger.bump('Locked');
      if (claimed.length === 0) break;
      total += claimed.length;
      this.counts.loaded += claimed.length;
      await this.process(claimed, now);
      if (claimed.length < limit) break;
    }
    return total;
  }

  private async process(claimed: readonly ClaimedStream[], now: DateTime): Promise<void> {
    const events = await retryTransient('load stream events', () => loadStreamEvents(this.pool, claimed.map((s) => s.id)), this.log);
    const outcomes: Outcome[] = [];
    let unprocessed: ClaimedStream[] = [];
    for (const [i, stream] of claimed.entries()) {
      if (this.stopping && Date.now() > this.stopDeadline) {
        unprocessed = claimed.slice(i);
        break;
      }
      outcomes.push(await this.runOne(stream, events.get(stream.id)!, now));
    }
    await this.record(outcomes, now);
    if (unprocessed.length > 0) {
      await retryTransient('release streams', () => releaseStreams(this.pool, unprocessed, this.options.owner), this.log);
      this.log.info({ streams: unprocessed.length }, 'grace period over: streams given back unprocessed');
    }
  }

  private async runOne(stream: ClaimedStream, events: Event[], now: DateTime): Promise<Outcome> {
    const trigger = this.triggers.get(stream.name);
    const fire = stream.kind === 'fire';
    const log = this.log.child({ streamId: stream.id, trigger: stream.name });
    const fail = (error: string, debug: TriggerDebugger, counter: string): Outcome => {
      debug.bump(counter);
      const retry = stream.attempts <= this.options.errorRetries;
      log.warn({ kind: stream.kind, attempts: stream.attempts, retry }, error);
      return { stream, ok: false, error, retryAfterSeconds: retry ? this.options.errorRetryBaseSeconds * 2 ** (stream.attempts - 1) : null };
    };
    if (!trigger) return fail(`Unknown trigger def '${stream.name}'`, this.unknownTrigger, `Unknown trigger def '${stream.name}'`);
    const pipelineName = fire ? trigger.firePipeline : trigger.expirePipeline;
    if (pipelineName === null) {
      trigger.debug.bump(`No ${stream.kind} pipeline for '${stream.name}'`);
      return { stream, ok: true, newEvents: [] };
    }
    const specs = this.pipelines.get(pipelineName);
    if (!specs) return fail(`Unknown pipeline '${pipelineName}'`, trigger.debug, `Unknown pipeline '${pipelineName}'`);
    const result = await runPipeline(stream, events, specs, log, () => now);
    if (!result.ok) return fail(result.error, trigger.debug, 'Pipeline error');
    trigger.debug.bump('Commit successful');
    return { stream, ok: true, newEvents: result.newEvents.map((e) => prepareEvent(this.triggerList, e, now)) };
  }

  private async record(outcomes: readonly Outcome[], now: DateTime): Promise<void> {
    if (outcomes.length === 0) return;
    const newEvents = outcomes.flatMap((o) => (o.ok ? o.newEvents : []));
    const result = await retryTransient(
      'record pipeline outcomes',
      async () => {
        const typeIds = await this.eventTypes.resolve(newEvents.map((p) => p.event.eventType));
        return withTransaction(this.pool, (conn) =>
          finishStreams(conn, outcomes, { owner: this.options.owner, purgeCompleted: this.options.purgeCompleted, typeIds, indexedTraits: this.options.indexedTraits }),
        );
      },
      this.log,
    );
    if (result.store) recordCounters(result.store.counters);
    for (const o of result.recorded) {
      const debug = this.triggers.get(o.stream.name)?.debug ?? this.unknownTrigger;
      if (!o.ok) this.counts.errors++;
      else if (o.stream.kind === 'fire') {
        this.counts.fired++;
        debug.bump('Streams fired');
      } else {
        this.counts.expired++;
        debug.bump('Streams expired');
      }
    }
    if (result.lost.length > 0) {
      this.counts.lostLeases += result.lost.length;
      this.log.warn({ streams: result.lost.map((s) => s.id), now: now.toString() }, 'lease lost before the results were recorded (run took longer than the lease); results dropped, the other run counts');
    }
  }
}
