/**
 * Trigger matching against upstream's recorded results (fixtures/golden/triggers, README
 * "triggers/"): for every distilled golden event, the match criterion index, the distinguishing
 * traits and the per-fire-criterion booleans must equal what upstream's TriggerDefinition gave.
 * Events come straight from the golden distiller output, so no distiller is involved.
 *
 * winchester-etc/triggers.yaml loads with allowMisspelledMapDistinguishedBy, because upstream
 * ignored its misspelled `map_distingushed_by` and the golden results reflect that.
 *
 * Deliberate departures: none in these files. (Our fixes only change cases upstream crashed
 * on or never matched, e.g. `>=` operators or a missing mapped source, and no golden event
 * exercises them; see triggers.test.ts.)
 *
 * Also here: the incremental fire evaluation (per-criterion counts kept with the stream) agrees
 * with upstream's should_fire over the full event list, on random sequences of golden events.
 */
import { readFileSync } from 'node:fs';
import { describe, expect, it } from 'vitest';
import type { Event, TraitValue } from '../../src/shared/event.js';
import { DateTime } from '../../src/shared/time.js';
import { seededRandom } from '../../src/notigen/templates.js';
import {
  isTimeRangeValue,
  loadTriggerDefinitions,
  triggerDefinitionsFromValue,
  type DistinguishingValue,
  type TriggerDefinition,
} from '../../src/shared/triggers/index.js';

const FIXTURES = new URL('../../fixtures/', import.meta.url).pathname;
const GOLDEN = `${FIXTURES}golden/`;
const UPSTREAM = `${FIXTURES}stacktach-upstream/`;

interface GoldenTrigger {
  name: string;
  match_criterion: number | null;
  distinguishing_traits?: Record<string, unknown>;
  fire_criteria: boolean[];
}
interface GoldenMatch {
  message_id: string;
  event_type: string;
  skipped?: 'dropped' | 'invalid' | 'error';
  timestamp?: string;
  triggers?: GoldenTrigger[];
}
interface GoldenEventLine {
  message_id: string | null;
  event?: { event_type: string; message_id: string; timestamp: string; traits: [string, string, unknown][] } | null;
  winchester_valid?: boolean;
  error?: string;
}

function readJsonl<T>(file: string, prepare: (line: string) => string = (l) => l): T[] {
  return readFileSync(file, 'utf8')
    .split('\n')
    .filter((line) => line !== '')
    .map((line) => JSON.parse(prepare(line)) as T);
}

/** Golden ints may exceed 2^53: quote them before JSON.parse so BigInt gets every digit. */
function quoteInts(line: string): string {
  return line.replace(/("int", )(-?\d+)\]/g, '$1"$2"]');
}

function goldenDateTime(text: string): DateTime {
  return DateTime.parse(text.replace(/\+00:00$/, ''));
}

function traitValue(type: string, value: unknown): TraitValue {
  switch (type) {
    case 'text':
      return value as string;
    case 'int':
      return BigInt(value as string);
    case 'float':
      return Number(value);
    case 'datetime':
      return goldenDateTime(value as string);
    default:
      throw new Error(`unknown golden trait type ${type}`);
  }
}

function goldenEvent(line: GoldenEventLine): Event {
  const e = line.event!;
  return {
    messageId: e.message_id,
    eventType: e.event_type,
    timestamp: goldenDateTime(e.timestamp),
    traits: Object.fromEntries(e.traits.map(([name, type, value]) => [name, traitValue(type, value)])),
  };
}

/** Our distinguishing values in the golden JSON shape. */
function asGolden(values: readonly DistinguishingValue[]): Record<string, unknown> {
  const iso = (t: DateTime) => t.toSql().replace(' ', 'T');
  return Object.fromEntries(
    values.map(({ name, value }) => {
      if (value instanceof DateTime) return [name, iso(value)];
      if (value !== null && isTimeRangeValue(value)) return [name, { begin: iso(value.begin), end: iso(value.end) }];
      return [name, typeof value === 'bigint' ? Number(value) : value];
    }),
  );
}

const CASES = [
  { matches: 'matches-sandbox.jsonl', events: 'events-sandbox.jsonl', triggers: 'sandbox/triggers.yaml', allowMisspelled: false },
  { matches: 'matches-winchester-etc.jsonl', events: 'events-winchester-etc.jsonl', triggers: 'winchester-etc/triggers.yaml', allowMisspelled: true },
  { matches: 'edge-matches-sandbox.jsonl', events: 'edge-events-sandbox.jsonl', triggers: 'sandbox/triggers.yaml', allowMisspelled: false },
];

function loadCase(c: (typeof CASES)[number]) {
  const definitions = loadTriggerDefinitions(`${UPSTREAM}${c.triggers}`, { allowMisspelledMapDistinguishedBy: c.allowMisspelled });
  const matches = readJsonl<GoldenMatch>(`${GOLDEN}triggers/${c.matches}`);
  const events = readJsonl<GoldenEventLine>(`${GOLDEN}distiller/${c.events}`, quoteInts);
  return { definitions, matches, events };
}

describe.each(CASES)('golden $matches', (c) => {
  const { definitions, matches, events } = loadCase(c);
  const byName = new Map(definitions.map((d) => [d.name, d]));

  it('has one events line per match line', () => {
    expect(events).toHaveLength(matches.length);
    expect(matches.filter((m) => m.skipped === undefined).length).toBeGreaterThan(0);
  });

  it.each(matches.map((m, i) => [i, m.message_id, m] as const))('line %i %s', (i, _id, golden) => {
    const line = events[i]!;
    expect(line.message_id).toBe(golden.message_id);
    if (golden.skipped === 'dropped') return expect(line.event).toBeNull();
    if (golden.skipped === 'invalid') return expect(line.winchester_valid).toBe(false);
    if (golden.skipped === 'error') return expect(line.error).toEqual(expect.any(String));

    expect(line.winchester_valid).toBe(true);
    const event = goldenEvent(line);
    expect(event.timestamp.toSql().replace(' ', 'T')).toBe(golden.timestamp);
    expect(golden.triggers!.map((t) => t.name)).toEqual(definitions.map((d) => d.name));
    for (const expected of golden.triggers!) {
      const definition = byName.get(expected.name)!;
      const matched = definition.match(event);
      expect(matched?.index ?? null).toBe(expected.match_criterion);
      if (matched !== null) expect(asGolden(definition.distinguishingTraits(event, matched))).toEqual(expected.distinguishing_traits);
      expect(definition.fireCriteriaHits(event)).toEqual(expected.fire_criteria);
    }
  });
});

/** Replays a sequence incrementally and returns shouldFire after each event. */
function incremental(definition: TriggerDefinition, sequence: readonly Event[]): boolean[] {
  let counts = definition.initialFireCounts();
  return sequence.map((event) => {
    counts = definition.addHits(counts, definition.fireCriteriaHits(event));
    return definition.shouldFire(counts);
  });
}

describe('incremental fire criteria equal should_fire over the whole stream', () => {
  const sandbox = loadCase(CASES[0]!);
  const pool = sandbox.matches.flatMap((m, i) => (m.skipped === undefined ? [{ event: goldenEvent(sandbox.events[i]!), golden: m.triggers![0]! }] : []));

  it('against upstream: fire booleans recorded by upstream, counted over each prefix', () => {
    const definition = sandbox.definitions[0]!;
    const numbers = definition.fireCriteria.map((c) => c.number);
    const next = seededRandom(20150201);
    let fired = 0;
    for (let run = 0; run < 300; run++) {
      const sequence = Array.from({ length: 1 + Math.floor(next() * 40) }, () => pool[Math.floor(next() * pool.length)]!);
      // Upstream should_fire(events): every fire criterion matched by at least `number` events.
      const expected = sequence.map((_, k) => numbers.every((n, j) => sequence.slice(0, k + 1).filter((s) => s.golden.fire_criteria[j]).length >= n));
      expect(incremental(definition, sequence.map((s) => s.event))).toEqual(expected);
      if (expected.at(-1)) fired++;
    }
    expect(fired).toBeGreaterThan(0);
    expect(fired).toBeLessThan(300);
  });

  it('with several criteria and numbers above 1: counts equal a full recount of every prefix', () => {
    const [definition] = triggerDefinitionsFromValue(
      [
        {
          name: 'multi',
          expiration: '$last + 1h',
          fire_pipeline: 'p',
          match_criteria: [{ event_type: '*' }],
          fire_criteria: [
            { event_type: 'compute.instance.update', number: 3 },
            { event_type: 'compute.instance.exists', traits: { audit_period_ending: { datetime: '$audit_period_beginning + 1d' } } },
            { event_type: 'compute.instance.*.end', number: 2, traits: { memory_mb: { int: '>= 512' } } },
            { event_type: '!compute.instance.update', number: 4, timestamp: 'day($launched_at)' },
          ],
        },
      ],
      'property.yaml',
    );
    const def = definition!;
    const group = def.debug.group('Fire');
    const next = seededRandom(42);
    const outcomes = new Set<boolean>();
    for (let run = 0; run < 300; run++) {
      const sequence = Array.from({ length: 1 + Math.floor(next() * 60) }, () => pool[Math.floor(next() * pool.length)]!.event);
      // Upstream's algorithm: per criterion, count matching events of the whole stream, stopping at number.
      const expected = sequence.map((_, k) =>
        def.fireCriteria.every((criterion) => {
          let count = 0;
          for (const event of sequence.slice(0, k + 1)) if (count < criterion.number && criterion.match(event, group)) count++;
          return count >= criterion.number;
        }),
      );
      expect(incremental(def, sequence)).toEqual(expected);
      outcomes.add(expected.at(-1)!);
    }
    expect([...outcomes].sort()).toEqual([false, true]);
  });
});
