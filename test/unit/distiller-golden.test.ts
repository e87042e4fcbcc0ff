/**
 * The distiller against upstream's recorded output (golden/distiller, see its README):
 * every filled notigen notification and every edge case, with each definitions file, with and
 * without catch-all. Event type, message id, timestamp, validity and every trait's name, type
 * and exact value must match; where upstream raised, we must raise PoisonMessageError.
 *
 * Where we deliberately differ, the case is listed in DEPARTURES with the reason. Its test
 * asserts our behaviour, checks that upstream really did something else, and checks that the
 * rest of the notification still matches upstream once the departing values are taken out.
 */
import { existsSync, readdirSync, readFileSync } from 'node:fs';
import { fileURLToPath } from 'node:url';
import { describe, expect, it } from 'vitest';
import { Distiller, isValidForStorage } from '../../src/shared/distiller/index.js';
import { parseIso8601 } from '../../src/shared/distiller/iso8601.js';
import { loads } from '../../src/shared/distiller/python-json.js';
import { PoisonMessageError } from '../../src/shared/errors.js';
import { traitTypeOf, type Event, type TraitValue } from '../../src/shared/event.js';
import { DateTime } from '../../src/shared/time.js';
import { fillTemplate, NOTIGEN_TEMPLATE_DIR } from '../helpers/notigen.js';

const GOLDEN = new URL('../../fixtures/golden/distiller/', import.meta.url);
const UPSTREAM = new URL('../../fixtures/stacktach-upstream/', import.meta.url);
/** The harness's utcnow() sentinel. */
const NOW = DateTime.of(1999, 12, 31, 23, 59, 59, 999_999);

const DEFINITIONS = {
  'winchester-etc': new URL('winchester-etc/event_definitions.yaml', UPSTREAM),
  sandbox: new URL('sandbox/event_definitions.yaml', UPSTREAM),
  'edge-defs': new URL('edge_definitions.yaml', GOLDEN),
} as const;
type DefinitionsName = keyof typeof DEFINITIONS;

type GoldenTrait = [name: string, type: string, value: unknown];
interface GoldenLine {
  message_id: string | null;
  event?: { event_type: string; message_id: string; timestamp: string; traits: GoldenTrait[] } | null;
  winchester_valid?: boolean;
  error?: string;
}

interface Departure {
  reason: string;
  definitions: readonly DefinitionsName[];
  /** We quarantine the notification for this reason … */
  poison?: RegExp;
  /** … and once these payload keys (= trait names) are removed, the rest is distilled. */
  without?: readonly string[];
  /** These traits are [type, value] here, and something else upstream. */
  traits?: Readonly<Record<string, readonly [type: string, value: unknown]>>;
}

const UPSTREAM_DEFINITIONS: readonly DefinitionsName[] = ['winchester-etc', 'sandbox'];

const DEPARTURES: Readonly<Record<string, Departure>> = {
  'int-false-bigint': {
    reason:
      '"٣" is not a Python 2 base-10 literal (Python 3 int() accepts non-ASCII digits), so the notification is poison; and int ' +
      'traits are stored as signed 64-bit BIGINT, so 99999999999999999999 and 1e300 (a 301-digit int) become text traits ' +
      'holding the exact digits',
    definitions: UPSTREAM_DEFINITIONS,
    poison: /trait vcpus \(int\): "٣" is not a base-10 integer literal/,
    without: ['vcpus'],
    traits: { disk_gb: ['text', '99999999999999999999'], root_gb: ['text', BigInt(1e300).toString()] },
  },
  'edge-float': {
    reason: 'float() follows Python 2 literals as the spec does: "1_0" (Python 3.6+ underscores) is rejected, so the notification is poison',
    definitions: ['edge-defs'],
    poison: /trait f5 \(float\): "1_0" is not a float literal/,
    without: ['f5'],
  },
};

/**
 * Departure for every line: a non-text trait skips "" and takes the next alternative of its
 * `fields` union (src/shared/distiller/jsonpath.ts). In the sandbox definitions that is
 * `deleted_at: payload.deleted_at | payload.terminated_at`: Havana-era Nova sends deleted_at ""
 * once an instance is deleted (realworld case 01), where upstream omitted deleted_at.
 */
function withEmptyFallThrough(name: DefinitionsName, notification: Record<string, unknown>, line: GoldenLine): GoldenLine {
  const payload = notification['payload'] as Record<string, unknown> | undefined;
  const terminatedAt = payload?.['terminated_at'];
  if (name !== 'sandbox' || !line.event || payload?.['deleted_at'] !== '' || typeof terminatedAt !== 'string' || terminatedAt === '') return line;
  expect(line.event.traits.some(([trait]) => trait === 'deleted_at')).toBe(false);
  const deletedAt: GoldenTrait = ['deleted_at', 'datetime', iso(parseIso8601(terminatedAt))];
  const traits = [...line.event.traits, deletedAt].sort(([a], [b]) => (a < b ? -1 : 1));
  return { ...line, event: { ...line.event, traits } };
}

/** Inputs: JSON Lines read exactly as Python's json does (ints of any size, 1.0 a float). */
function readInputLines<T>(url: URL): T[] {
  return readFileSync(url, 'utf8')
    .trim()
    .split('\n')
    .map((line) => loads(line) as T);
}

/** Outputs: JSON Lines; int trait values are kept as digit strings so they stay exact beyond 2^53. */
function readJsonLines<T>(url: URL): T[] {
  return readFileSync(url, 'utf8')
    .trim()
    .split('\n')
    .map((line) => JSON.parse(line.replace(/(\["[^"]*", "int", )(-?\d+)\]/g, '$1"$2"]')) as T);
}


/** An upstream trait value as ours would be: ints as bigint, floats as numbers (NaN/±Infinity spelled out). */
function goldenValue([, type, value]: GoldenTrait): unknown {
  if (type === 'int') return BigInt(value as string);
  if (type === 'float' && typeof value === 'string') return Number(value);
  return value;
}

function iso(dt: DateTime): string {
  return `${dt.toSql().replace(' ', 'T')}+00:00`;
}

function comparable(value: TraitValue | null): unknown {
  return value instanceof DateTime ? iso(value) : value;
}

/** Our event in the golden line shape, traits sorted by name. */
function asGolden(event: Event): Omit<GoldenLine, 'message_id'> {
  const traits = Object.entries(event.traits)
    .map(([name, value]): GoldenTrait => [name, traitTypeOf(value!), comparable(value)])
    .sort(([a], [b]) => (a < b ? -1 : 1));
  return {
    event: { event_type: event.eventType, message_id: event.messageId, timestamp: iso(event.timestamp), traits },
    winchester_valid: isValidForStorage(event),
  };
}

function expectedFrom(line: GoldenLine): Omit<GoldenLine, 'message_id'> {
  if (!line.event) return { event: null };
  const traits = line.event.traits.map((t): GoldenTrait => [t[0], t[1], goldenValue(t)]);
  return { event: { ...line.event, traits }, winchester_valid: line.winchester_valid! };
}

function expectMatch(distiller: Distiller, notification: Record<string, unknown>, expected: GoldenLine): void {
  if (expected.error !== undefined) {
    expect(() => distiller.distill(notification, NOW)).toThrow(PoisonMessageError);
    return;
  }
  const event = distiller.distill(notification, NOW);
  expect(event === null ? { event: null } : asGolden(event)).toEqual(expectedFrom(expected));
}

function expectDeparture(departure: Departure, distiller: Distiller, notification: Record<string, unknown>, golden: GoldenLine): void {
  expect(golden.error).toBeUndefined();
  expect(golden.event).toBeTruthy();
  let input = notification;
  let traits = golden.event!.traits;
  if (departure.poison) {
    expect(() => distiller.distill(notification, NOW)).toThrow(departure.poison);
    const without = departure.without ?? [];
    const payload = { ...(notification['payload'] as Record<string, unknown>) };
    for (const key of without) delete payload[key];
    input = { ...notification, payload };
    traits = traits.filter(([name]) => !without.includes(name));
  }
  const ours = departure.traits ?? {};
  const changed = traits.filter(([name]) => Object.hasOwn(ours, name));
  expect(changed.length).toBe(Object.keys(ours).length);
  for (const [name, type, value] of changed) expect([type, value]).not.toEqual(ours[name]);
  traits = traits.map((trait): GoldenTrait => (Object.hasOwn(ours, trait[0]) ? [trait[0], ...ours[trait[0]]!] : trait));
  // Values in `traits` are already ours (ints as bigint); compare without goldenValue().
  const event = distiller.distill(input, NOW);
  expect(event === null ? { event: null } : asGolden(event)).toEqual({
    event: { ...golden.event!, traits: traits.map((t): GoldenTrait => [t[0], t[1], Object.hasOwn(ours, t[0]) ? t[2] : goldenValue(t)]) },
    winchester_valid: golden.winchester_valid!,
  });
}

const notifications = readInputLines<Record<string, unknown>>(new URL('notifications.jsonl', GOLDEN));
const plainNotifications = readFileSync(new URL('notifications.jsonl', GOLDEN), 'utf8')
  .trim()
  .split('\n')
  .map((line) => JSON.parse(line) as unknown);
const edgeCases = readInputLines<{ name: string; note: string; notification: Record<string, unknown> }>(
  new URL('edge-notifications.jsonl', GOLDEN),
);

describe('golden notigen notifications', () => {
  it('has the 301 notifications the README describes', () => {
    expect(notifications).toHaveLength(301);
  });

  describe('are what the notigen helper fills, template by template in file-name order', () => {
    const templates = readdirSync(NOTIGEN_TEMPLATE_DIR).filter((f) => f.endsWith('.json')).sort();
    let next = 0;
    const slices = templates.map((file) => {
      const filled = fillTemplate(file, readFileSync(new URL(file, NOTIGEN_TEMPLATE_DIR), 'utf8'));
      const start = next;
      next += filled.length;
      return [file, filled, start] as const;
    });

    it('covers all 21 templates and all 301 lines', () => {
      expect(templates).toHaveLength(21);
      expect(next).toBe(notifications.length);
    });

    it.each(slices)('%s', (_file, filled, start) => {
      expect(filled.length).toBeGreaterThan(0);
      // fillTemplate parses with JSON.parse, so compare with the file read the same way.
      expect(filled).toEqual(plainNotifications.slice(start, start + filled.length));
    });
  });

  for (const name of UPSTREAM_DEFINITIONS) {
    for (const catchAll of [false, true]) {
      const file = `events-${name}${catchAll ? '-catchall' : ''}.jsonl`;
      describe(file, () => {
        const distiller = Distiller.fromFile(fileURLToPath(DEFINITIONS[name]), { catchAll });
        const golden = readJsonLines<GoldenLine>(new URL(file, GOLDEN));
        it.each(notifications.map((n, i) => [i, n['event_type'], n] as const))('#%i %s', (i, _type, notification) => {
          expectMatch(distiller, notification, withEmptyFallThrough(name, notification, golden[i]!));
        });
      });
    }
  }
});

describe('golden edge cases', () => {
  it('has the 61 cases the README describes', () => {
    expect(edgeCases).toHaveLength(61);
  });

  for (const name of Object.keys(DEFINITIONS) as DefinitionsName[]) {
    for (const catchAll of [false, true]) {
      const file = `edge-events-${name}${catchAll ? '-catchall' : ''}.jsonl`;
      if (!existsSync(new URL(file, GOLDEN))) continue;
      describe(file, () => {
        const distiller = Distiller.fromFile(fileURLToPath(DEFINITIONS[name]), { catchAll });
        const golden = readJsonLines<GoldenLine & { name: string }>(new URL(file, GOLDEN));
        it.each(edgeCases.map((c, i) => [c.name, c.note, i] as const))('%s: %s', (caseName, _note, i) => {
          expect(golden[i]!.name).toBe(caseName);
          const departure = DEPARTURES[caseName];
          const { notification } = edgeCases[i]!;
          if (departure?.definitions.includes(name)) expectDeparture(departure, distiller, notification, golden[i]!);
          else expectMatch(distiller, notification, withEmptyFallThrough(name, notification, golden[i]!));
        });
      });
    }
  }

  it('lists departures only for real edge cases, each with a reason', () => {
    const names = new Set(edgeCases.map((c) => c.name));
    for (const [name, departure] of Object.entries(DEPARTURES)) {
      expect(names.has(name), name).toBe(true);
      expect(departure.reason.length).toBeGreaterThan(20);
    }
  });
});
