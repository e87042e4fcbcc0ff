/**
 * Operations on instances (spec §8.1): a notigen template played for one instance of the
 * simulated region, so that an instance is created once and then rebooted, resized, rebuilt,
 * snapshotted… and deleted over its life, every notification carrying that instance's identity
 * (id, tenant, user, names, host) and its current launched_at.
 *
 * Each template is classified once (classifyTemplates): creates (`compute.instance.create.start_*`),
 * deletes (any template with a `compute.instance.delete.end`, so resize.confirm.start_12, which
 * confirms and then deletes, is one), eod_exists, and updates (the rest). delete.start_7 is an
 * update: a delete that failed (no delete.end; Nova's wrap_exception sent terminate_instance at
 * ERROR) and left the instance in `error`, which can then only be deleted. For each template we
 * find the placeholders of payload.instance_id and user_id and the DT placeholders of the
 * launched_at the instance had before the operation, so they can be set to the instance's own.
 *
 * An instance also keeps its flavor and image from one operation to the next: in each payload
 * of an operation, a flavor field (instance_type_id, memory_mb…) or image_meta entry that has
 * the value the template's first payload has takes the instance's value instead, so only what
 * the operation itself changes (a resize's new flavor, a rebuild's image) changes it. The usage
 * audit compares these between the `.exists` and the last rebuild/resize/rescue.
 *
 * Two corrections to what the captured templates say, so that the traffic is what Nova sends:
 *  - `compute.instance.exists.verified` is dropped: it is StackTach v2's verifier output,
 *    captured alongside Nova's notifications (upstream's pump_from_stv2 skipped it too);
 *  - `payload.audit_period_beginning` is the start of the UTC day of the notification, as Nova
 *    sets it (daily audit period, current period). The templates keep the midnight of the day
 *    they were captured on as an offset from the operation's start, which after instantiation
 *    at another time of day is not a midnight, and would file mid-operation `.exists` into the
 *    wrong day's stream.
 */
import type { Notification } from '../shared/amqp/oslo.js';
import { DateTime } from '../shared/time.js';
import { instantiate, namedValue, uuid4, type Random, type Template } from './templates.js';

export type OperationKind = 'create' | 'update' | 'delete';

export interface OperationTemplate {
  readonly template: Template;
  readonly kind: OperationKind;
  /** Placeholder of payload.instance_id, e.g. `UUID_1`. */
  readonly instanceIdKey: string;
  /** Placeholder of payload.user_id: `user_id`, or `XUUID_1` where the captured id was hex. */
  readonly userIdKey: string;
  /** DT placeholders holding the launched_at the instance had when the operation started. */
  readonly launchedAtKeys: readonly string[];
  /** Offset of the earliest timestamp, µs: the operation starts when it is scheduled. */
  readonly firstOffsetMicros: number;
  /** A create that ends with `compute.instance.create.end`: the instance ends up launched. */
  readonly launches: boolean;
}

export interface TemplateSet {
  readonly creates: readonly OperationTemplate[];
  readonly updates: readonly OperationTemplate[];
  readonly deletes: readonly OperationTemplate[];
  readonly eod: OperationTemplate;
}

/** The named placeholders that are an instance's identity, the same in all its notifications. */
const IDENTITY_KEYS = ['tenant_id', 'user_id', 'display_name', 'host', 'hostname', 'node', 'reservation_id'] as const;

const VERIFIED = 'compute.instance.exists.verified';
const CREATE_END = 'compute.instance.create.end';
const DT_PLACEHOLDER = /^\[\[\[\[(DT_\d+)\]\]\]\]$/;
const ANY_PLACEHOLDER = /^\[\[\[\[([A-Za-z0-9_]+)\]\]\]\]$/;

/**
 * Sorts templates by role. Throws an Error naming the template when one has no
 * payload.instance_id placeholder, or when there is no eod_exists, create, update or delete
 * template (the generator needs one of each).
 */
export function classifyTemplates(templates: readonly Template[]): TemplateSet {
  const creates: OperationTemplate[] = [];
  const updates: OperationTemplate[] = [];
  const deletes: OperationTemplate[] = [];
  let eod: OperationTemplate | undefined;
  for (const template of templates) {
    const notifications = JSON.parse(template.text) as Notification[];
    const payloads = notifications.map((n) => n['payload']).filter(isInstancePayload);
    const idText = payloads.map((p) => p['instance_id']).find((v) => typeof v === 'string');
    const instanceIdKey = typeof idText === 'string' ? ANY_PLACEHOLDER.exec(idText)?.[1] : undefined;
    if (instanceIdKey === undefined) throw new Error(`notigen template ${template.name}: no payload.instance_id placeholder`);
    const userText = payloads.map((p) => p['user_id']).find((v) => typeof v === 'string');
    const userIdKey = (typeof userText === 'string' ? ANY_PLACEHOLDER.exec(userText)?.[1] : undefined) ?? 'user_id';
    const offsetOf = (key: string): number => offsetMicros(template.timeMap[`[[[[${key}]]]]`] ?? [0, 0, 0]);
    const launchedKeys = payloads.map((p) => DT_PLACEHOLDER.exec(String(p['launched_at'] ?? ''))?.[1]);
    const firstLaunched = launchedKeys.find((k) => k !== undefined);
    const launchedAtKeys =
      firstLaunched === undefined ? [] : [...new Set(launchedKeys.filter((k): k is string => k !== undefined && offsetOf(k) === offsetOf(firstLaunched)))];
    const firstOffsetMicros = Math.min(
      ...notifications.map((n) => {
        const key = DT_PLACEHOLDER.exec(String(n['timestamp']))?.[1];
        return key === undefined ? 0 : offsetOf(key);
      }),
    );
    const eventTypes = notifications.map((n) => n['event_type']);
    const kind: OperationKind =
      template.operation === 'compute.instance.create.start' ? 'create' : eventTypes.includes('compute.instance.delete.end') ? 'delete' : 'update';
    const info: OperationTemplate = {
      template,
      kind,
      instanceIdKey,
      userIdKey,
      launchedAtKeys: kind === 'create' ? [] : launchedAtKeys,
      firstOffsetMicros,
      launches: kind === 'create' && eventTypes.includes(CREATE_END),
    };
    if (template.name === 'eod_exists') eod = info;
    else if (kind === 'create') creates.push(info);
    else if (kind === 'delete') deletes.push(info);
    else updates.push(info);
  }
  if (!eod) throw new Error('notigen templates: no eod_exists.json');
  for (const [what, list] of [['create', creates], ['update', updates], ['delete', deletes]] as const) {
    if (list.length === 0) throw new Error(`notigen templates: no ${what} template`);
  }
  return { creates, updates, deletes, eod };
}

/** An instance of the simulated region. Mutable: operations update it. */
export interface Instance {
  readonly id: string;
  readonly cell: string;
  /** IDENTITY_KEYS → value. */
  readonly identity: Readonly<Record<string, string>>;
  /** When it was first launched; null while it never was (a failed create): never audited. */
  launchedAt: DateTime | null;
  /** launched_at as its notifications carry it now ('' before the first launch). */
  launchedAtText: string;
  /** When it is (or will be, once its delete operation gets there) deleted. */
  deletedAt: DateTime | null;
  /** deleted_at as its delete notification carries it. */
  deletedAtText: string;
  /** A delete operation has been scheduled: no further operations. */
  deleting: boolean;
  /** Time of the last notification of its latest operation. */
  busyUntil: DateTime;
  /** Its full instance payload before its latest operation ({} before its create). */
  settled: Readonly<Record<string, unknown>>;
  /** The full instance payloads of its latest operation, in time order. */
  timeline: readonly TimedPayload[];
}

export interface TimedPayload {
  readonly time: DateTime;
  readonly payload: Readonly<Record<string, unknown>>;
}

/** The instance's payload as its last notification before `time` had it. */
function payloadAt(instance: Instance, time: DateTime): Readonly<Record<string, unknown>> {
  return instance.timeline.findLast((t) => t.time.isBefore(time))?.payload ?? instance.settled;
}

export interface TimedNotification {
  readonly time: DateTime;
  readonly notification: Notification;
}

/**
 * Plays the create template `op` at `start` (its first notification's time) for a new instance
 * of `cell` with a fresh id and identity. The instance is launched if the create ends with a
 * create.end: at the launched_at that carries, or at the create.end's time when it carries none
 * (create_23 was captured that way, with state `building`; Nova's database had the launch).
 * create_65 fails (create.error three times): never launched, never audited, only deleted.
 */
export function playCreate(op: OperationTemplate, start: DateTime, random: Random, cell: string): { instance: Instance; notifications: TimedNotification[] } {
  const id = uuid4(random);
  const identity: Record<string, string> = {};
  for (const key of IDENTITY_KEYS) identity[key] = namedValue(key, random)!;
  const notifications = play(op, start, random, id, identity, {});
  const timeline = timelineOf(notifications);
  const createEnd = notifications.findLast((n) => n.notification['event_type'] === CREATE_END);
  const launchedText = createEnd ? stringField(timeline.at(-1)?.payload ?? {}, 'launched_at') || createEnd.time.toString() : '';
  const instance: Instance = {
    id,
    cell,
    identity,
    launchedAt: launchedText === '' ? null : DateTime.parse(launchedText),
    launchedAtText: launchedText,
    deletedAt: null,
    deletedAtText: '',
    deleting: false,
    busyUntil: notifications.at(-1)?.time ?? start,
    settled: {},
    timeline,
  };
  return { instance, notifications };
}

/**
 * Plays the update or delete template `op` at `start` on `instance`, with the instance's id,
 * identity and current launched_at, and updates it: its payloads, a new launched_at (rebuild,
 * resize, rescue), busyUntil, and for a delete its deletion time (the last deleted_at sent,
 * else the operation's last notification).
 */
export function playOperation(op: OperationTemplate, start: DateTime, random: Random, instance: Instance): TimedNotification[] {
  const launched: Record<string, string> = {};
  for (const key of op.launchedAtKeys) launched[key] = instance.launchedAtText;
  const notifications = play(op, start, random, instance.id, instance.identity, launched);
  const end = notifications.at(-1)?.time ?? start;
  instance.settled = instance.timeline.at(-1)?.payload ?? instance.settled;
  instance.timeline = timelineOf(notifications);
  keepFlavorAndImage(instance.timeline, instance.settled);
  const launchedText = stringField(instance.timeline.at(-1)?.payload ?? {}, 'launched_at');
  if (launchedText !== '') instance.launchedAtText = launchedText;
  instance.busyUntil = end;
  if (op.kind === 'delete') {
    const deletedText = instance.timeline.map((t) => stringField(t.payload, 'deleted_at')).findLast((d) => d !== '');
    instance.deleting = true;
    instance.deletedAt = deletedText ? DateTime.parse(deletedText) : end;
    instance.deletedAtText = deletedText ?? end.toString();
  }
  return notifications;
}

/**
 * The end-of-day `compute.instance.exists` of `instance` for the UTC day that ends at
 * `midnight`, sent at `at` (after midnight), as Nova's usage audit sends it: the fields of the
 * eod_exists template filled from the instance's payload as its last notification before
 * midnight had it (flavor, image, state, launched_at…: what the usage audit compares),
 * audit_period_beginning/ending = the day's bounds, and, when it was deleted during the day,
 * state `deleted` with its deleted_at as terminated_at and deleted_at.
 */
export function endOfDayExists(eod: OperationTemplate, instance: Instance, midnight: DateTime, at: DateTime, random: Random): TimedNotification {
  const named = { ...instance.identity, [eod.instanceIdKey]: instance.id, [eod.userIdKey]: instance.identity['user_id']! };
  const [exists] = instantiate(eod.template, at.plusMicros(-eod.firstOffsetMicros), random, { named });
  const payload = exists!['payload'] as Record<string, unknown>;
  const current = payloadAt(instance, midnight);
  for (const key of Object.keys(payload)) {
    if (key !== 'bandwidth' && key !== 'audit_period_beginning' && key !== 'audit_period_ending' && key in current) payload[key] = current[key];
  }
  const deleted = instance.deletedAt !== null && instance.deletedAt.isBefore(midnight);
  Object.assign(payload, {
    launched_at: stringField(current, 'launched_at') || instance.launchedAtText,
    audit_period_beginning: midnight.plusSeconds(-86_400).toString(),
    audit_period_ending: midnight.toString(),
    state_description: '',
    ...(deleted
      ? { state: 'deleted', deleted_at: instance.deletedAtText, terminated_at: instance.deletedAtText }
      : { state: current['state'] ?? 'active', deleted_at: '', terminated_at: '' }),
  });
  return { time: at, notification: exists! };
}

function play(op: OperationTemplate, start: DateTime, random: Random, id: string, identity: Readonly<Record<string, string>>, extra: Record<string, string>): TimedNotification[] {
  const named = { ...identity, ...extra, [op.instanceIdKey]: id, [op.userIdKey]: identity['user_id']! };
  return timed(instantiate(op.template, start.plusMicros(-op.firstOffsetMicros), random, { named }));
}

/** Payload fields of an instance's flavor, kept across operations (see the header). */
const FLAVOR_KEYS = ['instance_type_id', 'instance_type', 'instance_flavor_id', 'memory_mb', 'vcpus', 'root_gb', 'disk_gb', 'ephemeral_gb', 'os_type', 'architecture'];

/** In every payload, what equals the operation's starting value takes the instance's own value. */
function keepFlavorAndImage(timeline: readonly TimedPayload[], own: Readonly<Record<string, unknown>>): void {
  const first = timeline[0]?.payload;
  if (!first) return;
  const startValues = new Map(FLAVOR_KEYS.filter((k) => k in first).map((k) => [k, JSON.stringify(first[k])]));
  const firstMeta = asObject(first['image_meta']);
  const startMeta = new Map(Object.entries(firstMeta ?? {}).map(([k, v]) => [k, JSON.stringify(v)]));
  const ownMeta = asObject(own['image_meta']);
  for (const { payload } of timeline) {
    const p = payload as Record<string, unknown>;
    for (const [key, value] of startValues) if (key in p && key in own && JSON.stringify(p[key]) === value) p[key] = own[key];
    const meta = asObject(p['image_meta']);
    if (!meta || !ownMeta) continue;
    for (const key of Object.keys(meta)) if (key in ownMeta && JSON.stringify(meta[key]) === startMeta.get(key)) meta[key] = ownMeta[key];
  }
}

function asObject(value: unknown): Record<string, unknown> | undefined {
  return value !== null && typeof value === 'object' && !Array.isArray(value) ? (value as Record<string, unknown>) : undefined;
}

function timelineOf(notifications: readonly TimedNotification[]): TimedPayload[] {
  return notifications.flatMap(({ time, notification }) => {
    const payload = notification['payload'];
    return isInstancePayload(payload) ? [{ time, payload }] : [];
  });
}

/** Drops StackTach's own events, sets Nova's audit period start, and sorts by time (stable). */
function timed(notifications: Notification[]): TimedNotification[] {
  return notifications
    .filter((n) => n['event_type'] !== VERIFIED)
    .map((notification) => {
      const time = DateTime.parse(String(notification['timestamp']));
      const payload = notification['payload'];
      if (isInstancePayload(payload) && typeof payload['audit_period_beginning'] === 'string' && payload['audit_period_beginning'] !== '') {
        payload['audit_period_beginning'] = time.startOfDay().toString();
      }
      return { time, notification };
    })
    .sort((a, b) => a.time.compare(b.time));
}

function isInstancePayload(value: unknown): value is Record<string, unknown> {
  return value !== null && typeof value === 'object' && !Array.isArray(value) && 'instance_id' in value && 'state' in value;
}

function stringField(payload: Readonly<Record<string, unknown>>, key: string): string {
  const v = payload[key];
  return typeof v === 'string' ? v : '';
}

function offsetMicros([days, seconds, micros]: readonly [number, number, number]): number {
  return (days * 86_400 + seconds) * 1_000_000 + micros;
}
