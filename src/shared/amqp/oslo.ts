/**
 * Message bodies as OpenStack sends them (spec §2.5): oslo.messaging 2.0 envelopes
 * `{"oslo.version": "2.0", "oslo.message": "<JSON of the notification>"}`, and bare 1.0
 * notifications, read the way kombu and Python's json read them upstream:
 *
 *  1. `headers.compression` (oslo.messaging's kombu_compression, kombu's names): inflated when
 *     Node's zlib can (see COMPRESSIONS); other methods are poison naming the header value.
 *  2. `contentEncoding` is the charset (kombu's use of it): UTF-8 unless it says Latin-1.
 *     UTF-8 is strict: an invalid byte is poison naming its offset, never replaced by U+FFFD.
 *  3. JSON as Python's json.loads reads it (distiller/python-json.ts): exact integers of any
 *     size, `1.0` kept a float, NaN/Infinity/-Infinity accepted.
 *
 * Anything that is the message's fault throws PoisonMessageError; its reason is printable text
 * (control characters escaped, bounded), never a paste of binary bytes.
 */
import { isUtf8 } from 'node:buffer';
import { brotliDecompressSync, unzipSync } from 'node:zlib';
import { loadsFast, rememberText } from '../distiller/python-json.js';
import { PoisonMessageError } from '../errors.js';

/**
 * A decoded notification: a JSON object. Its numbers follow distiller/python-json.ts (ints may
 * be bigint, whole-valued floats PyFloat); strings, booleans, null, arrays and objects are plain.
 */
export type Notification = Record<string, unknown>;

/** The AMQP properties decoding looks at: amqplib's `message.properties` fits. */
export interface BodyProperties {
  readonly contentEncoding?: string | undefined;
  readonly headers?: Readonly<Record<string, unknown>> | undefined;
}

/** Largest body after inflating (the compressed size is bounded by the caller's max_body_bytes). */
export const MAX_INFLATED_BYTES = 16 * 1024 * 1024;

type Inflate = (body: Buffer) => Buffer;
const limit = { maxOutputLength: MAX_INFLATED_BYTES };
// unzipSync reads zlib (what kombu's zlib.compress writes) and also gzip framing.
const zlibOrGzip: Inflate = (body) => unzipSync(body, limit);
const brotli: Inflate = (body) => brotliDecompressSync(body, limit);

/**
 * kombu's compression content types and aliases (kombu/compression.py), lower-cased.
 * null: a method kombu knows that Node's zlib cannot inflate.
 */
const COMPRESSIONS: Readonly<Record<string, Inflate | null>> = {
  'application/x-gzip': zlibOrGzip,
  gzip: zlibOrGzip,
  zlib: zlibOrGzip,
  'application/x-brotli': brotli,
  brotli,
  'application/x-bz2': null,
  bzip2: null,
  bzip: null,
  'application/x-lzma': null,
  lzma: null,
  xz: null,
  'application/zstd': null,
  zstd: null,
  zstandard: null,
};

/** contentEncoding values (lower-cased) and how the bytes become text. */
const CHARSETS: Readonly<Record<string, 'utf8' | 'latin1'>> = {
  'utf-8': 'utf8',
  utf8: 'utf8',
  // kombu hands "binary" bodies to json.loads as bytes, which it reads as UTF-8 here; ASCII is a subset.
  binary: 'utf8',
  'ascii-8bit': 'utf8',
  ascii: 'utf8',
  'us-ascii': 'utf8',
  'iso-8859-1': 'latin1',
  'iso8859-1': 'latin1',
  'latin-1': 'latin1',
  latin1: 'latin1',
};

/**
 * Decodes one AMQP body into its notification (spec §2.5; invariants 6 and 9).
 *
 * `body` is the raw message content; a string is taken as already-decoded text (then a
 * compression header is an error). `properties` are the message's AMQP properties; without
 * them the body is uncompressed UTF-8.
 *
 * Returns the notification object: the inner one of an oslo 2.0 envelope, else the body itself.
 * Throws PoisonMessageError when the compression is unknown or unsupported or does not
 * inflate, the charset is unknown, the bytes are not valid UTF-8, the text is not JSON (as
 * Python reads it) or not an object, or the envelope is malformed.
 */
export function decodeNotification(body: Buffer | string, properties?: BodyProperties): Notification {
  const text = typeof body === 'string' ? textBody(body, properties) : decodeBytes(body, properties);
  // The text is kept on the notification only (python-json.ts): an envelope's is not needed.
  const outer = parseJsonObject(text, 'body', false);
  if (!('oslo.message' in outer) && !('oslo.version' in outer)) return rememberText(outer, text);
  const version = outer['oslo.version'];
  const inner = outer['oslo.message'];
  if (version !== '2.0') {
    throw new PoisonMessageError(`unknown oslo envelope version ${preview(version)} (expected "2.0")`);
  }
  if (typeof inner !== 'string') {
    throw new PoisonMessageError(`oslo envelope: "oslo.message" must be a JSON string, got ${describe(inner)}`);
  }
  return parseJsonObject(inner, 'oslo.message', true);
}

/** Wraps a notification the way oslo.messaging 2.0 sends it (notigen, tests, benchmarks). */
export function encodeOsloV2(notification: Notification): string {
  return JSON.stringify({ 'oslo.version': '2.0', 'oslo.message': JSON.stringify(notification) });
}

function textBody(body: string, properties: BodyProperties | undefined): string {
  const compression = compressionOf(properties);
  if (compression !== null) throw new PoisonMessageError(`compression ${preview(compression)} announced, but the body was given as text`);
  return body;
}

/**
 * The text of a body as the decoder reads it: inflated per the AMQP `compression` header,
 * decoded per content_encoding (UTF-8, strictly, or Latin-1). Throws PoisonMessageError naming
 * what is wrong. (The raw archive writes this text for bodies it cannot copy byte for byte.)
 */
export function decodeBytes(body: Buffer, properties: BodyProperties | undefined): string {
  const compression = compressionOf(properties);
  const bytes = compression === null ? body : inflate(body, compression);
  const encoding = properties?.contentEncoding;
  const charset = encoding ? lookup(CHARSETS, encoding.toLowerCase()) : 'utf8';
  if (charset === undefined) throw new PoisonMessageError(`unsupported content_encoding ${preview(encoding)} (expected UTF-8 or Latin-1)`);
  if (charset === 'latin1') return bytes.toString('latin1');
  const text = bytes.toString('utf8');
  if (!isUtf8(bytes)) {
    const at = firstInvalidUtf8(bytes, text);
    const what = compression === null ? 'body' : 'inflated body';
    throw new PoisonMessageError(`${what} is not valid UTF-8 (byte 0x${hex(bytes[at]!)} at offset ${at})`);
  }
  return text;
}

/** The `compression` header as text, or null when absent or empty (kombu: falsy = none). */
function compressionOf(properties: BodyProperties | undefined): string | null {
  const value = properties?.headers?.['compression'];
  if (value === undefined || value === null || value === '') return null;
  if (typeof value === 'string') return value;
  if (Buffer.isBuffer(value)) return value.toString('latin1');
  throw new PoisonMessageError(`AMQP header "compression" must be a string, not ${describe(value)}`);
}

function inflate(body: Buffer, compression: string): Buffer {
  const name = compression.trim().toLowerCase();
  const method = lookup(COMPRESSIONS, name);
  if (method === undefined) throw new PoisonMessageError(`unknown compression ${preview(compression)} (AMQP header "compression")`);
  if (method === null) {
    throw new PoisonMessageError(`compression ${preview(compression)} is not supported (supported: gzip/zlib, brotli); set kombu_compression to gzip or none`);
  }
  try {
    return method(body);
  } catch (err) {
    const reason = err instanceof RangeError ? `inflates to more than ${MAX_INFLATED_BYTES} bytes` : `does not inflate: ${(err as Error).message}`;
    throw new PoisonMessageError(`body with compression ${preview(compression)} ${printable(reason)}`);
  }
}

/** An own entry of a table (never an Object.prototype member such as "constructor"). */
function lookup<T>(table: Readonly<Record<string, T>>, key: string): T | undefined {
  return Object.hasOwn(table, key) ? table[key] : undefined;
}

/**
 * Offset of the first byte that is not valid UTF-8. `text` is the lenient decoding, where each
 * invalid sequence became U+FFFD: the first U+FFFD that was not written as EF BF BD marks it.
 */
function firstInvalidUtf8(bytes: Buffer, text: string): number {
  for (let i = text.indexOf('\uFFFD'); i >= 0; i = text.indexOf('\uFFFD', i + 1)) {
    const at = Buffer.byteLength(text.slice(0, i));
    if (!(bytes[at] === 0xef && bytes[at + 1] === 0xbf && bytes[at + 2] === 0xbd)) return at;
  }
  return bytes.length - 1; // not reached: isUtf8 failed, so some sequence was replaced
}

function parseJsonObject(text: string, what: string, remember: boolean): Notification {
  let value: unknown;
  try {
    value = loadsFast(text, remember);
  } catch (err) {
    throw new PoisonMessageError(`${what} is not JSON: ${printable((err as Error).message)}`);
  }
  if (value === null || typeof value !== 'object' || Array.isArray(value)) {
    throw new PoisonMessageError(`${what} is not a JSON object but ${describe(value)}`);
  }
  return value as Notification;
}

function describe(value: unknown): string {
  if (value === null) return 'null';
  if (Array.isArray(value)) return 'an array';
  return `a ${typeof value}`;
}

const MAX_PREVIEW = 80;

/** A value for a reason: strings JSON-quoted, everything bounded and printable. */
function preview(value: unknown): string {
  if (typeof value !== 'string') return printable(String(value).slice(0, MAX_PREVIEW));
  return JSON.stringify(value.length > MAX_PREVIEW ? `${value.slice(0, MAX_PREVIEW)}…` : value);
}

const MAX_REASON_TEXT = 300;

/**
 * Text from a parser or zlib made safe for a reason column and a log line: C0/C1 controls, DEL,
 * U+FFFD, line/paragraph separators and lone surrogates are written as \\uXXXX.
 */
function printable(text: string): string {
  const bounded = text.length > MAX_REASON_TEXT ? `${text.slice(0, MAX_REASON_TEXT)}…` : text;
  let out = '';
  for (const ch of bounded) {
    const c = ch.codePointAt(0)!;
    const unprintable = c < 0x20 || (c >= 0x7f && c <= 0x9f) || c === 0x2028 || c === 0x2029 || c === 0xfffd || (c >= 0xd800 && c <= 0xdfff);
    out += unprintable ? `\\u${c.toString(16).toUpperCase().padStart(4, '0')}` : ch;
  }
  return out;
}

function hex(n: number): string {
  return n.toString(16).toUpperCase().padStart(2, '0');
}
