/**
 * notigen's EventGenerator (spec §8.1), rebuilt as a discrete-event simulation of a Nova region.
 *
 * One min-heap, ordered by (time, insertion order), holds everything that happens:
 *  - operation ticks, every 3600 / opsPerHour s from `start` (the first one at `start`): each
 *    plays one template, pushing all its notifications at their own future times;
 *  - midnights (UTC), each scheduling that day's end-of-day `.exists`;
 *  - the notifications themselves, which are what the iterator yields.
 * Popping the heap is what moves the clock, so notifications come out in time order even when
 * operations overlap (a resize lasts hours while other instances are created and deleted).
 *
 * Which operation a tick plays (upstream's mix, with a population that stays put): 10 % of the
 * time, or when no instance is idle, a create on a new instance of a random cell; otherwise an
 * operation on a random idle instance (an instance runs one operation at a time, as upstream
 * wanted): a delete with probability (n / instances) × L / 9, n being the launched live
 * instances and L the share of create templates that launch, so that deletes balance the
 * creates that launch when n = `instances`, else an update (reboot, resize, rebuild, rescue,
 * snapshot, power off…). An instance that was never launched (failed create) or is in error
 * (a failed delete) can only be deleted. The region starts with `instances` running
 * instances, launched up to 30 days before `start` (their creates are not sent: they predate
 * the run).
 *
 * End-of-day `.exists` (Nova's usage audit): at each midnight M, for the day D = [M − 1 day, M),
 * one `compute.instance.exists` per instance in use during D — launched before M and not
 * deleted by D's start (nova's instance_get_active_by_window) — sent at a random time within
 * 10 minutes after M, with audit_period_beginning = D and audit_period_ending = M (Python str(),
 * `YYYY-MM-DD 00:00:00`), and the instance's payload as it was at M (see endOfDayExists). The
 * set of instances is the region's, kept across days; upstream cleared it after each midnight
 * so that an instance untouched for a day never had an `.exists` again (spec §10.18, fixed),
 * and read the template's third time offset as milliseconds (fixed in templates.ts).
 *
 * Everything random comes from one seeded source, so the same options give the same
 * notifications, message_ids and timestamps included.
 */
import { Heap } from 'heap-js';
import type { Notification } from '../shared/amqp/oslo.js';
import { DateTime } from '../shared/time.js';
import { classifyTemplates, endOfDayExists, playCreate, playOperation, type Instance, type TemplateSet } from './operations.js';
import { seededRandom, type Random, type Template } from './templates.js';

export interface GeneratorOptions {
  /** From loadTemplates(dir): operation templates and eod_exists.json. */
  readonly templates: readonly Template[];
  /** Seed of every random choice (mulberry32). */
  readonly seed: number;
  /** Time of the first operation; the simulated clock starts here. */
  readonly start: DateTime;
  /** Operations (template plays) per hour of simulated time; > 0. Default 60. */
  readonly opsPerHour?: number;
  /** Cell names; each instance belongs to one, drawn at its creation. Default ['local']. */
  readonly cells?: readonly string[];
  /** Running instances at the start, and the population the create/delete mix keeps. Default 100. */
  readonly instances?: number;
  /** Stop before the first notification at or after this time. */
  readonly end?: DateTime;
  /** Stop after this many notifications. */
  readonly count?: number;
}

/** A notification, when it happens (its timestamp) and the cell whose broker gets it. */
export interface GeneratedNotification {
  readonly cell: string;
  readonly time: DateTime;
  readonly notification: Notification;
}

export interface GeneratorStats {
  /** Notifications yielded so far. */
  notifications: number;
  operations: number;
  creates: number;
  deletes: number;
  /** End-of-day `.exists` scheduled. */
  exists: number;
  /** Instances neither deleted nor being deleted. */
  liveInstances: number;
  /** The simulated clock: time of the last notification yielded. */
  clock: DateTime;
}

type Item =
  | { readonly kind: 'tick'; readonly time: DateTime; readonly seq: number; readonly n: number }
  | { readonly kind: 'midnight'; readonly time: DateTime; readonly seq: number }
  | { readonly kind: 'notification'; readonly time: DateTime; readonly seq: number; readonly cell: string; readonly notification: Notification };

const CREATE_SHARE = 0.1;
const EXISTS_WINDOW_MICROS = 600 * 1_000_000;
const MAX_AGE_MICROS = 30 * 86_400 * 1_000_000;
const DAY_SECONDS = 86_400;

/** Validates the options (RangeError naming the bad one) and returns the generator. */
export function createGenerator(options: GeneratorOptions): NotificationGenerator {
  return new NotificationGenerator(options);
}

/**
 * Yields GeneratedNotification in time order, forever unless `end` or `count` is set. Not
 * restartable: iterate it once.
 */
export class NotificationGenerator implements IterableIterator<GeneratedNotification> {
  readonly stats: GeneratorStats;
  private readonly random: Random;
  private readonly set: TemplateSet;
  private readonly cells: readonly string[];
  private readonly target: number;
  private readonly tickMicros: number;
  /** Share of operations on a launched instance that delete it, when `instances` are launched. */
  private readonly deleteShare: number;
  private readonly heap = new Heap<Item>((a, b) => a.time.compare(b.time) || a.seq - b.seq);
  private seq = 0;
  private instances: Instance[] = [];

  /** Time of the first operation. */
  readonly start: DateTime;

  constructor(private readonly options: GeneratorOptions) {
    this.start = options.start;
    const opsPerHour = options.opsPerHour ?? 60;
    if (!(opsPerHour > 0) || !Number.isFinite(opsPerHour)) throw new RangeError(`opsPerHour must be a positive number, got ${opsPerHour}`);
    this.target = options.instances ?? 100;
    if (!Number.isSafeInteger(this.target) || this.target < 1) throw new RangeError(`instances must be a positive integer, got ${this.target}`);
    this.cells = options.cells ?? ['local'];
    if (this.cells.length === 0) throw new RangeError('cells must name at least one cell');
    if (options.count !== undefined && (!Number.isSafeInteger(options.count) || options.count < 0)) throw new RangeError(`count must be a non-negative integer, got ${options.count}`);
    this.tickMicros = 3_600_000_000 / opsPerHour;
    this.random = seededRandom(options.seed);
    this.set = classifyTemplates(options.templates);
    this.deleteShare = (CREATE_SHARE / (1 - CREATE_SHARE)) * (this.set.creates.filter((t) => t.launches).length / this.set.creates.length);
    this.stats = { notifications: 0, operations: 0, creates: 0, deletes: 0, exists: 0, liveInstances: 0, clock: options.start };
    this.populate();
    this.push({ kind: 'tick', time: options.start, seq: 0, n: 0 });
    this.push({ kind: 'midnight', time: options.start.startOfDay().plusSeconds(DAY_SECONDS), seq: 0 });
  }

  [Symbol.iterator](): this {
    return this;
  }

  next(): IteratorResult<GeneratedNotification> {
    const { end, count } = this.options;
    if (count !== undefined && this.stats.notifications >= count) return { done: true, value: undefined };
    for (;;) {
      const item = this.heap.pop()!; // never empty: a tick and a midnight are always pending
      if (item.kind === 'tick') this.tick(item);
      else if (item.kind === 'midnight') this.midnight(item.time);
      else {
        if (end !== undefined && !item.time.isBefore(end)) {
          this.heap.push(item);
          return { done: true, value: undefined };
        }
        this.stats.notifications++;
        this.stats.clock = item.time;
        return { done: false, value: { cell: item.cell, time: item.time, notification: item.notification } };
      }
    }
  }

  private push(item: Item): void {
    this.heap.push({ ...item, seq: this.seq++ });
  }

  /** The running instances of the start, launched up to 30 days before it. */
  private populate(): void {
    const launching = this.set.creates.filter((t) => t.launches);
    const creates = launching.length > 0 ? launching : this.set.creates;
    for (let i = 0; i < this.target; i++) {
      const launch = this.options.start.plusMicros(-1 - Math.floor(this.random() * MAX_AGE_MICROS));
      const { instance } = playCreate(this.pick(creates), launch, this.random, this.pick(this.cells));
      instance.busyUntil = launch;
      this.instances.push(instance);
    }
    this.stats.liveInstances = this.instances.length;
  }

  private tick(item: Extract<Item, { kind: 'tick' }>): void {
    const now = item.time;
    this.push({ kind: 'tick', time: this.options.start.plusMicros(Math.round((item.n + 1) * this.tickMicros)), seq: 0, n: item.n + 1 });
    this.stats.operations++;
    const live = this.instances.filter((i) => !i.deleting);
    const idle = live.filter((i) => !i.busyUntil.isAfter(now));
    if (idle.length === 0 || this.random() < CREATE_SHARE) {
      const { instance, notifications } = playCreate(this.pick(this.set.creates), now, this.random, this.pick(this.cells));
      this.instances.push(instance);
      this.stats.creates++;
      this.stats.liveInstances = live.length + 1;
      this.schedule(instance.cell, notifications);
      return;
    }
    const instance = this.pick(idle);
    const launched = live.filter((i) => i.launchedAt !== null).length;
    const broken = instance.launchedAt === null || instance.timeline.at(-1)?.payload['state'] === 'error';
    const remove = broken || this.random() < Math.min(1, (this.deleteShare * launched) / this.target);
    const op = this.pick(remove ? this.set.deletes : this.set.updates);
    this.schedule(instance.cell, playOperation(op, now, this.random, instance));
    if (remove) {
      this.stats.deletes++;
      this.stats.liveInstances = live.length - 1;
    }
  }

  /** End-of-day `.exists` for the day that ends at `midnight`; forgets instances deleted by then. */
  private midnight(midnight: DateTime): void {
    this.push({ kind: 'midnight', time: midnight.plusSeconds(DAY_SECONDS), seq: 0 });
    const dayStart = midnight.plusSeconds(-DAY_SECONDS);
    for (const instance of this.instances) {
      const inUse = instance.launchedAt !== null && instance.launchedAt.isBefore(midnight) && (instance.deletedAt === null || instance.deletedAt.isAfter(dayStart));
      if (!inUse) continue;
      const at = midnight.plusMicros(1 + Math.floor(this.random() * EXISTS_WINDOW_MICROS));
      const exists = endOfDayExists(this.set.eod, instance, midnight, at, this.random);
      this.schedule(instance.cell, [exists]);
      this.stats.exists++;
    }
    this.instances = this.instances.filter((i) => i.deletedAt === null || i.deletedAt.isAfter(midnight));
  }

  private schedule(cell: string, notifications: readonly { time: DateTime; notification: Notification }[]): void {
    for (const { time, notification } of notifications) this.push({ kind: 'notification', time, seq: 0, cell, notification });
  }

  private pick<T>(list: readonly T[]): T {
    return list[Math.floor(this.random() * list.length)]!;
  }
}

