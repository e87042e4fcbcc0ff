/**
 * Focused tests of the distiller (spec §3): definition loading and its errors, the JSONPath
 * dialect, the plugins and their parameters, each conversion rule, the envelope, catch-all,
 * reverse definition order and `!` exclusions. The golden comparison lives in
 * distiller-golden.test.ts.
 */
import { mkdtempSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { describe, expect, it } from 'vitest';
import {
  Distiller,
  isValidForStorage,
  PluginParameterError,
  type DistillerOptions,
  type TraitMatch,
  type TraitPluginFactory,
} from '../../src/shared/distiller/index.js';
import { toDateTime, toFloat, toInt, toText } from '../../src/shared/distiller/convert.js';
import { parseIso8601 } from '../../src/shared/distiller/iso8601.js';
import { compilePaths } from '../../src/shared/distiller/jsonpath.js';
import { parseJsonPath } from '../../src/shared/distiller/jsonpath-parser.js';
import { ConfigError, PoisonMessageError } from '../../src/shared/errors.js';
import type { Event, TraitValue } from '../../src/shared/event.js';
import { DateTime } from '../../src/shared/time.js';

const NOW = DateTime.of(2020, 6, 1, 12, 0, 0, 1);
const UPSTREAM = new URL('../../fixtures/stacktach-upstream/', import.meta.url);
const GOLDEN = new URL('../../fixtures/golden/distiller/', import.meta.url);

function distiller(definitions: unknown, options: DistillerOptions = { catchAll: false }): Distiller {
  return Distiller.fromDefinitions(definitions, 'defs.yaml', options);
}

function notification(fields: Record<string, unknown> = {}): Record<string, unknown> {
  return { event_type: 'test.thing', message_id: 'msg-1', timestamp: '2015-02-01 00:00:00', ...fields };
}

/** Distills `fields` (merged into a test.thing notification) with one definition of `traits`. */
function traitsFrom(traits: Record<string, unknown>, fields: Record<string, unknown>, options?: DistillerOptions): Event['traits'] {
  const event = distiller([{ event_type: 'test.*', traits }], options).distill(notification(fields), NOW);
  if (event === null) throw new Error('dropped');
  return event.traits;
}

/** The value of one trait `t` defined by `config`, from `payload`; undefined when omitted. */
function trait(config: Record<string, unknown>, payload: unknown): TraitValue | null | undefined {
  return traitsFrom({ t: config }, { payload })['t'];
}

function configError(definitions: unknown, plugins?: Record<string, TraitPluginFactory>): ConfigError {
  try {
    distiller(definitions, { catchAll: false, ...(plugins ? { plugins } : {}) });
  } catch (err) {
    if (err instanceof ConfigError) return err;
    throw err;
  }
  throw new Error('no ConfigError');
}

/** Every match a path yields, with path strings (what plugins receive). */
function matches(paths: string | string[], body: unknown): TraitMatch[] {
  const list = typeof paths === 'string' ? [paths] : paths;
  return compilePaths(list.map(parseJsonPath) as [ReturnType<typeof parseJsonPath>]).all(body);
}

function firstMatch(path: string, body: unknown): unknown {
  return compilePaths([parseJsonPath(path)]).first(body);
}

const ONE_TRAIT = (trait: Record<string, unknown>) => [{ event_type: 'x', traits: { t: trait } }];

describe('definition loading', () => {
  it('loads every shipped definitions file unmodified', () => {
    for (const file of [
      new URL('sandbox/event_definitions.yaml', UPSTREAM),
      new URL('winchester-etc/event_definitions.yaml', UPSTREAM),
      new URL('stackdistiller/event_definitions.yaml', UPSTREAM),
      new URL('edge_definitions.yaml', GOLDEN),
    ]) {
      expect(() => Distiller.fromFile(fileURLToPath(file), { catchAll: true })).not.toThrow();
    }
  });

  it('applies YAML merge keys: exists events get the merged instance traits plus their own', () => {
    const d = Distiller.fromFile(fileURLToPath(new URL('sandbox/event_definitions.yaml', UPSTREAM)), { catchAll: false });
    const event = d.distill(
      notification({
        event_type: 'compute.instance.exists',
        payload: { memory_mb: 512, audit_period_ending: '2015-02-02 00:00:00' },
      }),
      NOW,
    );
    expect(event?.traits['memory_mb']).toBe(512n);
    expect(event?.traits['audit_period_ending']).toEqual(DateTime.of(2015, 2, 2));
  });

  it.each([
    ['not a list', { event_type: 'x' }, '', /must be a YAML list/],
    ['a definition that is not a mapping', ['x'], '[0]', /must be an event definition/],
    ['an unknown definition key', [{ event_type: 'x', traits: {}, trait: {} }], '[0].trait', /unknown key/],
    ['a missing event_type', [{ event_type: 'a', traits: {} }, { traits: {} }], '[1].event_type', /is required/],
    ['a numeric event_type', [{ event_type: 5, traits: {} }], '[0].event_type', /pattern string/],
    ['an empty event_type list', [{ event_type: [], traits: {} }], '[0].event_type', /non-empty list/],
    ['missing traits', [{ event_type: 'x' }], '[0].traits', /is required/],
    ['traits as a list', [{ event_type: 'x', traits: ['a'] }], '[0].traits', /must be a mapping/],
    ['a trait that is not a mapping', ONE_TRAIT('payload.a' as never), '[0].traits.t', /must be a trait definition/],
    ['an unknown trait key', ONE_TRAIT({ fields: 'a', typ: 'int' }), '[0].traits.t.typ', /unknown key/],
    ['missing fields', ONE_TRAIT({ type: 'int' }), '[0].traits.t.fields', /is required/],
    ['an empty fields list', ONE_TRAIT({ fields: [] }), '[0].traits.t.fields', /non-empty list/],
    ['a non-string path in fields', ONE_TRAIT({ fields: ['a', 3] }), '[0].traits.t.fields[1]', /JSONPath string/],
    ['a bad JSONPath', ONE_TRAIT({ fields: 'payload.' }), '[0].traits.t.fields', /unexpected end/],
    ['a bad JSONPath in a list', ONE_TRAIT({ fields: ['a', 'b]'] }), '[0].traits.t.fields[1]', /unexpected "]"/],
    ['an unknown type', ONE_TRAIT({ fields: 'a', type: 'integer' }), '[0].traits.t.type', /must be one of text, int, float, datetime/],
    ['a null type', ONE_TRAIT({ fields: 'a', type: null }), '[0].traits.t.type', /must be one of/],
    ['an unknown plugin name', ONE_TRAIT({ fields: 'a', plugin: 'map' }), '[0].traits.t.plugin', /unknown plugin "map"/],
    ['an unknown plugin in a mapping', ONE_TRAIT({ fields: 'a', plugin: { name: 'nope' } }), '[0].traits.t.plugin.name', /unknown plugin/],
    ['a plugin mapping without name', ONE_TRAIT({ fields: 'a', plugin: { parameters: {} } }), '[0].traits.t.plugin.name', /is required/],
    ['a plugin given as a list', ONE_TRAIT({ fields: 'a', plugin: ['split'] }), '[0].traits.t.plugin', /plugin name or/],
    ['plugin parameters as a list', ONE_TRAIT({ fields: 'a', plugin: { name: 'split', parameters: [1] } }), '[0].traits.t.plugin.parameters', /mapping of parameters/],
    ['a misspelt plugin parameter', ONE_TRAIT({ fields: 'a', plugin: { name: 'split', parameters: { max_splits: 1 } } }), '[0].traits.t.plugin.parameters.max_splits', /unknown parameter/],
    ['an empty separator', ONE_TRAIT({ fields: 'a', plugin: { name: 'split', parameters: { separator: '' } } }), '[0].traits.t.plugin.parameters.separator', /non-empty string/],
    ['a non-integer segment', ONE_TRAIT({ fields: 'a', plugin: { name: 'split', parameters: { segment: '1' } } }), '[0].traits.t.plugin.parameters.segment', /integer/],
    ['a flag without bit', ONE_TRAIT({ fields: 'a', plugin: { name: 'bitfield', parameters: { flags: [{ path: 'a' }] } } }), '[0].traits.t.plugin.parameters.flags[0].bit', /is required/],
    ['a flag without path', ONE_TRAIT({ fields: 'a', plugin: { name: 'bitfield', parameters: { flags: [{ bit: 1 }] } } }), '[0].traits.t.plugin.parameters.flags[0].path', /path string/],
    ['a negative bit', ONE_TRAIT({ fields: 'a', plugin: { name: 'bitfield', parameters: { flags: [{ path: 'a', bit: -1 }] } } }), '[0].traits.t.plugin.parameters.flags[0].bit', /negative/],
    ['flags that are not a list', ONE_TRAIT({ fields: 'a', plugin: { name: 'bitfield', parameters: { flags: 'a' } } }), '[0].traits.t.plugin.parameters.flags', /must be a list/],
    ['a trait named __proto__', [{ event_type: 'x', traits: JSON.parse('{"__proto__": {"fields": "a"}}') as unknown }], '[0].traits.__proto__', /not a usable trait name/],
  ])('rejects %s, naming the key path', (_what, definitions, keyPath, reason) => {
    const err = configError(definitions);
    expect(err.file).toBe('defs.yaml');
    expect(err.keyPath).toBe(keyPath);
    expect(err.reason).toMatch(reason);
    expect(err.message).toContain(`defs.yaml: ${keyPath ? `${keyPath}: ` : ''}`);
  });

  it('reports a custom plugin factory failure at its parameters', () => {
    const err = configError(ONE_TRAIT({ fields: 'a', plugin: 'strict' }), {
      strict: () => {
        throw new PluginParameterError('level', 'must be high');
      },
    });
    expect(err.keyPath).toBe('[0].traits.t.plugin.parameters.level');
    expect(err.reason).toBe('must be high');
  });

  describe('from a file', () => {
    const dir = mkdtempSync(join(tmpdir(), 'distiller-test-'));
    const write = (name: string, text: string): string => {
      const file = join(dir, name);
      writeFileSync(file, text);
      return file;
    };

    it('names the file when it cannot be read or is not YAML', () => {
      const missing = join(dir, 'missing.yaml');
      expect(() => Distiller.fromFile(missing, { catchAll: false })).toThrow(expect.objectContaining({ file: missing, reason: 'file not found' }));
      const bad = write('bad.yaml', '- event_type: [a,\n');
      expect(() => Distiller.fromFile(bad, { catchAll: false })).toThrow(expect.objectContaining({ file: bad, reason: expect.stringMatching(/YAML syntax/) }));
    });

    it('names the file and key path of a bad definition', () => {
      const file = write('type.yaml', '- event_type: a\n  traits: {}\n- event_type: b\n  traits:\n    memory_mb:\n      type: long\n      fields: payload.m\n');
      expect(() => Distiller.fromFile(file, { catchAll: false })).toThrow(expect.objectContaining({ file, keyPath: '[1].traits.memory_mb.type' }));
    });

    it('reads YAML 1.1 scalars as PyYAML does: an unquoted yes is a boolean', () => {
      const file = write(
        'yes.yaml',
        ['- event_type: test.*', '  traits:', '    bits:', '      type: int', '      fields: payload.on', '      plugin:', '        name: bitfield', '        parameters:', '          flags: [{path: payload.on, bit: 1, value: yes}]', ''].join('\n'),
      );
      const d = Distiller.fromFile(file, { catchAll: false });
      expect(d.distill(notification({ payload: { on: true } }), NOW)?.traits['bits']).toBe(2n);
      expect(d.distill(notification({ payload: { on: 'yes' } }), NOW)?.traits['bits']).toBe(0n);
    });
  });
});

describe('JSONPath', () => {
  const body = {
    publisher_id: 'compute.host-1',
    payload: {
      a: 1,
      'org.openstack__1__os': 'linux',
      thing: { bar: 'b1' },
      ips: [{ address: '10.0.0.1' }, { address: '10.0.0.2' }],
      list: ['zero', 'one', 'two'],
      host: 'h',
      nest: { x: { deep: 'd1' }, y: [{ deep: 'd2' }] },
      n: null,
    },
  };

  it.each([
    ['payload.a', [['payload.a', 1]]],
    ["payload.'org.openstack__1__os'", [['payload.org.openstack__1__os', 'linux']]],
    ['payload."org.openstack__1__os"', [['payload.org.openstack__1__os', 'linux']]],
    ['payload[host]', [['payload.host', 'h']]],
    ['payload.thing.bar', [['payload.thing.bar', 'b1']]],
    ['payload.ips[*].address', [['payload.ips.[0].address', '10.0.0.1'], ['payload.ips.[1].address', '10.0.0.2']]],
    ['payload.list[1]', [['payload.list.[1]', 'one']]],
    ['payload.list[-1]', [['payload.list.[-1]', 'two']]],
    ['payload.list[7]', []],
    ['payload..bar', [['payload.thing.bar', 'b1']]],
    ['payload..deep', [['payload.nest.x.deep', 'd1'], ['payload.nest.y.[0].deep', 'd2']]],
    ['payload.thing.*', [['payload.thing.bar', 'b1']]],
    ['payload.a,host', [['payload.a', 1], ['payload.host', 'h']]],
    ['payload.(host|a)', [['payload.host', 'h'], ['payload.a', 1]]],
    ['(payload.host)|(publisher_id)', [['payload.host', 'h'], ['publisher_id', 'compute.host-1']]],
    ['$.payload.a', [['payload.a', 1]]],
    ['payload.host[*]', [['payload.host.[0]', 'h']]],
    ['payload.thing[*]', [['payload.thing.[0]', { bar: 'b1' }]]],
    ['payload.host[0]', []],
    ['payload.thing[0]', []],
    ['payload.ips.address', []],
    ['payload.list.*', []],
    ['payload.a.b', []],
    ['payload.n', []],
    ['  payload . a ', [['payload.a', 1]]],
  ])('%s', (path, expected) => {
    expect(matches(path, body)).toEqual(expected);
  });

  it('binds | tighter than . as jsonpath-rw does: a.b|c.d means a.(b|c).d', () => {
    // publisher_id is looked for under payload, not at the top level
    expect(matches('payload.host|publisher_id', body)).toEqual([['payload.host', 'h']]);
    expect(matches('payload.thing|nest.bar', body)).toEqual([['payload.thing.bar', 'b1']]);
  });

  it('unions a fields list in order, earlier paths first, nulls dropped', () => {
    expect(matches(['payload.n', 'payload.host', 'publisher_id'], body)).toEqual([
      ['payload.host', 'h'],
      ['publisher_id', 'compute.host-1'],
    ]);
    expect(firstMatch('payload.n', body)).toBeUndefined();
    expect(compilePaths([parseJsonPath('payload.n'), parseJsonPath('publisher_id')]).first(body)).toBe('compute.host-1');
  });

  it('treats false, 0 and "" as real values: the earlier path wins', () => {
    expect(trait({ fields: ['payload.c', 'payload.b'] }, { c: false, b: 0 })).toBe('False');
    expect(trait({ fields: ['payload.b', 'payload.c'] }, { c: false, b: 0 })).toBe('0');
  });

  it('reaches top-level keys such as publisher_id and _context_*', () => {
    expect(firstMatch('_context_request_id', { _context_request_id: 'req-1' })).toBe('req-1');
  });

  it.each([
    ['', /unexpected end/],
    ['payload.', /unexpected end/],
    ['payload.0', /unexpected "0"/],
    ["payload.'open", /unterminated/],
    ['payload.ü', /illegal character/],
    ['a where b', /where/],
    ['a & b', /intersections/],
    ['a[1:2]', /slices/],
    ['`this`', /named operator/],
    ['(a', /unexpected end/],
  ])('rejects %j', (path, reason) => {
    expect(() => parseJsonPath(path)).toThrow(reason);
  });
});

describe('plugins', () => {
  const split = (parameters: Record<string, unknown> | null, publisher: unknown) =>
    traitsFrom({ t: { fields: 'publisher_id', plugin: parameters === null ? 'split' : { name: 'split', parameters } } }, { publisher_id: publisher })['t'];

  it.each([
    [null, 'compute.host-1', 'compute'],
    [{ segment: 1, max_split: 1 }, 'compute.host-1.example.com', 'host-1.example.com'],
    [{ segment: 1 }, 'compute.host-1.example.com', 'host-1'],
    [{ segment: -1 }, 'compute.host-1.example.com', 'com'],
    [{ segment: 1, max_split: 1 }, 'compute', undefined],
    [{ segment: -4 }, 'a.b.c', undefined],
    [{ segment: 1, max_split: 0 }, 'a.b', undefined],
    [{ segment: 2, max_split: -1 }, 'a.b.c', 'c'],
    [{ separator: '/', segment: 1 }, 'a/b.c/d', 'b.c'],
    [{ separator: '::', segment: 1 }, 'a::b::c', 'b'],
    [{ segment: 1, max_split: 1 }, 'compute.', ''],
    [null, 12345, '12345'],
    [{ segment: 1 }, true, undefined],
    [null, null, undefined],
    [{ separator: 'l', segment: 1, max_split: null }, 'hello', ''],
  ])('split %j of %j → %j', (parameters, publisher, expected) => {
    expect(split(parameters, publisher)).toBe(expected);
  });

  it('split without matches omits the trait', () => {
    expect(trait({ fields: 'payload.missing', plugin: 'split' }, {})).toBeUndefined();
  });

  const bitfield = (payload: unknown, type = 'int', initial?: number) =>
    trait(
      {
        type,
        fields: ['payload.a', 'payload.b', "payload.'c.d'"],
        plugin: {
          name: 'bitfield',
          parameters: {
            ...(initial === undefined ? {} : { initial_bitfield: initial }),
            flags: [
              { path: 'payload.a', bit: 0 },
              { path: 'payload.b', bit: 2, value: 'active' },
              { path: 'payload.c.d', bit: 62, value: 3 },
            ],
          },
        },
      },
      payload,
    );

  it.each([
    [{ a: 1, b: 'active' }, 5n],
    [{ a: 1, b: 'stopped' }, 1n],
    [{}, 0n],
    [{ a: null }, 0n],
    [{ 'c.d': 3.0 }, 2n ** 62n],
    [{ 'c.d': '3' }, 0n],
    [{ a: false }, 1n],
  ])('bitfield of %j → %s', (payload, expected) => {
    expect(bitfield(payload)).toBe(expected);
  });

  it('bitfield starts from initial_bitfield and is text "5" with the default type', () => {
    expect(bitfield({}, 'int', 8)).toBe(8n);
    expect(bitfield({ a: 1, b: 'active' }, 'text')).toBe('5');
  });

  it('bitfield compares like Python ==: True equals 1', () => {
    const t = trait(
      { type: 'int', fields: 'payload.x', plugin: { name: 'bitfield', parameters: { flags: [{ path: 'payload.x', bit: 1, value: 1 }] } } },
      { x: true },
    );
    expect(t).toBe(2n);
  });

  it('passes plugins every match with path strings, even when there are none', () => {
    const seen: TraitMatch[][] = [];
    const record: TraitPluginFactory = () => ({
      traitValue: (found) => {
        seen.push([...found]);
        return found.length;
      },
    });
    const options = { catchAll: false, plugins: { record } };
    traitsFrom({ t: { type: 'int', fields: ['payload.ips[*].address', "payload.image_meta.'org.x'"], plugin: 'record' } }, { payload: { ips: [{ address: 'a' }], image_meta: { 'org.x': 'y' } } }, options);
    traitsFrom({ t: { fields: 'payload.none', plugin: 'record' } }, { payload: {} }, options);
    expect(seen).toEqual([
      [
        ['payload.ips.[0].address', 'a'],
        ['payload.image_meta.org.x', 'y'],
      ],
      [],
    ]);
  });

  it('turns a plugin that throws while distilling into a poison message', () => {
    const broken: TraitPluginFactory = () => ({
      traitValue: () => {
        throw new TypeError('boom');
      },
    });
    expect(() => traitsFrom({ t: { fields: 'payload.a', plugin: 'broken' } }, { payload: { a: 1 } }, { catchAll: false, plugins: { broken } })).toThrow(
      new PoisonMessageError('test.thing (message_id msg-1): trait t (text): unexpected TypeError: boom'),
    );
  });

  it('lets extra plugins replace a built-in one and receive their parameters', () => {
    const split: TraitPluginFactory = (parameters) => ({ traitValue: () => `custom-${String(parameters['tag'])}` });
    const t = traitsFrom({ t: { fields: 'publisher_id', plugin: { name: 'split', parameters: { tag: 7 } } } }, {}, { catchAll: false, plugins: { split } });
    expect(t['t']).toBe('custom-7');
  });
});

describe('conversions', () => {
  it.each([
    ['Ünïcødé ☃ 😀', 'Ünïcødé ☃ 😀'],
    ['', ''],
    [true, 'True'],
    [false, 'False'],
    [12, '12'],
    [-7, '-7'],
    [3.7, '3.7'],
    [0.1 + 0.2, '0.30000000000000004'],
    [1e-7, '1e-07'],
    [0.0001, '0.0001'],
    [1e16, '1e+16'],
    [1e15 + 0.5, '1000000000000000.5'],
    [-0, '-0.0'],
    [2 ** 53, '9007199254740992.0'],
    [1.5e300, '1.5e+300'],
    [12345678901234567890n, '12345678901234567890'],
    [['a', 'b'], "['a', 'b']"],
    [{ k: 'v', n: 1 }, "{'k': 'v', 'n': 1}"],
    [[null, true, 1.5, [], {}], '[None, True, 1.5, [], {}]'],
    [["it's", 'say "hi"', 'both \' "', 'tab\t\\', '\u0001\u00a0é'], `["it's", 'say "hi"', 'both \\' "', 'tab\\t\\\\', '\\x01\\xa0é']`],
  ])('text of %s is %s', (value, expected) => {
    expect(toText(value)).toBe(expected);
  });

  it('keeps long strings whole', () => {
    expect(trait({ fields: 'payload.s' }, { s: 'x'.repeat(20_000) })).toHaveLength(20_000);
  });

  it.each([
    ['20', 20n],
    [' -3 ', -3n],
    ['+7', 7n],
    ['\t42\n', 42n],
    ['007', 7n],
    [3.9, 3n],
    [-3.9, -3n],
    [true, 1n],
    [false, 0n],
    [0, 0n],
    ['9223372036854775807', 9223372036854775807n],
    ['-9223372036854775808', -9223372036854775808n],
    // beyond BIGINT: a text trait with Python's str() of the exact integer
    ['9223372036854775808', '9223372036854775808'],
    ['-9223372036854775809', '-9223372036854775809'],
    [1e300, BigInt(1e300).toString()],
  ])('int of %j is %s', (value, expected) => {
    expect(toInt(value)).toBe(expected);
  });

  it.each([
    ['3.5', /not a base-10 integer/],
    ['1e3', /not a base-10 integer/],
    ['0x10', /not a base-10 integer/],
    ['1_000', /not a base-10 integer/],
    ['٣', /not a base-10 integer/],
    [' ', /not a base-10 integer/],
    ['12abc', /not a base-10 integer/],
    [[1, 2], /not a string or a number/],
    [{ a: 1 }, /not a string or a number/],
    [Infinity, /cannot convert float inf/],
  ])('int of %j fails', (value, reason) => {
    expect(() => toInt(value)).toThrow(reason);
  });

  it.each([
    ['1e3', 1000],
    [' 2.5 ', 2.5],
    ['-.5', -0.5],
    ['1.', 1],
    ['nan', NaN],
    ['-inf', -Infinity],
    ['Infinity', Infinity],
    ['+INF', Infinity],
    [true, 1],
    [7, 7],
    [2n ** 62n, 2 ** 62],
  ])('float of %s is %d', (value, expected) => {
    expect(toFloat(value)).toBe(expected);
  });

  it.each([['abc'], ['1,5'], ['1_0'], [''], [[1]], [null]])('float of %j fails', (value) => {
    expect(() => toFloat(value)).toThrow(/not a float literal|not a string or a number/);
  });

  it.each([
    ['2015-02-27 15:27:18.603932', DateTime.of(2015, 2, 27, 15, 27, 18, 603932)],
    ['2015-02-27T15:27:18+02:00', DateTime.of(2015, 2, 27, 13, 27, 18)],
    ['2015-02-27T15:27:18-0230', DateTime.of(2015, 2, 27, 17, 57, 18)],
    ['2015-02-27T15:27:18+05', DateTime.of(2015, 2, 27, 10, 27, 18)],
    ['2015-02-27T15:27:18Z', DateTime.of(2015, 2, 27, 15, 27, 18)],
    ['2015-02-27', DateTime.of(2015, 2, 27)],
    ['2015', DateTime.of(2015, 1, 1)],
    ['2015-02', DateTime.of(2015, 2, 1)],
    ['2015-2-7', DateTime.of(2015, 2, 7)],
    ['20150227', DateTime.of(2015, 2, 27)],
    ['20150227T152718', DateTime.of(2015, 2, 27, 15, 27, 18)],
    ['2015-02-27T15', DateTime.of(2015, 2, 27, 15)],
    ['2015-02-27 15:27', DateTime.of(2015, 2, 27, 15, 27)],
    ['2015-02-27 15:27:18.1234567', DateTime.of(2015, 2, 27, 15, 27, 18, 123456)],
    ['2015-02-27 15:27:18.5', DateTime.of(2015, 2, 27, 15, 27, 18, 500000)],
    ['2015-01-01T00:30:00+01:00', DateTime.of(2014, 12, 31, 23, 30)],
  ])('datetime of %j', (text, expected) => {
    expect(parseIso8601(text)).toEqual(expected);
  });

  it.each([
    '2015-02-27T15:27:18,5',
    ' 2015-02-27',
    '2015-02-27 ',
    '2015-02-30',
    '2015-02-27T24:00:00',
    '2015-02-27T12:00:60',
    '201502',
    '2015-02Z',
    '2015-02-27Z',
    '2015-02-27t12:00',
    '2015-02-27T12:00:00+24:00',
    '0001-01-01T00:00:00+01:00',
    'yesterday',
    '',
  ])('datetime of %j fails', (text) => {
    expect(() => toDateTime(text)).toThrow();
  });

  it('datetime needs a string', () => {
    expect(() => toDateTime(1422792000)).toThrow(/not a date string/);
    expect(() => toDateTime(true)).toThrow(/not a date string/);
  });

  it('omits "" for non-text types but keeps it for text; omits null', () => {
    const traits = traitsFrom(
      {
        i: { type: 'int', fields: 'payload.v' },
        f: { type: 'float', fields: 'payload.v' },
        d: { type: 'datetime', fields: 'payload.v' },
        s: { fields: 'payload.v' },
        n: { fields: 'payload.n' },
      },
      { payload: { v: '', n: null } },
    );
    expect(traits).not.toHaveProperty('i');
    expect(traits).not.toHaveProperty('f');
    expect(traits).not.toHaveProperty('d');
    expect(traits).not.toHaveProperty('n');
    expect(traits['s']).toBe('');
  });

  it('a non-text trait skips "" and takes the next alternative of its union; text keeps "" (departure from upstream)', () => {
    const fields = ['payload.a', 'payload.b'];
    const traits = traitsFrom(
      {
        i: { type: 'int', fields },
        f: { type: 'float', fields },
        d: { type: 'datetime', fields: ['payload.a', 'payload.c'] },
        s: { fields },
        deep: { type: 'int', fields: 'payload..x' },
      },
      { payload: { a: '', b: '7', c: '2015-02-01 10:00:00', n: { x: '' }, m: { x: 8 } } },
    );
    expect(traits).toEqual({ i: 7n, f: 7, d: DateTime.of(2015, 2, 1, 10), s: '', deep: 8n });
  });

  it('a plugin still receives "" among its matches', () => {
    const seen: unknown[] = [];
    const plugins: Record<string, TraitPluginFactory> = { spy: () => ({ traitValue: (m: readonly TraitMatch[]) => (seen.push(...m.map(([, v]) => v)), null) }) };
    traitsFrom({ t: { type: 'int', fields: ['payload.a', 'payload.b'], plugin: 'spy' } }, { payload: { a: '', b: 1 } }, { catchAll: false, plugins });
    expect(seen).toEqual(['', 1]);
  });

  it('fails the whole notification with a poison message naming event, message, trait and value', () => {
    const d = distiller([{ event_type: 'test.*', traits: { memory_mb: { type: 'int', fields: 'payload.memory_mb' } } }]);
    expect(() => d.distill(notification({ payload: { memory_mb: '12abc' } }), NOW)).toThrow(
      new PoisonMessageError('test.thing (message_id msg-1): trait memory_mb (int): "12abc" is not a base-10 integer literal'),
    );
  });
});

describe('envelope', () => {
  const d = distiller([{ event_type: 'test.*', traits: { x: { fields: 'payload.x' } } }]);

  it.each([
    [{ event_type: undefined }, /has no event_type/],
    [{ message_id: undefined }, /has no message_id/],
    [{ event_type: 5 }, /event_type must be a string, not 5/],
    [{ message_id: null }, /message_id must be a string, not None/],
  ])('rejects %j', (fields, reason) => {
    const body = notification(fields);
    for (const [key, value] of Object.entries(fields)) if (value === undefined) delete body[key];
    expect(() => d.distill(body, NOW)).toThrow(PoisonMessageError);
    expect(() => d.distill(body, NOW)).toThrow(reason);
  });

  it.each([
    [{ timestamp: '2015-02-01 12:00:00.5' }, DateTime.of(2015, 2, 1, 12, 0, 0, 500000)],
    [{ timestamp: undefined, _context_timestamp: '2015-02-01 13:00:00' }, DateTime.of(2015, 2, 1, 13)],
    [{ timestamp: undefined }, NOW],
    [{ timestamp: null, _context_timestamp: '2015-02-01 13:00:00' }, NOW],
    [{ timestamp: '', _context_timestamp: '2015-02-01 13:00:00' }, NOW],
    [{ timestamp: 0 }, NOW],
    [{ timestamp: '2015-02-01T12:00:00+05:30' }, DateTime.of(2015, 2, 1, 6, 30)],
  ])('takes the time from %j', (fields, expected) => {
    const body = notification(fields);
    if (fields.timestamp === undefined) delete body['timestamp'];
    expect(d.distill(body, NOW)?.timestamp).toEqual(expected);
  });

  it.each([[{ timestamp: 'not a date' }], [{ timestamp: 1422792000 }], [{ timestamp: undefined, _context_timestamp: 'soon' }]])(
    'rejects a bad time %j',
    (fields) => {
      const body = notification(fields);
      if (fields.timestamp === undefined) delete body['timestamp'];
      expect(() => d.distill(body, NOW)).toThrow(/test\.thing \(message_id msg-1\): (_context_)?timestamp: /);
    },
  );

  it('lets the envelope win over traits of the same name, but still converts them', () => {
    const shadowing = distiller([
      {
        event_type: 'test.*',
        traits: {
          message_id: { fields: 'payload.m' },
          timestamp: { type: 'datetime', fields: 'payload.t' },
          event_type: { fields: 'payload.e' },
        },
      },
    ]);
    const event = shadowing.distill(notification({ payload: { m: 'other', t: '2000-01-01', e: 'other' }, publisher_id: 'p' }), NOW)!;
    expect(event.messageId).toBe('msg-1');
    expect(event.eventType).toBe('test.thing');
    expect(event.timestamp).toEqual(DateTime.of(2015, 2, 1));
    expect(Object.keys(event.traits)).toEqual(['service']);
    expect(() => shadowing.distill(notification({ payload: { t: 'garbage' } }), NOW)).toThrow(/trait timestamp \(datetime\)/);
  });

  it('adds the default traits, which a definition may override', () => {
    const body = notification({ publisher_id: 'compute.h', _context_request_id: 'req-1', _context_tenant: 'ctx-t', payload: { x: 'y' } });
    expect(d.distill(body, NOW)?.traits).toEqual({ service: 'compute.h', request_id: 'req-1', tenant_id: 'ctx-t', x: 'y' });
    expect(d.distill({ ...body, payload: { tenant_id: 'pt' } }, NOW)?.traits['tenant_id']).toBe('pt');
    const override = distiller([{ event_type: 'test.*', traits: { tenant_id: { fields: 'payload.tenant_id' } } }]);
    expect(override.distill(body, NOW)?.traits).not.toHaveProperty('tenant_id');
  });

  it('tells dropped (null) from distilled-without-traits (not valid for storage)', () => {
    const event = d.distill(notification(), NOW);
    expect(event).not.toBeNull();
    expect(event!.traits).toEqual({});
    expect(isValidForStorage(event!)).toBe(false);
    expect(isValidForStorage(d.distill(notification({ payload: { x: 'y' } }), NOW)!)).toBe(true);
    expect(d.distill(notification({ event_type: 'other.thing' }), NOW)).toBeNull();
    expect(isValidForStorage({ ...event!, traits: { x: null } })).toBe(false);
  });
});

describe('definition lookup', () => {
  const mark = (name: string) => ({ [name]: { fields: 'event_type' } });
  const typeOf = (d: Distiller, eventType: string) => {
    const event = d.distill(notification({ event_type: eventType, publisher_id: 'p' }), NOW);
    return event === null ? null : Object.keys(event.traits).filter((k) => k !== 'service');
  };

  it('scans definitions last-first: a later specific definition overrides an earlier generic one', () => {
    const d = distiller([
      { event_type: 'compute.instance.*', traits: mark('generic') },
      { event_type: 'compute.instance.exists', traits: mark('exists') },
    ]);
    expect(typeOf(d, 'compute.instance.exists')).toEqual(['exists']);
    expect(typeOf(d, 'compute.instance.exists.verified')).toEqual(['generic']);
    expect(typeOf(d, 'compute.instance')).toBeNull();
    expect(typeOf(d, 'Compute.Instance.Exists')).toBeNull();
  });

  it('lets a broad definition placed last shadow everything above it', () => {
    const d = distiller([
      { event_type: 'compute.*', traits: mark('compute') },
      { event_type: '*', traits: mark('all') },
    ]);
    expect(typeOf(d, 'compute.instance.update')).toEqual(['all']);
  });

  it('skips a definition whose ! exclusion matches, and treats only-exclusions as "everything else"', () => {
    const d = distiller([
      { event_type: ['!compute.*'], traits: mark('not_compute') },
      { event_type: 'edge.*', traits: mark('edge') },
      { event_type: ['edge.*', '!edge.excluded.*'], traits: mark('edge_not_excluded') },
    ]);
    expect(typeOf(d, 'edge.thing')).toEqual(['edge_not_excluded']);
    expect(typeOf(d, 'edge.excluded.x')).toEqual(['edge']);
    expect(typeOf(d, 'image.upload')).toEqual(['not_compute']);
    expect(typeOf(d, 'compute.instance.update')).toBeNull();
  });

  it('with catch-all, keeps unmatched notifications with the default traits only', () => {
    const defs = [{ event_type: 'compute.*', traits: mark('compute') }];
    expect(typeOf(distiller(defs), 'image.upload')).toBeNull();
    expect(typeOf(distiller(defs, { catchAll: true }), 'image.upload')).toEqual([]);
    expect(typeOf(distiller(defs, { catchAll: true }), 'compute.x')).toEqual(['compute']);
  });

  it('keeps a catch-all from the file in its place; ["*", "!x"] and ["!x"] are not catch-alls', () => {
    const withStar = [
      { event_type: '*', traits: mark('star') },
      { event_type: 'compute.*', traits: mark('compute') },
    ];
    expect(typeOf(distiller(withStar, { catchAll: true }), 'image.upload')).toEqual(['star']);
    expect(typeOf(distiller(withStar, { catchAll: true }), 'compute.x')).toEqual(['compute']);
    expect(typeOf(distiller([{ event_type: ['*', 'foo'], traits: mark('star') }], { catchAll: true }), 'x')).toEqual(['star']);
    for (const eventType of [['*', '!image.*'], ['!image.*']]) {
      const defs = [{ event_type: eventType, traits: mark('most') }];
      expect(typeOf(distiller(defs, { catchAll: true }), 'image.upload')).toEqual([]);
      expect(typeOf(distiller(defs, { catchAll: false }), 'image.upload')).toBeNull();
      expect(typeOf(distiller(defs, { catchAll: true }), 'compute.x')).toEqual(['most']);
    }
  });

  it('matches fnmatch globs: ? is one character, [seq] a set, * spans dots', () => {
    const d = distiller([{ event_type: ['a.?', 'b.[xy]', 'c.*'], traits: mark('m') }]);
    expect(typeOf(d, 'a.1')).toEqual(['m']);
    expect(typeOf(d, 'a.12')).toBeNull();
    expect(typeOf(d, 'b.y')).toEqual(['m']);
    expect(typeOf(d, 'b.z')).toBeNull();
    expect(typeOf(d, 'c.d.e')).toEqual(['m']);
  });
});
