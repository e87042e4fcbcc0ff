/**
 * Trigger semantics (spec §4.2, §4.3, §4.9, §10 items 2, 3, 6, 10), table-driven: criteria,
 * trait criteria and their operators (including >=, <=, != which upstream never matched),
 * Python equality, null-valued keys, distinguishing traits and their key, incremental fire
 * counts, the debugger's dump lines, and every load-time error.
 */
import { mkdtempSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { describe, expect, it } from 'vitest';
import { ConfigError, PoisonMessageError } from '../../src/shared/errors.js';
import type { Event, TraitValue } from '../../src/shared/event.js';
import { DateTime } from '../../src/shared/time.js';
import {
  decodeDistinguishingKey,
  distinguishingKey,
  loadTriggerDefinitions,
  pythonEquals,
  TriggerDebugger,
  triggerDefinitionsFromValue,
  type DistinguishingValue,
  type LoadTriggerOptions,
  type TriggerDefinition,
} from '../../src/shared/triggers/index.js';

import { matchTriggers } from '../../src/shared/triggers/matching.js';

const UPSTREAM = new URL('../../fixtures/stacktach-upstream/', import.meta.url).pathname;
const T = (text: string) => DateTime.parse(text);
const NOON = T('2015-02-01 12:00:00');

function event(eventType: string, traits: Record<string, TraitValue | null> = {}, timestamp = NOON): Event {
  return { messageId: `m-${eventType}`, eventType, timestamp, traits };
}

const BASE = {
  name: 't',
  expiration: '$last + 1h',
  fire_pipeline: 'fire_p',
  match_criteria: [{ event_type: '*' }],
  fire_criteria: [{ event_type: 'x' }],
};

function define(overrides: Record<string, unknown> = {}, options: LoadTriggerOptions = {}): TriggerDefinition {
  return triggerDefinitionsFromValue([{ ...BASE, ...overrides }], 'triggers.yaml', options)[0]!;
}

/** Does an event match a single criteria block? */
function matches(criteria: Record<string, unknown>, e: Event): boolean {
  return define({ match_criteria: [criteria] }).match(e) !== null;
}

function loadErrorOf(value: unknown, options: LoadTriggerOptions = {}): string {
  try {
    triggerDefinitionsFromValue(value, 'triggers.yaml', options);
  } catch (err) {
    expect(err).toBeInstanceOf(ConfigError);
    return (err as ConfigError).message;
  }
  throw new Error('expected a ConfigError');
}

function writeYaml(text: string): string {
  const file = join(mkdtempSync(join(tmpdir(), 'triggers-')), 'triggers.yaml');
  writeFileSync(file, text);
  return file;
}

describe('event_type globs', () => {
  it.each([
    ['compute.instance.*', 'compute.instance.create.end', true],
    ['compute.instance.*', 'compute.instances', false],
    [['compute.instance.*', '!compute.instance.exists'], 'compute.instance.exists', false],
    [['compute.instance.*', '!compute.instance.exists'], 'compute.instance.exists.verified', true],
    [['!compute.instance.exists'], 'scheduler.run_instance.start', true],
    [['!compute.instance.exists'], 'compute.instance.exists', false],
    [['snapshot_instance', 'keypair.import.*'], 'keypair.import.end', true],
    ['compute.instance.?xists', 'compute.instance.exists', true],
    ['Compute.*', 'compute.instance.update', false],
  ])('%j vs %s → %s', (patterns, type, expected) => {
    expect(matches({ event_type: patterns }, event(type))).toBe(expected);
  });

  it('defaults to every type', () => {
    expect(matches({}, event('anything.at.all'))).toBe(true);
  });
});

describe('trait criteria', () => {
  const launched = T('2015-02-01 03:04:05.000006');
  const e = event('compute.instance.exists', {
    memory_mb: 512n,
    ratio: 1.5,
    flavor: '512',
    launched_at: launched,
    audit_period_beginning: T('2015-01-31 00:00:00'),
    audit_period_ending: T('2015-02-01 00:00:00'),
    nothing: null,
  });

  it.each<[string, unknown, boolean]>([
    // scalar equality, Python semantics
    ['memory_mb', 512, true],
    ['memory_mb', 512.0, true],
    ['memory_mb', '512', false],
    ['flavor', '512', true],
    ['flavor', 512, false],
    ['ratio', 1.5, true],
    ['launched_at', '2015-02-01 03:04:05.000006', false],
    ['missing', 'x', false],
    ['nothing', null, true],
    ['nothing', 'None', false],
    ['memory_mb', null, false],
    // {string}/{text}
    ['flavor', { string: '512' }, true],
    ['flavor', { text: '512' }, true],
    ['memory_mb', { string: '512' }, false],
    // numeric, every operator; non-numeric traits never match (upstream: "512" > 256 was true)
    ['memory_mb', { int: '= 512' }, true],
    ['memory_mb', { int: '512' }, true],
    ['memory_mb', { int: 512 }, true],
    ['memory_mb', { int: '> 256' }, true],
    ['memory_mb', { int: '> 512' }, false],
    ['memory_mb', { int: '< 1024' }, true],
    ['memory_mb', { int: '< 512' }, false],
    ['memory_mb', { int: '>= 512' }, true],
    ['memory_mb', { int: '>= 513' }, false],
    ['memory_mb', { int: '<= 512' }, true],
    ['memory_mb', { int: '<= 511' }, false],
    ['memory_mb', { int: '!= 511' }, true],
    ['memory_mb', { int: '!= 512' }, false],
    ['memory_mb', { float: '= 512.0' }, true],
    ['memory_mb', { float: '> 511.9' }, true],
    ['ratio', { float: '> 1' }, true],
    ['ratio', { float: '<= 1.5' }, true],
    ['ratio', { int: '< 2' }, true],
    ['ratio', { int: '= 1' }, false],
    ['flavor', { int: '> 256' }, false],
    ['flavor', { int: '< 1024' }, false],
    ['flavor', { int: '!= 7' }, false],
    ['launched_at', { int: '> 0' }, false],
    ['nothing', { int: '!= 0' }, false],
    ['missing', { int: '!= 0' }, false],
    // datetime: the trait must be in the timex result
    ['launched_at', { datetime: 'day' }, true],
    ['launched_at', { datetime: 'hour' }, false],
    ['audit_period_ending', { datetime: '$audit_period_beginning + 1d' }, true],
    ['audit_period_ending', { datetime: '$audit_period_beginning + 2d' }, false],
    ['audit_period_ending', { datetime: '$no_such_trait + 1d' }, false],
    ['flavor', { datetime: 'day' }, false],
    ['missing', { datetime: 'day' }, false],
  ])('%s: %j → %s', (trait, criterion, expected) => {
    expect(matches({ traits: { [trait]: criterion } }, e)).toBe(expected);
  });

  it('needs every trait criterion to hold', () => {
    expect(matches({ traits: { memory_mb: 512, flavor: '512' } }, e)).toBe(true);
    expect(matches({ traits: { memory_mb: 512, flavor: '1024' } }, e)).toBe(false);
  });

  it('compares big ints and floats exactly', () => {
    const big = event('x', { n: 9007199254740993n });
    expect(matches({ traits: { n: { int: '> 9007199254740992' } } }, big)).toBe(true);
    expect(matches({ traits: { n: { int: '= 9007199254740993' } } }, big)).toBe(true);
    expect(matches({ traits: { n: { float: '= 9007199254740992' } } }, big)).toBe(false);
  });
});

describe('Python equality', () => {
  it.each<[TraitValue | null, string | number | bigint | null, boolean]>([
    [1n, 1, true],
    [1n, 1.0, true],
    [1, 1n, true],
    [1.5, 1n, false],
    ['1', 1, false],
    [1n, '1', false],
    ['a', 'a', true],
    [T('2015-02-01 00:00:00'), '2015-02-01 00:00:00', false],
    [null, null, true],
    [null, 0, false],
    [NaN, NaN, false],
  ])('%s == %s → %s', (value, operand, expected) => {
    expect(pythonEquals(value, operand)).toBe(expected);
  });
});

describe('criteria timestamp', () => {
  const criteria = { timestamp: 'day($launched_at)' };
  it.each([
    ['same UTC day as launched_at', { launched_at: T('2015-02-01 23:59:59.999999') }, true],
    ['the day before', { launched_at: T('2015-01-31 12:00:00') }, false],
    ['launched_at missing', {}, false],
    ['launched_at not a datetime', { launched_at: '2015-02-01' }, false],
  ])('%s', (_label, traits, expected) => {
    expect(matches(criteria, event('x', traits))).toBe(expected);
  });

  it('a single Timestamp result needs equality', () => {
    expect(matches({ timestamp: '$launched_at + 1h' }, event('x', { launched_at: T('2015-02-01 11:00:00') }))).toBe(true);
    expect(matches({ timestamp: '$launched_at + 1h' }, event('x', { launched_at: T('2015-02-01 11:00:00.000001') }))).toBe(false);
  });
});

describe('match and distinguishing traits', () => {
  const sandbox = loadTriggerDefinitions(`${UPSTREAM}sandbox/triggers.yaml`)[0]!;
  const exists = event(
    'compute.instance.exists',
    { instance_id: 'i-1', audit_period_beginning: T('2015-01-31 00:00:00'), audit_period_ending: T('2015-02-01 00:00:00') },
    T('2015-02-01 00:27:18.603932'),
  );

  it('returns the first matching criterion and maps distinguished_by through it', () => {
    const update = event('compute.instance.update', { instance_id: 'i-1' }, T('2015-02-01 15:33:56.771932'));
    const u = sandbox.match(update)!;
    expect(u.index).toBe(0);
    expect(sandbox.distinguishingTraits(update, u)).toEqual([
      { name: 'instance_id', value: 'i-1' },
      { name: 'timestamp', value: { begin: T('2015-02-01 00:00:00'), end: T('2015-02-02 00:00:00') } },
    ]);
    const x = sandbox.match(exists)!;
    expect(x.index).toBe(1);
    expect(sandbox.distinguishingTraits(exists, x)[1]).toEqual({ name: 'timestamp', value: { begin: T('2015-01-31 00:00:00'), end: T('2015-02-01 00:00:00') } });
    expect(sandbox.fireCriteriaHits(exists)).toEqual([true]);
    expect(sandbox.fireCriteriaHits(update)).toEqual([false]);
  });

  it('checks the presence of the un-mapped names, as upstream', () => {
    const def = define({ distinguished_by: ['instance_id', 'period'], match_criteria: [{ map_distinguished_by: { period: 'audit_period_beginning' } }] });
    const withSource = { instance_id: 'i', audit_period_beginning: T('2015-01-31 00:00:00') };
    expect(def.match(event('x', withSource))).toBeNull();
    const both = event('x', { ...withSource, period: 'ignored' });
    expect(def.distinguishingTraits(both, def.match(both)!)).toEqual([
      { name: 'instance_id', value: 'i' },
      { name: 'period', value: T('2015-01-31 00:00:00') },
    ]);
  });

  it('does not match (instead of crashing ingest) when the mapped source is missing or not a datetime', () => {
    const noSource = event('compute.instance.exists', { instance_id: 'i-1' });
    expect(sandbox.match(noSource)).toBeNull();
    const textSource = event('compute.instance.exists', { instance_id: 'i-1', audit_period_beginning: '2015-01-31' });
    expect(sandbox.match(textSource)).toBeNull();
  });

  it('counts null-valued keys as present and keeps null as the value', () => {
    const generated = event('compute.instance.update', { instance_id: null });
    const m = sandbox.match(generated)!;
    expect(m).not.toBeNull();
    expect(sandbox.distinguishingTraits(generated, m)[0]).toEqual({ name: 'instance_id', value: null });
    expect(sandbox.match(event('compute.instance.update', {}))).toBeNull();
  });

  it('stores a Timestamp result as a datetime and works on envelope keys', () => {
    const def = define({ distinguished_by: ['event_type', { timestamp: '$timestamp @ 0h 0m 0s 0us' }] });
    const e = event('a.b', {}, T('2015-02-01 13:14:15.5'));
    expect(def.distinguishingTraits(e, def.match(e)!)).toEqual([
      { name: 'event_type', value: 'a.b' },
      { name: 'timestamp', value: T('2015-02-01 00:00:00') },
    ]);
    // The presence check uses the item's own name, so an unmapped `start` is never present.
    expect(define({ distinguished_by: [{ start: 'day' }] }).match(e)).toBeNull();
  });

  it('rejects a match result from another trigger', () => {
    const other = define();
    const e = event('compute.instance.update', { instance_id: 'i' });
    expect(() => other.distinguishingTraits(e, sandbox.match(e)!)).toThrow(/does not belong/);
  });
});

describe('distinguishingKey', () => {
  const day = { begin: T('2015-02-01 00:00:00'), end: T('2015-02-02 00:00:00') };
  const variants: DistinguishingValue['value'][] = [
    1n,
    1,
    '1',
    1.5,
    '1.5',
    null,
    'null',
    '',
    T('2015-02-01 00:00:00'),
    T('2015-02-01 00:00:00.000001'),
    '2015-02-01 00:00:00.000000',
    day,
    { begin: day.begin, end: day.end.plusMicros(1) },
    { begin: day.begin, end: day.begin },
    -1n,
    12345678901234567890123n,
    Infinity,
    NaN,
  ];

  it('keeps types and microseconds apart (injective)', () => {
    const keys = variants.map((value) => distinguishingKey([{ name: 'k', value }]));
    expect(new Set(keys).size).toBe(variants.length);
    expect(distinguishingKey([{ name: 'a', value: 'b' }])).not.toBe(distinguishingKey([{ name: 'a"', value: 'b' }]));
    expect(distinguishingKey([{ name: 'a', value: 'b,c' }])).not.toBe(distinguishingKey([{ name: 'a', value: 'b' }, { name: 'c', value: '' }]));
  });

  it('decodes back to the same values', () => {
    for (const value of variants) {
      const values = [{ name: 'k', value }, { name: 'instance_id', value: 'i-1' }];
      const decoded = decodeDistinguishingKey(distinguishingKey(values));
      expect(decoded).toEqual([values[1], values[0]]);
      expect(distinguishingKey(decoded)).toBe(distinguishingKey(values));
    }
  });

  it('ignores the order of distinguished_by and treats -0 like 0, as the database compared them', () => {
    const a = { name: 'a', value: 'x' };
    const b = { name: 'b', value: 2n };
    expect(distinguishingKey([a, b])).toBe(distinguishingKey([b, a]));
    expect(distinguishingKey([{ name: 'f', value: -0 }])).toBe(distinguishingKey([{ name: 'f', value: 0 }]));
  });

  it('rejects malformed keys', () => {
    for (const bad of ['{}', '[["k"]]', '[["k","int"]]', '[["k","timerange","2015-02-01 00:00:00.000000"]]', '[["k","none","x"]]', '[["k","bool","1"]]']) {
      expect(() => decodeDistinguishingKey(bad)).toThrow(SyntaxError);
    }
  });
});

describe('expiration, pipelines, fire delay', () => {
  it('evaluates expiration with $first, $last and $timestamp = now; a range yields its begin', () => {
    const first = T('2015-02-01 10:00:00');
    const last = T('2015-02-01 15:33:56.771932');
    const now = T('2015-02-03 08:00:00');
    expect(define({ expiration: '$last + 2d' }).expirationFor(first, last, now)).toEqual(T('2015-02-03 15:33:56.771932'));
    expect(define({ expiration: '$first + 1h' }).expirationFor(first, last, now)).toEqual(T('2015-02-01 11:00:00'));
    expect(define({ expiration: '$timestamp + 1h' }).expirationFor(first, last, now)).toEqual(T('2015-02-03 09:00:00'));
    expect(define({ expiration: 'day($last) + 1d' }).expirationFor(first, last, now)).toEqual(T('2015-02-02 00:00:00'));
  });

  it('exposes pipelines, delay and debug level with their defaults', () => {
    const d = define();
    expect([d.name, d.firePipeline, d.expirePipeline, d.fireDelaySeconds, d.debugLevel, d.warnings]).toEqual(['t', 'fire_p', null, 0, 0, []]);
    const e = define({ fire_pipeline: null, expire_pipeline: 'exp', fire_delay: 2.5, debug_level: 1 });
    expect([e.firePipeline, e.expirePipeline, e.fireDelaySeconds, e.debugLevel]).toEqual([null, 'exp', 2.5, 1]);
  });

  it('accepts integers parsed as bigint (yaml intAsBigInt)', () => {
    const d = define({ debug_level: 2n, fire_delay: 30n, fire_criteria: [{ number: 2n, traits: { n: 3n } }] });
    expect([d.debugLevel, d.fireDelaySeconds, d.fireCriteria[0]!.number]).toEqual([2, 30, 2]);
    expect(d.fireCriteriaHits(event('x', { n: 3.0 }))).toEqual([true]);
  });
});

describe('incremental fire criteria', () => {
  const def = define({
    fire_criteria: [
      { event_type: 'a', number: 2 },
      { event_type: 'b', traits: { n: { int: '>= 10' } } },
    ],
  });

  it('counts per criterion, capped at number, and fires when every criterion is satisfied', () => {
    let counts = def.initialFireCounts();
    expect(counts).toEqual([0, 0]);
    const steps: [Event, number[], boolean][] = [
      [event('a'), [1, 0], false],
      [event('b', { n: 9n }), [1, 0], false],
      [event('b', { n: 10n }), [1, 1], false],
      [event('a'), [2, 1], true],
      [event('a'), [2, 1], true],
    ];
    for (const [e, expectedCounts, fire] of steps) {
      counts = def.addHits(counts, def.fireCriteriaHits(e));
      expect(counts).toEqual(expectedCounts);
      expect(def.shouldFire(counts)).toBe(fire);
    }
  });

  it('fires at once with an empty fire_criteria list, as upstream', () => {
    const always = define({ fire_criteria: [] });
    expect(always.shouldFire(always.addHits(always.initialFireCounts(), always.fireCriteriaHits(event('z'))))).toBe(true);
  });

  it('rejects counts stored for a different number of criteria (config changed under a stream)', () => {
    expect(() => def.addHits([0], [true, false])).toThrow(RangeError);
    expect(() => def.shouldFire([0, 0, 0])).toThrow(RangeError);
  });

  it('equals a full recount for random sequences', () => {
    let seed = 7;
    const next = () => (seed = (seed * 48271) % 2147483647) / 2147483647;
    const pool = [event('a'), event('b', { n: 10n }), event('b', { n: 3n }), event('b'), event('c', { n: 99n })];
    const group = def.debug.group('Fire');
    for (let run = 0; run < 200; run++) {
      const sequence = Array.from({ length: Math.floor(next() * 8) }, () => pool[Math.floor(next() * pool.length)]!);
      let counts = def.initialFireCounts();
      for (const e of sequence) counts = def.addHits(counts, def.fireCriteriaHits(e));
      const recount = def.fireCriteria.every((c) => sequence.filter((e) => c.match(e, group)).length >= c.number);
      expect(def.shouldFire(counts)).toBe(recount);
    }
  });
});

describe('debugger', () => {
  const events = [
    event('compute.instance.update', { instance_id: 'i' }),
    event('compute.instance.update', {}),
    event('scheduler.run_instance.start', { instance_id: 'i' }),
    event('compute.instance.exists', { instance_id: 'i', audit_period_beginning: T('2015-01-31 00:00:00'), audit_period_ending: T('2015-02-01 00:00:00') }),
    event('compute.instance.exists', { instance_id: 'i', audit_period_beginning: T('2015-01-31 00:00:00'), audit_period_ending: T('2015-02-02 00:00:00') }),
    event('compute.instance.exists', { instance_id: 'i', audit_period_beginning: T('2015-01-31 00:00:00') }),
  ];

  function run(level: number): TriggerDefinition {
    const [def] = triggerDefinitionsFromValue(
      [{ ...BASE, name: 'usage', debug_level: level, distinguished_by: ['instance_id'], match_criteria: [{ event_type: 'compute.instance.*' }], fire_criteria: [
        { event_type: 'compute.instance.exists', traits: { audit_period_ending: { datetime: '$audit_period_beginning + 1d' }, instance_id: 'i' } },
        { event_type: '*', traits: { memory_mb: { int: '>= 1' } } },
      ] }],
      'triggers.yaml',
    );
    for (const e of events) {
      const m = def!.match(e);
      if (m !== null) def!.shouldFire(def!.addHits(def!.initialFireCounts(), def!.fireCriteriaHits(e)));
    }
    def!.debug.bump('New stream');
    def!.debug.bump('Added events', 3);
    def!.debug.bump('New stream');
    return def!;
  }

  it('level 2 dumps groups, per-reason counts and counters, then resets', () => {
    const def = run(2);
    expect(def.debug.dumpLines()).toEqual([
      '---- Trigger Definition: usage ----',
      'Match Criteria: 7 checks, 4 passed',
      " - not 'instance_id' = 1",
      ' - Wrong event type = 1',
      ' - No matching criteria = 1',
      'Fire Criteria: 13 checks, 2 passed',
      ' - Wrong event type = 1',
      ' - not memory_mb = 4',
      ' - Not enough matching criteria = 4',
      ' - Not in timerange = 1',
      " - Time: not 'audit_period_ending' = 1",
      'Counter "New stream" = 2',
      'Counter "Added events" = 3',
    ]);
    expect(def.debug.dumpLines()).toEqual(['---- Trigger Definition: usage ----']);
  });

  it('level 1 has no reasons, level 0 dumps nothing', () => {
    expect(run(1).debug.dumpLines()).toEqual([
      '---- Trigger Definition: usage ----',
      'Match Criteria: 7 checks, 4 passed',
      'Fire Criteria: 13 checks, 2 passed',
      'Counter "New stream" = 2',
      'Counter "Added events" = 3',
    ]);
    expect(run(0).debug.dumpLines()).toEqual([]);
  });

  it('records the criteria reasons of timestamp and numeric checks', () => {
    const debug = new TriggerDebugger('n/a', 2);
    expect(debug.group('Match').check(false, 'x')).toBe(false);
    const def = define({ debug_level: 2, match_criteria: [{ timestamp: 'day($launched_at)' }, { timestamp: 'hour', traits: { n: { int: '< 5' } } }, { traits: { s: { float: '!= 1' } } }] });
    def.match(event('x', { launched_at: T('2015-01-01 00:00:00'), n: 9n, s: 'str' }));
    def.match(event('x', { n: 1n }));
    expect(def.debug.dumpLines()).toEqual([
      '---- Trigger Definition: t ----',
      'Match Criteria: 6 checks, 1 passed',
      ' - Not time yet. = 1',
      ' - < failed = 1',
      ' - != failed = 1',
      ' - No matching criteria = 1',
      ' - No timestamp trait = 1',
    ]);
    expect(debug.dumpLines()).toEqual(['---- Trigger Definition: n/a ----', 'Match Criteria: 1 checks, 0 passed', ' - x = 1']);
  });
});

describe('loading the shipped trigger files', () => {
  it.each(['sandbox/triggers.yaml', 'sandbox/ansible-triggers.yaml'])('%s loads', (file) => {
    const [def, ...rest] = loadTriggerDefinitions(`${UPSTREAM}${file}`);
    expect(rest).toEqual([]);
    expect(def!.name).toBe('test_trigger');
    expect(def!.debugLevel).toBe(2);
    expect(def!.distinguishedBy.map((d) => d.name)).toEqual(['instance_id', 'timestamp']);
    expect([...def!.matchCriteria[1]!.mapDistinguishedBy]).toEqual([['timestamp', 'audit_period_beginning']]);
    expect(def!.warnings).toEqual([]);
  });

  it('checks pipeline names against pipelines.yaml when given', () => {
    const file = `${UPSTREAM}sandbox/triggers.yaml`;
    expect(loadTriggerDefinitions(file, { pipelineNames: new Set(['test_fire_pipeline', 'test_expire_pipeline']) })).toHaveLength(1);
    expect(() => loadTriggerDefinitions(file, { pipelineNames: new Set(['test_fire_pipeline', 'test_expire_pipelin']) })).toThrow(
      'triggers.yaml: trigger "test_trigger" expire_pipeline: unknown pipeline "test_expire_pipeline", not in pipelines.yaml (did you mean test_expire_pipelin?)',
    );
  });

  it('rejects the misspelled map_distingushed_by of winchester-etc by default', () => {
    expect(() => loadTriggerDefinitions(`${UPSTREAM}winchester-etc/triggers.yaml`)).toThrow(
      'winchester-etc/triggers.yaml: trigger "test_trigger" match_criteria[1].map_distingushed_by: unknown key (did you mean map_distinguished_by?)',
    );
  });

  it('loads it with the compatibility switch, ignoring the mapping as upstream did, with a warning', () => {
    const [def] = loadTriggerDefinitions(`${UPSTREAM}winchester-etc/triggers.yaml`, { allowMisspelledMapDistinguishedBy: true });
    expect(def!.matchCriteria[1]!.mapDistinguishedBy.size).toBe(0);
    expect(def!.warnings).toHaveLength(1);
    expect(def!.warnings[0]).toMatch(/trigger "test_trigger" match_criteria\[1\]\.map_distingushed_by: misspelled key ignored.*NOT applied/);
    const exists = event('compute.instance.exists', { instance_id: 'i', audit_period_beginning: T('2015-01-31 00:00:00') });
    const day = def!.distinguishingTraits(exists, def!.match(exists)!)[1]!.value;
    expect(day).toEqual({ begin: T('2015-02-01 00:00:00'), end: T('2015-02-02 00:00:00') });
  });

  it('supports YAML 1.1 merge keys and explains booleans and dates', () => {
    const merged = writeYaml(`
- &base
  name: first
  expiration: $last + 1h
  fire_pipeline: p
  match_criteria: [{event_type: a}]
  fire_criteria: [{event_type: a}]
- <<: *base
  name: second
`);
    expect(loadTriggerDefinitions(merged).map((d) => d.name)).toEqual(['first', 'second']);
    const boolean = writeYaml(`
- name: t
  expiration: $last + 1h
  fire_pipeline: p
  match_criteria: [{traits: {state: on}}]
  fire_criteria: []
`);
    expect(() => loadTriggerDefinitions(boolean)).toThrow(/triggers\.yaml: trigger "t" match_criteria\[0\]\.traits\.state: .*the boolean true \(YAML reads unquoted yes\/no\/on\/off/);
    const date = writeYaml(`
- name: t
  expiration: $last + 1h
  fire_pipeline: p
  match_criteria: [{traits: {day: 2015-02-27}}]
  fire_criteria: []
`);
    expect(() => loadTriggerDefinitions(date)).toThrow(/trigger "t" match_criteria\[0\]\.traits\.day: .*a date/);
  });
});

describe('load errors name the file, the trigger and the key', () => {
  const crit = (c: Record<string, unknown>) => ({ match_criteria: [c] });
  it.each<[string, Record<string, unknown>, string]>([
    ['unknown trigger key', { fire_criterion: [] }, 'trigger "t" fire_criterion: unknown key (did you mean fire_criteria?)'],
    ['unknown criteria key', crit({ event_types: 'a' }), 'trigger "t" match_criteria[0].event_types: unknown key (did you mean event_type?)'],
    ['misspelled map key', crit({ map_distingushed_by: {} }), 'trigger "t" match_criteria[0].map_distingushed_by: unknown key (did you mean map_distinguished_by?)'],
    ['load_criteria is ignored, nothing else is', { load_criteria: [{ whatever: 1 }], x: 1 }, 'trigger "t" x: unknown key (expected one of: name,'],
    ['missing expiration', { expiration: undefined }, 'trigger "t" expiration: required key is missing'],
    ['missing match_criteria', { match_criteria: undefined }, 'trigger "t" match_criteria: required key is missing'],
    ['missing fire_criteria', { fire_criteria: null }, 'trigger "t" fire_criteria: required key is missing'],
    ['no pipelines', { fire_pipeline: undefined }, 'trigger "t": needs fire_pipeline or expire_pipeline (or both)'],
    ['empty match_criteria', { match_criteria: [] }, 'trigger "t" match_criteria: must list at least one criteria block'],
    ['bad distinguished_by item', { distinguished_by: [['a']] }, 'trigger "t" distinguished_by[0]: must be a trait name or a single-key mapping'],
    ['two-key distinguished_by item', { distinguished_by: [{ a: 'day', b: 'day' }] }, 'trigger "t" distinguished_by[0]: must be a trait name or a single-key mapping'],
    ['duplicate distinguished_by', { distinguished_by: ['a', { a: 'day' }] }, 'trigger "t" distinguished_by[1]: duplicate distinguished_by name "a"'],
    ['distinguished_by variable', { distinguished_by: [{ ts: '$launched_at + 1d' }] }, 'trigger "t" distinguished_by[0].ts: timex expression "$launched_at + 1d" references $launched_at; only $timestamp can be used here'],
    ['distinguished_by function', { distinguished_by: [{ ts: 'week' }] }, 'trigger "t" distinguished_by[0].ts: timex expression "week" cannot be evaluated'],
    ['unparsable expiration', { expiration: '$last +' }, 'trigger "t" expiration: invalid timex expression "$last +"'],
    ['expiration variable', { expiration: '$lst + 1d' }, 'trigger "t" expiration: timex expression "$lst + 1d" references $lst'],
    ['unparsable distinguished_by', { distinguished_by: [{ ts: 'day(' }] }, 'trigger "t" distinguished_by[0].ts: invalid timex expression'],
    ['unparsable criteria timestamp', crit({ timestamp: '$timestamp + 1.5h' }), 'trigger "t" match_criteria[0].timestamp: invalid timex expression'],
    ['unparsable datetime criterion', crit({ traits: { a: { datetime: '$x +' } } }), 'trigger "t" match_criteria[0].traits.a.datetime: invalid timex expression'],
    ['unknown trait criterion type', crit({ traits: { memory_mb: { numeric: '> 4096' } } }), 'trigger "t" match_criteria[0].traits.memory_mb.numeric: unknown trait criterion type (expected one of: int, float, datetime, string, text)'],
    ['near-miss criterion type', crit({ traits: { a: { flaot: '1' } } }), 'trigger "t" match_criteria[0].traits.a.flaot: unknown trait criterion type (did you mean float?)'],
    ['two-key trait criterion', crit({ traits: { a: { int: '1', float: '1' } } }), 'trigger "t" match_criteria[0].traits.a: must be a constant or a mapping with one key'],
    ['operator without space', crit({ traits: { a: { int: '>4096' } } }), 'trigger "t" match_criteria[0].traits.a.int: bad int ">4096" (separate the operator with a space: "> 4096")'],
    ['unknown operator', crit({ traits: { a: { int: '== 4' } } }), 'trigger "t" match_criteria[0].traits.a.int: unknown operator "=="'],
    ['bad int', crit({ traits: { a: { int: '> 1.5' } } }), 'trigger "t" match_criteria[0].traits.a.int: bad int "1.5"'],
    ['bad float', crit({ traits: { a: { float: '< abc' } } }), 'trigger "t" match_criteria[0].traits.a.float: bad float "abc"'],
    ['empty numeric', crit({ traits: { a: { int: '' } } }), 'trigger "t" match_criteria[0].traits.a.int: must be a non-empty string'],
    ['non-string {string:}', crit({ traits: { a: { string: 5 } } }), 'trigger "t" match_criteria[0].traits.a.string: must be a string, got the number 5'],
    ['list constant', crit({ traits: { a: [1] } }), 'trigger "t" match_criteria[0].traits.a: must be a constant or a mapping with one key'],
    ['map key not distinguished', crit({ map_distinguished_by: { timestmp: 'x' } }), 'trigger "t" match_criteria[0].map_distinguished_by.timestmp: not a distinguished_by trait of this trigger'],
    ['bad number', { fire_criteria: [{ number: 0 }] }, 'trigger "t" fire_criteria[0].number: must be an integer from 1 up, got the number 0'],
    ['empty event_type list', crit({ event_type: [] }), 'trigger "t" match_criteria[0].event_type: must not be an empty list'],
    ['bad debug_level', { debug_level: 3 }, 'trigger "t" debug_level: must be an integer from 0 to 2'],
    ['negative fire_delay', { fire_delay: -1 }, 'trigger "t" fire_delay: must be a number of seconds ≥ 0'],
    ['non-string pipeline', { fire_pipeline: ['a'] }, 'trigger "t" fire_pipeline: must be a non-empty string, got a list'],
  ])('%s', (_label, overrides, message) => {
    const trigger: Record<string, unknown> = { ...BASE, ...overrides };
    for (const key of Object.keys(trigger)) if (trigger[key] === undefined) delete trigger[key];
    expect(loadErrorOf([trigger])).toContain(`triggers.yaml: ${message}`);
  });

  it('names unnamed triggers by index and rejects duplicates', () => {
    expect(loadErrorOf([BASE, { ...BASE, name: undefined }])).toBe('triggers.yaml: trigger [1] name: required key is missing');
    expect(loadErrorOf([BASE, { ...BASE, name: 5 }])).toBe('triggers.yaml: trigger [1] name: must be a non-empty string, got the number 5');
    expect(loadErrorOf([BASE, { ...BASE, name: 'u' }, { ...BASE }])).toBe(
      'triggers.yaml: trigger [2] name: duplicate trigger name "t" (also trigger [0]); stream names must be unique',
    );
    expect(loadErrorOf({ name: 't' })).toBe('triggers.yaml: must be a list of trigger definitions, got a mapping');
    expect(loadErrorOf(['t'])).toBe('triggers.yaml: trigger [0]: must be a mapping, got the string "t"');
  });

  it('accepts what upstream accepted and we keep', () => {
    const d = define({ load_criteria: [{ event_type: 'x' }], fire_criteria: [], match_criteria: [{ event_type: 'a', number: 3, traits: {} }] });
    expect(d.fireCriteria).toEqual([]);
    expect(d.matchCriteria[0]!.number).toBe(3);
  });
});

describe('matchTriggers', () => {
  it("an event a trigger cannot evaluate (its day timex leaves years 1..9999) is poison naming the trigger and the message, not a distiller error", () => {
    const trigger = define({ name: 'instance', distinguished_by: ['instance_id', { timestamp: 'day' }] });
    const late = event('compute.instance.exists', { instance_id: 'i-1' }, T('9999-12-31 00:00:00'));
    expect(() => matchTriggers([trigger], late)).toThrow(PoisonMessageError);
    expect(() => matchTriggers([trigger], late)).toThrow(/^compute\.instance\.exists \(message_id m-compute\.instance\.exists\): trigger instance: .*outside years 1\.\.9999/);
    expect(matchTriggers([trigger], event('compute.instance.exists', { instance_id: 'i-1' })).map((m) => m.trigger.name)).toEqual(['instance']);
  });
});
