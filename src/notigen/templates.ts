/**
 * notigen templates (spec §8.1): real, scrubbed Nova notification sequences with placeholders,
 * one file per operation (`<operation>_<N>.json`). Element 0 holds the hints (time_map:
 * DT placeholder → [days, seconds, microseconds] offsets); elements 1.. are notifications.
 *
 * Instantiating one gives a fresh instance lifecycle at a chosen time: UUIDs, addresses and
 * names are drawn from the random source, datetimes are `now` + their offset. Two deliberate
 * differences from upstream notigen: the third time_map value is read as microseconds (upstream
 * read milliseconds, spec §10.18), and publisher_id has Nova's real shape `compute.<host>`.
 */
import { readdirSync, readFileSync } from 'node:fs';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import type { Notification } from '../shared/amqp/oslo.js';
import type { DateTime } from '../shared/time.js';

export interface Template {
  /** File name without .json, e.g. compute.instance.create.start_24 */
  readonly name: string;
  /** The part before the first `_`, e.g. compute.instance.create.start */
  readonly operation: string;
  readonly timeMap: Readonly<Record<string, readonly [number, number, number]>>;
  /** JSON text of the notifications, placeholders in place. */
  readonly text: string;
}

export type Random = () => number;

/** A small seeded generator (mulberry32), so benchmarks and tests are reproducible. */
export function seededRandom(seed: number): Random {
  let a = seed >>> 0;
  return () => {
    a = (a + 0x6d2b79f5) >>> 0;
    let t = a;
    t = Math.imul(t ^ (t >>> 15), t | 1);
    t ^= t + Math.imul(t ^ (t >>> 7), t | 61);
    return ((t ^ (t >>> 14)) >>> 0) / 4294967296;
  };
}

/** The 21 templates upstream's notigen shipped (fixtures/stacktach-upstream/notigen-templates). */
export const DEFAULT_TEMPLATE_DIR = fileURLToPath(new URL('../../fixtures/stacktach-upstream/notigen-templates/', import.meta.url));

/**
 * Every `*.json` of `dir`, in file-name order. Throws (ENOENT, JSON SyntaxError) when the
 * directory or a file cannot be read.
 */
export function loadTemplates(dir: string): Template[] {
  return readdirSync(dir)
    .filter((f) => f.endsWith('.json'))
    .sort()
    .map((f) => {
      const parsed = JSON.parse(readFileSync(join(dir, f), 'utf8')) as unknown[];
      const hints = parsed[0] as { time_map: Record<string, [number, number, number]> };
      const name = f.replace(/\.json$/, '');
      return { name, operation: name.split('_')[0]!, timeMap: hints.time_map, text: JSON.stringify(parsed.slice(1)) };
    });
}

const PLACEHOLDER = /\[\[\[\[([A-Za-z0-9_]+)\]\]\]\]/g;

/**
 * One lifecycle of the template at `now`, sorted by timestamp. `overrides` fixes named values
 * (e.g. an instance's tenant_id) and payload fields of every notification (e.g. instance_id).
 */
export function instantiate(
  template: Template,
  now: DateTime,
  random: Random,
  overrides: { named?: Record<string, string>; payload?: Record<string, unknown> } = {},
): Notification[] {
  const values = new Map<string, string>();
  const host = overrides.named?.['host'] ?? namedValue('host', random)!;
  const valueOf = (key: string): string => {
    let v = values.get(key);
    if (v !== undefined) return v;
    v = overrides.named?.[key] ?? generate(key, template, now, random, host);
    values.set(key, v);
    return v;
  };
  const text = template.text.replace(PLACEHOLDER, (_m, key: string) => escapeJsonString(valueOf(key)));
  const notifications = JSON.parse(text) as Notification[];
  if (overrides.payload) {
    for (const n of notifications) {
      const payload = n['payload'];
      if (payload && typeof payload === 'object') Object.assign(payload, overrides.payload);
    }
  }
  return notifications.sort((a, b) => compareText(String(a['timestamp']), String(b['timestamp'])));
}

function generate(key: string, template: Template, now: DateTime, random: Random, host: string): string {
  if (key.startsWith('DT_')) {
    const offset = template.timeMap[`[[[[${key}]]]]`] ?? [0, 0, 0];
    return now.plusSeconds(offset[0] * 86_400 + offset[1]).plusMicros(offset[2]).toString();
  }
  if (key.startsWith('UUID_')) return uuid4(random);
  if (key.startsWith('XUUID_')) return uuid4(random).replace(/-/g, '');
  if (key.startsWith('V4_')) return Array.from({ length: 4 }, () => 127 + Math.floor(random() * 127)).join('.');
  if (key.startsWith('V6_')) return Array.from({ length: 8 }, () => Math.floor(random() * 65536).toString(16).padStart(4, '0')).join(':');
  if (key === 'host') return host;
  if (key === 'publisher_id') return `compute.${host}`;
  const value = namedValue(key, random);
  if (value === undefined) throw new Error(`template ${template.name}: unknown placeholder [[[[${key}]]]]`);
  return value;
}

const NAMED_PREFIX: Readonly<Record<string, string>> = {
  tenant_id: '',
  user_id: '',
  display_name: 'Instance_',
  host: 'host-',
  hostname: 'server-',
  node: 'node-',
  reservation_id: 'res-',
  image_name: 'image-',
  device_name: 'device-',
};

/**
 * A fresh value for a named placeholder (tenant_id, user_id, display_name, host, hostname,
 * node, reservation_id, image_name, device_name): a 6-digit number with the name's prefix;
 * undefined for any other name. One draw from `random`.
 */
export function namedValue(key: string, random: Random): string | undefined {
  const prefix = NAMED_PREFIX[key];
  return prefix === undefined ? undefined : `${prefix}${number6(random)}`;
}

function number6(random: Random): number {
  return 100000 + Math.floor(random() * 899999);
}

/** A random (version 4, RFC 4122 variant) UUID from four 32-bit draws of `random`. */
export function uuid4(random: Random): string {
  let h = '';
  for (let i = 0; i < 4; i++) h += Math.floor(random() * 0x1_0000_0000).toString(16).padStart(8, '0');
  const variant = (8 | (parseInt(h[16]!, 16) & 3)).toString(16);
  return `${h.slice(0, 8)}-${h.slice(8, 12)}-4${h.slice(13, 16)}-${variant}${h.slice(17, 20)}-${h.slice(20)}`;
}

const PLAIN_JSON_TEXT = /^[\w .:-]*$/;

function escapeJsonString(s: string): string {
  return PLAIN_JSON_TEXT.test(s) ? s : JSON.stringify(s).slice(1, -1);
}

/** Code-unit order: timestamps are ASCII, and localeCompare is both slow and locale-dependent. */
function compareText(a: string, b: string): number {
  return a < b ? -1 : a > b ? 1 : 0;
}

/**
 * `count` notifications from random template lifecycles (eod_exists excepted), a new
 * lifecycle every `stepSeconds` from `start`, each one a fresh instance.
 */
export function generateNotifications(templates: readonly Template[], count: number, random: Random, start: DateTime, stepSeconds = 3600): Notification[] {
  const usable = templates.filter((t) => t.name !== 'eod_exists');
  const out: Notification[] = [];
  for (let now = start; out.length < count; now = now.plusSeconds(stepSeconds)) {
    const template = usable[Math.floor(random() * usable.length)]!;
    out.push(...instantiate(template, now, random).slice(0, count - out.length));
  }
  return out;
}
