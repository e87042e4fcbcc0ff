/**
 * Numbers from the wire to storage (invariant 9, spec §3.3 step 4, Appendix B): a body's
 * integers stay exact through decodeNotification and the distiller, text traits print what
 * Python's str() printed (`1.0`, `1e+16`, 20-digit ints), int traits stay within BIGINT (beyond
 * it they become text), and the stored event.traits JSON and the stream key keep every digit.
 * Whether a body took the JSON.parse fast path or the exact parser must never show in a result.
 */
import fc from 'fast-check';
import { readFileSync } from 'node:fs';
import { fileURLToPath } from 'node:url';
import { describe, expect, it } from 'vitest';
import { decodeNotification } from '../../src/shared/amqp/oslo.js';
import { Distiller } from '../../src/shared/distiller/index.js';
import { loads } from '../../src/shared/distiller/python-json.js';
import type { Event } from '../../src/shared/event.js';
import { decodeTraits, encodeTraits } from '../../src/shared/store/trait-codec.js';
import { DateTime } from '../../src/shared/time.js';
import { decodeDistinguishingKey, distinguishingKey } from '../../src/shared/triggers/index.js';

const NOW = DateTime.of(2020, 1, 1);
const UPSTREAM = new URL('../../fixtures/stacktach-upstream/', import.meta.url);
const GOLDEN = new URL('../../fixtures/golden/distiller/', import.meta.url);

const numbers = Distiller.fromDefinitions(
  [
    {
      event_type: 'test.*',
      traits: {
        i: { type: 'int', fields: 'payload.v' },
        t: { fields: 'payload.v' },
        f: { type: 'float', fields: 'payload.v' },
        s1: { fields: 'payload.v', plugin: { name: 'split', parameters: { segment: 1 } } },
        bits: { type: 'int', fields: 'payload.v', plugin: { name: 'bitfield', parameters: { flags: [{ path: 'payload.v', bit: 0, value: 9007199254740992 }] } } },
      },
    },
  ],
  'inline',
  { catchAll: false },
);

const body = (value: string): string => `{"event_type": "test.number", "message_id": "m-1", "timestamp": "2015-02-01 00:00:00", "payload": {"v": ${value}}}`;

/** The same body through every path: JSON.parse fast path (bytes, text, envelope) and the exact parser. */
function everyWay(text: string): Event[] {
  const envelope = JSON.stringify({ 'oslo.version': '2.0', 'oslo.message': text });
  const inputs = [decodeNotification(Buffer.from(text)), decodeNotification(text), decodeNotification(Buffer.from(envelope)), loads(text) as Record<string, unknown>];
  return inputs.map((n) => numbers.distill(n, NOW)!);
}

describe('a number in a body, as each trait type sees it', () => {
  it.each([
    // written            int                      text                     float
    ['9007199254740993', 9007199254740993n, '9007199254740993', 9007199254740992],
    ['9223372036854775807', 9223372036854775807n, '9223372036854775807', 2 ** 63],
    ['-9223372036854775808', -9223372036854775808n, '-9223372036854775808', -(2 ** 63)],
    ['9223372036854775808', '9223372036854775808', '9223372036854775808', 2 ** 63],
    ['18446744073709551616', '18446744073709551616', '18446744073709551616', 2 ** 64],
    ['10000000000000000', 10000000000000000n, '10000000000000000', 1e16],
    ['1e16', 10000000000000000n, '1e+16', 1e16],
    ['9007199254740992.0', 9007199254740992n, '9007199254740992.0', 2 ** 53],
    ['1.0', 1n, '1.0', 1],
    ['1', 1n, '1', 1],
    ['-0', 0n, '0', 0],
    ['-0.0', 0n, '-0.0', -0],
    ['0.1', 0n, '0.1', 0.1],
    ['1e-7', 0n, '1e-07', 1e-7],
    ['-3.9', -3n, '-3.9', -3.9],
  ])('%s → int %s, text %j, float %s', (written, int, text, float) => {
    for (const event of everyWay(body(written))) {
      expect(event.traits['i']).toBe(int);
      expect(event.traits['t']).toBe(text);
      expect(event.traits['f']).toBe(float);
    }
  });

  it('NaN and ±Infinity: text "nan"/"inf", float as is; an int trait cannot hold them (poison)', () => {
    const floats = Distiller.fromDefinitions([{ event_type: 'test.*', traits: { t: { fields: 'payload.v' }, f: { type: 'float', fields: 'payload.v' } } }], 'inline', { catchAll: false });
    for (const [written, text, float] of [['NaN', 'nan', NaN], ['Infinity', 'inf', Infinity], ['-Infinity', '-inf', -Infinity]] as const) {
      const event = floats.distill(decodeNotification(body(written)), NOW)!;
      expect(event.traits).toEqual({ t: text, f: float });
      expect(() => numbers.distill(decodeNotification(body(written)), NOW)).toThrow(/trait i \(int\): cannot convert float/);
    }
  });

  it('str() of containers prints their floats as Python does', () => {
    const text = Distiller.fromDefinitions([{ event_type: 'test.*', traits: { t: { fields: 'payload.v' } } }], 'inline', { catchAll: false });
    const written = body('[1.0, 2, {"k": 2e3, "n": -0.0, "b": 12345678901234567890}]');
    for (const n of [decodeNotification(written), loads(written) as Record<string, unknown>]) {
      expect(text.distill(n, NOW)!.traits['t']).toBe("[1.0, 2, {'k': 2000.0, 'n': -0.0, 'b': 12345678901234567890}]");
    }
  });

  it('a whole-valued float is a number to JSONPath, not an object with a value field', () => {
    const paths = Distiller.fromDefinitions(
      [{ event_type: 'test.*', traits: { field: { fields: 'payload.v.value' }, star: { fields: 'payload.v.*' }, every: { fields: 'payload.v[*]' } } }],
      'inline',
      { catchAll: false },
    );
    expect(paths.distill(loads(body('1.0')) as Record<string, unknown>, NOW)!.traits).toEqual({ every: '1.0' });
  });

  it('an envelope timestamp of 0.0 is falsy, as in Python: the event time is now', () => {
    const text = '{"event_type": "test.number", "message_id": "m-1", "timestamp": 0.0, "payload": {"v": 1}}';
    for (const n of [decodeNotification(text), loads(text) as Record<string, unknown>]) expect(numbers.distill(n, NOW)!.timestamp).toEqual(NOW);
  });

  it('split applies str() first: 12.0 has a segment 1', () => {
    for (const event of everyWay(body('12.0'))) expect(event.traits['s1']).toBe('0');
  });

  it('bitfield compares exactly: 9007199254740993 is not the flag value 9007199254740992', () => {
    for (const event of everyWay(body('9007199254740993'))) expect(event.traits['bits']).toBe(0n);
    for (const event of everyWay(body('9007199254740992'))) expect(event.traits['bits']).toBe(1n);
  });
});

describe('the fast path never changes a result', () => {
  const lines = (name: string): string[] => readFileSync(new URL(name, GOLDEN), 'utf8').trim().split('\n');
  // Each edge line is {"name", "note", "notification"} with keys sorted: the notification's text ends the line.
  const edgeTexts = lines('edge-notifications.jsonl').map((line) => line.slice(line.indexOf('"notification": ') + '"notification": '.length, -1));
  const texts = [...lines('notifications.jsonl'), ...edgeTexts];

  it.each(['sandbox', 'winchester-etc'])('%s definitions, golden notigen and edge notifications', (name) => {
    const distiller = Distiller.fromFile(fileURLToPath(new URL(`${name}/event_definitions.yaml`, UPSTREAM)), { catchAll: true });
    const outcome = (n: Record<string, unknown>): unknown => {
      try {
        return distiller.distill(n, NOW);
      } catch (err) {
        return (err as Error).message;
      }
    };
    expect(texts).toHaveLength(301 + 61);
    for (const text of texts) expect(outcome(decodeNotification(text))).toEqual(outcome(loads(text) as Record<string, unknown>));
  });
});

describe('property: any integer round-trips exactly from the body to storage and the stream key', () => {
  const BIGINT_MIN = -(2n ** 63n);
  const BIGINT_MAX = 2n ** 63n - 1n;
  const integers = fc.oneof(
    fc.bigInt({ min: 0n, max: 2n ** 64n }),
    fc.bigInt({ min: -(2n ** 64n), max: 0n }),
    fc.bigInt({ min: -(2n ** 54n), max: 2n ** 54n }),
    fc.constantFrom(0n, 2n ** 53n - 1n, 2n ** 53n, 2n ** 53n + 1n, BIGINT_MAX, BIGINT_MAX + 1n, BIGINT_MIN, BIGINT_MIN - 1n, 2n ** 64n, -(2n ** 64n)),
  );

  it('decode → distill → event.traits JSON → decode, and → distinguishing key → decode', () => {
    fc.assert(
      fc.property(integers, fc.boolean(), (n, envelope) => {
        const text = body(n.toString());
        const event = numbers.distill(decodeNotification(envelope ? JSON.stringify({ 'oslo.version': '2.0', 'oslo.message': text }) : Buffer.from(text)), NOW)!;
        const inRange = n >= BIGINT_MIN && n <= BIGINT_MAX;
        expect(event.traits['i']).toBe(inRange ? n : n.toString());
        expect(event.traits['t']).toBe(n.toString());

        const stored = encodeTraits({ i: event.traits['i']!, t: event.traits['t']! });
        expect(stored).toContain(`"${n.toString()}"`);
        expect(decodeTraits(stored)).toEqual({ i: event.traits['i'], t: n.toString() });

        const values = [
          { name: 'i', value: event.traits['i']! },
          { name: 't', value: event.traits['t']! },
        ];
        expect(decodeDistinguishingKey(distinguishingKey(values))).toEqual(values);
      }),
      { numRuns: 2000 },
    );
  });
});
