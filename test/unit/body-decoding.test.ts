/**
 * Body decoding (spec §2.5, invariants 6 and 9): Python's json.loads semantics in
 * distiller/python-json.ts, and decodeNotification's compression, charset, UTF-8 and envelope
 * handling in amqp/oslo.ts.
 */
import { brotliCompressSync, deflateSync, gzipSync } from 'node:zlib';
import { describe, expect, it } from 'vitest';
import { decodeNotification, MAX_INFLATED_BYTES, type BodyProperties } from '../../src/shared/amqp/oslo.js';
import { guardAmbiguity, hasAmbiguousNumbers, loads, loadsFast, PyFloat, requireExact } from '../../src/shared/distiller/python-json.js';
import { PoisonMessageError } from '../../src/shared/errors.js';

function poisonReason(body: Buffer | string, properties?: BodyProperties): string {
  try {
    decodeNotification(body, properties);
  } catch (err) {
    if (err instanceof PoisonMessageError) return err.message;
    throw err;
  }
  throw new Error('not poison');
}

describe('loads: JSON as Python json.loads reads it', () => {
  it.each([
    ['0', 0],
    ['-0', 0],
    ['-12', -12],
    ['999999999999999', 999999999999999],
    ['9007199254740991', 9007199254740991],
    ['-9007199254740991', -9007199254740991],
    ['9007199254740992', 9007199254740992n],
    ['9007199254740993', 9007199254740993n],
    ['9223372036854775807', 9223372036854775807n],
    ['-9223372036854775808', -9223372036854775808n],
    ['18446744073709551616', 18446744073709551616n],
    ['2.5', 2.5],
    ['1e-7', 1e-7],
    ['1e16', 1e16],
    ['1e400', Infinity],
    ['-0.0', -0],
    ['NaN', NaN],
    ['Infinity', Infinity],
    ['-Infinity', -Infinity],
  ])('%s', (text, expected) => {
    expect(loads(text)).toStrictEqual(expected);
    expect(loads(`[${text}]`)).toStrictEqual([expected]);
  });

  it.each([
    ['1.0', 1],
    ['2e3', 2000],
    ['1.5e1', 15],
    ['-3.0', -3],
    ['0.0', 0],
    ['1.00000000000000001', 1],
  ])('float %s whose value is a whole number is a PyFloat', (text, value) => {
    expect(loads(text)).toEqual(new PyFloat(value));
  });

  it('PyFloat compares by value, and has no string keys for JSONPath to find', () => {
    expect(new PyFloat(1)).toEqual(new PyFloat(1));
    expect(new PyFloat(1)).not.toEqual(new PyFloat(2));
    expect(new PyFloat(2).value).toBe(2);
    expect(Object.keys(new PyFloat(2))).toEqual([]);
  });

  it('leaves strings alone, whatever they contain', () => {
    const text = String.raw`{"a": "1.0 NaN 9007199254740993 \" 2.0", "b\"c": "\\", "d": "\u0041", "e": 1.0}`;
    expect(loads(text)).toEqual({ a: '1.0 NaN 9007199254740993 " 2.0', 'b"c': '\\', d: 'A', e: new PyFloat(1) });
  });

  it('keeps a "__proto__" key as a plain own key (the prototype is untouched)', () => {
    const value = loads('{"__proto__": {"x": 1.0}, "y": 2}') as Record<string, unknown>;
    expect(Object.getPrototypeOf(value)).toBe(Object.prototype);
    expect(Object.keys(value)).toEqual(['__proto__', 'y']);
    expect(Object.getOwnPropertyDescriptor(value, '__proto__')?.value).toEqual({ x: new PyFloat(1) });
  });

  it('duplicate keys: the last one wins, as in Python', () => {
    expect(loads('{"a": 1, "a": 2.0}')).toEqual({ a: new PyFloat(2) });
  });

  it.each([
    ['{"a": 01}', /position 7/],
    ['{"a": 1.}', /position 8/],
    ['{"a": -NaN}', /misplaced/],
    ['{"a": NaN1}', /misplaced/],
    ['{"a": nan}', /nan/],
    ['{"a": Inf}', /Inf/],
    ['{"a": NaN, "b": x}', /'x'/],
    ['{"a": +1}', /\+/],
    ['{"a": 1', /position 7|end of JSON/],
    [`{"a": 1${'0'.repeat(4300)}}`, /4301 digits at position 6 exceeds Python's limit of 4300 digits/],
  ])('refuses %j', (text, reason) => {
    expect(() => loads(text)).toThrow(SyntaxError);
    expect(() => loads(text)).toThrow(reason);
  });

  it('accepts an integer of 4300 digits exactly', () => {
    const digits = `9${'0'.repeat(4299)}`;
    expect(loads(digits)).toBe(BigInt(digits));
  });
});

describe('loadsFast and the restart on ambiguous numbers', () => {
  it('is JSON.parse when JSON.parse accepts the text, and loads otherwise', () => {
    expect(loadsFast('{"a": 1.0, "b": 9007199254740993}')).toEqual({ a: 1, b: 2 ** 53 }); // rounded: ambiguous
    expect(loadsFast('{"a": NaN, "b": 9007199254740993}')).toEqual({ a: NaN, b: 9007199254740993n });
  });

  it('guardAmbiguity runs the work again on the exact parse when the work needs it', () => {
    const root = loadsFast('{"a": 1.0, "b": 2}') as Record<string, unknown>;
    const seen: unknown[] = [];
    const result = guardAmbiguity(root, (value) => {
      const a = (value as Record<string, unknown>)['a'];
      seen.push(a);
      if (typeof a === 'number') requireExact();
      return a;
    });
    expect(seen).toEqual([1, new PyFloat(1)]);
    expect(result).toEqual(new PyFloat(1));
  });

  it.each([
    ['{"a": 1, "t": "2015-02-01 10:00:00.5", "ip": "10.0.0.1"}', false],
    ['{"a": 2.5, "b": -0.0, "c": 1.5e300, "d": 9007199254740991}', false],
    ['{"a": 1.0}', true],
    ['{"a": [2, 3.0 ]}', true],
    ['{"a": 1e3}', true],
    ['{"a":0.0}', true],
    ['{"a": 9007199254740993}', true],
    ['{"a": -0}', true],
    ['{"s": "x: 1.0, y"}', true], // inside a string: a needless exact parse, never a wrong value
  ])('hasAmbiguousNumbers(%j) is %s', (text, expected) => {
    expect(hasAmbiguousNumbers(text)).toBe(expected);
  });

  it('a body without ambiguous tokens is not parsed again, however often the work asks', () => {
    const root = loadsFast('{"a": 1, "b": 2.5}') as object;
    let runs = 0;
    guardAmbiguity(root, () => {
      runs++;
      requireExact();
      requireExact();
    });
    expect(runs).toBe(1);
  });

  it('does not run twice when the work never asks, nor for objects that did not come from loadsFast', () => {
    const root = loadsFast('{"a": 1.0}') as object;
    let runs = 0;
    guardAmbiguity(root, () => runs++);
    guardAmbiguity({ a: 1 }, () => {
      runs++;
      requireExact(); // unguarded: nothing happens
    });
    expect(runs).toBe(2);
  });

  it('a copy of a loadsFast() result is not tied to the original text (no re-parse undoes an edit)', () => {
    const root = loadsFast('{"a": 1.0}') as Record<string, unknown>;
    expect(Object.keys(root)).toEqual(['a']);
    const copy = { ...root, a: 5 };
    expect(guardAmbiguity(copy, (value) => {
      requireExact();
      return value;
    })).toBe(copy);
  });

  it('lets other errors through and is unguarded afterwards', () => {
    const root = loadsFast('{"a": 1}') as object;
    expect(() => guardAmbiguity(root, () => {
      throw new RangeError('boom');
    })).toThrow('boom');
    expect(() => requireExact()).not.toThrow();
  });
});

describe('decodeNotification', () => {
  const text = '{"event_type": "compute.instance.update", "message_id": "m-1", "payload": {"n": 9007199254740993, "f": 1.5}}';
  const envelope = JSON.stringify({ 'oslo.version': '2.0', 'oslo.message': text });
  const exact = { event_type: 'compute.instance.update', message_id: 'm-1', payload: { n: 9007199254740993n, f: 1.5 } };

  it('reads bare 1.0 bodies and 2.0 envelopes, from bytes or text, exactly', () => {
    for (const body of [text, envelope, Buffer.from(text), Buffer.from(envelope)]) {
      const decoded = decodeNotification(body);
      expect(guardAmbiguity(decoded, (n) => {
        const value = ((n as Record<string, unknown>)['payload'] as Record<string, unknown>)['n'];
        if (typeof value === 'number') requireExact();
        return n;
      })).toEqual(exact);
    }
  });

  describe('compression (AMQP header "compression", kombu names)', () => {
    const body = Buffer.from(envelope);
    it.each([
      ['application/x-gzip', deflateSync],
      ['gzip', deflateSync],
      ['zlib', deflateSync],
      ['Application/X-GZIP', deflateSync],
      ['application/x-gzip', gzipSync],
      ['application/x-brotli', brotliCompressSync],
      ['brotli', brotliCompressSync],
    ] as const)('%s (%s)', (compression, compress) => {
      expect(decodeNotification(compress(body), { headers: { compression } })['message_id']).toBe('m-1');
      expect(decodeNotification(compress(body), { headers: { compression: Buffer.from(compression) } })['message_id']).toBe('m-1');
    });

    it('an empty or absent header means no compression', () => {
      expect(decodeNotification(body, { headers: { compression: '' } })['message_id']).toBe('m-1');
      expect(decodeNotification(body, { headers: {} })['message_id']).toBe('m-1');
    });

    it.each(['application/x-bz2', 'bzip2', 'application/x-lzma', 'xz', 'application/zstd', 'zstd'])('%s is poison: not supported here', (compression) => {
      expect(poisonReason(body, { headers: { compression } })).toBe(
        `compression ${JSON.stringify(compression)} is not supported (supported: gzip/zlib, brotli); set kombu_compression to gzip or none`,
      );
    });

    it('names an unknown value, escaped and bounded', () => {
      expect(poisonReason(body, { headers: { compression: 'lz4\u0000' } })).toBe('unknown compression "lz4\\u0000" (AMQP header "compression")');
      expect(poisonReason(body, { headers: { compression: 'x'.repeat(500) } }).length).toBeLessThan(200);
      expect(poisonReason(body, { headers: { compression: 7 } })).toBe('AMQP header "compression" must be a string, not a number');
    });

    it('a body that does not inflate, or inflates too far, is poison', () => {
      expect(poisonReason(Buffer.from('not zlib at all'), { headers: { compression: 'gzip' } })).toMatch(/^body with compression "gzip" does not inflate: incorrect header check$/);
      const bomb = deflateSync(Buffer.alloc(MAX_INFLATED_BYTES + 1, 0x20));
      expect(poisonReason(bomb, { headers: { compression: 'gzip' } })).toBe(`body with compression "gzip" inflates to more than ${MAX_INFLATED_BYTES} bytes`);
    });

    it('a text body cannot be compressed', () => {
      expect(poisonReason(envelope, { headers: { compression: 'gzip' } })).toMatch(/announced, but the body was given as text/);
    });

    it('an inflated body that is not UTF-8 says so', () => {
      expect(poisonReason(deflateSync(Buffer.from([0x7b, 0xff, 0x7d])), { headers: { compression: 'gzip' } })).toBe('inflated body is not valid UTF-8 (byte 0xFF at offset 1)');
    });
  });

  describe('charset (contentEncoding) and UTF-8', () => {
    const latin1 = Buffer.from('{"event_type": "x", "message_id": "m", "name": "Caf\u00e9"}', 'latin1');

    it('UTF-8 by default and for utf-8/utf8/binary/ascii, in any case', () => {
      const utf8 = Buffer.from('{"name": "Café 😀"}');
      for (const contentEncoding of [undefined, '', 'utf-8', 'UTF-8', 'utf8', 'binary', 'ascii']) {
        expect(decodeNotification(utf8, { contentEncoding })['name']).toBe('Café 😀');
      }
    });

    it('Latin-1 when the publisher says so', () => {
      expect(decodeNotification(latin1, { contentEncoding: 'ISO-8859-1' })['name']).toBe('Café');
      expect(decodeNotification(latin1, { contentEncoding: 'latin-1' })['name']).toBe('Café');
    });

    it('an unknown charset is poison naming it', () => {
      expect(poisonReason(latin1, { contentEncoding: 'utf-16' })).toBe('unsupported content_encoding "utf-16" (expected UTF-8 or Latin-1)');
      expect(poisonReason(latin1, { contentEncoding: 'constructor' })).toMatch(/unsupported content_encoding "constructor"/);
      expect(poisonReason(latin1, { headers: { compression: 'toString' } })).toMatch(/unknown compression "toString"/);
    });

    it.each([
      [[0x7b, 0x22, 0xc3, 0x28, 0x22], 'byte 0xC3 at offset 2'], // truncated 2-byte sequence
      [[0x7b, 0xed, 0xa0, 0x80, 0x7d], 'byte 0xED at offset 1'], // encoded surrogate
      [[0x7b, 0xf0, 0x9f, 0x98], 'byte 0xF0 at offset 1'], // cut at the end
      [[0xef, 0xbf, 0xbd, 0x80], 'byte 0x80 at offset 3'], // a real U+FFFD first, then a stray continuation byte
    ])('invalid UTF-8 %j: %s', (raw, where) => {
      expect(poisonReason(Buffer.from(raw))).toBe(`body is not valid UTF-8 (${where})`);
    });
  });

  describe('poison reasons are printable', () => {
    it.each([
      ['{"a": "\u0007', /^body is not JSON: /],
      ['\u000c\u0001garbage', /^body is not JSON: /],
      ['[1, 2, 3]', /^body is not a JSON object but an array$/],
      ['NaN', /^body is not a JSON object but a number$/],
      [JSON.stringify({ 'oslo.version': '2.0', 'oslo.message': '{nope\u0002' }), /^oslo\.message is not JSON: /],
      [JSON.stringify({ 'oslo.version': '\u0000'.repeat(300), 'oslo.message': '{}' }), /^unknown oslo envelope version "(\\u0000){80}…" \(expected "2\.0"\)$/],
      [JSON.stringify({ 'oslo.version': '2.0', 'oslo.message': 5 }), /must be a JSON string, got a number/],
    ])('%j', (body, reason) => {
      const message = poisonReason(Buffer.from(body));
      expect(message).toMatch(reason);
      expect(message).toMatch(/^[\x20-\x7e…]*$/);
    });
  });
});
