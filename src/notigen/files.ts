/**
 * notigen's files: JSON lines, one AMQP body per line (an oslo 2.0 envelope as published),
 * gzip-compressed when the name ends in `.gz`. Replaying reads them back, plain or gzip (told
 * by the content, not the name), and also accepts lines that are bare notifications (oslo
 * 1.0 bodies), which are published inside a 2.0 envelope holding the line's text unchanged.
 */
import { createReadStream, createWriteStream, readdirSync, statSync } from 'node:fs';
import { open } from 'node:fs/promises';
import { join } from 'node:path';
import { createInterface } from 'node:readline';
import { Readable } from 'node:stream';
import { pipeline } from 'node:stream/promises';
import { createGunzip, createGzip } from 'node:zlib';
import { decodeNotification, encodeOsloV2, type Notification } from '../shared/amqp/oslo.js';
import { parseIso8601 } from '../shared/distiller/iso8601.js';
import { toError } from '../shared/errors.js';
import type { DateTime } from '../shared/time.js';
import type { GeneratedNotification } from './generator.js';
import type { OutgoingNotification, PublishProgress } from './publisher.js';

/** Generated notifications as messages: each with its cell, 2.0 envelope, priority and time. */
export function* asOutgoing(source: Iterable<GeneratedNotification>): Generator<OutgoingNotification> {
  for (const { cell, notification, time } of source) yield { cell, body: encodeOsloV2(notification), priority: priorityOf(notification), time };
}

export interface WriteOptions {
  readonly signal?: AbortSignal;
  /** Called at most every progressIntervalMs (default 250) and once at the end. */
  readonly onProgress?: (progress: PublishProgress) => void;
  readonly progressIntervalMs?: number;
}

/**
 * Writes each message's body as one line of `path` (gzip when it ends in `.gz`; Node's gzip
 * header has no time or name, so equal input gives equal bytes). Resolves with the count once
 * the file is closed; rejects with an Error naming the file on a write error.
 */
export async function writeNotificationFile(
  path: string,
  source: Iterable<OutgoingNotification> | AsyncIterable<OutgoingNotification>,
  options: WriteOptions = {},
): Promise<PublishProgress & { readonly aborted: boolean }> {
  const started = performance.now();
  let written = 0;
  let lastTime: DateTime | null = null;
  let lastReport = 0;
  const progress = (): PublishProgress => ({ published: written, confirmed: written, elapsedMs: performance.now() - started, lastTime });
  async function* lines(): AsyncGenerator<string> {
    for await (const message of source) {
      if (options.signal?.aborted) return;
      yield `${message.body}\n`;
      written++;
      if (message.time !== null) lastTime = message.time;
      if (options.onProgress && performance.now() - lastReport >= (options.progressIntervalMs ?? 250)) {
        lastReport = performance.now();
        options.onProgress(progress());
      }
    }
  }
  try {
    const file = createWriteStream(path);
    if (path.endsWith('.gz')) await pipeline(Readable.from(lines()), createGzip(), file);
    else await pipeline(Readable.from(lines()), file);
  } catch (err) {
    throw new Error(`${path}: ${toError(err).message}`, { cause: err });
  }
  options.onProgress?.(progress());
  return { ...progress(), aborted: options.signal?.aborted ?? false };
}

/**
 * The messages of a notigen file, in file order, for `cell` (undefined: the only cell).
 * Empty lines are skipped. Throws an Error naming `path:line` for a line that is neither an
 * oslo 2.0 envelope nor a notification (a JSON object with an event_type).
 */
export async function* readNotificationFile(path: string, cell?: string): AsyncGenerator<OutgoingNotification> {
  const gzipped = await isGzip(path);
  const input = createReadStream(path);
  const lines = createInterface({ input: gzipped ? input.pipe(createGunzip()) : input, crlfDelay: Infinity });
  let lineNo = 0;
  try {
    for await (const line of lines) {
      lineNo++;
      const text = line.trim();
      if (text === '') continue;
      let notification: Notification;
      try {
        notification = decodeNotification(text);
      } catch (err) {
        throw new Error(`${path}:${lineNo}: ${toError(err).message}`, { cause: err });
      }
      if (typeof notification['event_type'] !== 'string') throw new Error(`${path}:${lineNo}: not a notification (no event_type)`);
      const bare = !('oslo.message' in (JSON.parse(text) as object));
      yield {
        ...(cell === undefined ? {} : { cell }),
        body: bare ? JSON.stringify({ 'oslo.version': '2.0', 'oslo.message': text }) : text,
        priority: priorityOf(notification),
        time: timeOf(notification),
      };
    }
  } finally {
    lines.close();
    input.destroy();
  }
}

/**
 * A file as readNotificationFile reads it, or a directory: its files ending in .gz, .json or
 * .jsonl (a raw archive directory: `<cell>_<begin>_<end>.json.gz`, whose names sort by time;
 * `.part` files still being written are left out), in name order.
 */
export async function* readNotificationPath(path: string, cell?: string): AsyncGenerator<OutgoingNotification> {
  if (!statSync(path).isDirectory()) {
    yield* readNotificationFile(path, cell);
    return;
  }
  const files = readdirSync(path)
    .filter((n) => /\.(gz|json|jsonl)$/.test(n))
    .sort();
  for (const name of files) yield* readNotificationFile(join(path, name), cell);
}

/** The routing key suffix: Nova's priority in lower case (INFO → info); info when absent. */
function priorityOf(notification: Notification): string {
  const p = notification['priority'];
  return typeof p === 'string' && p !== '' ? p.toLowerCase() : 'info';
}

function timeOf(notification: Notification): DateTime | null {
  const ts = notification['timestamp'];
  if (typeof ts !== 'string') return null;
  try {
    return parseIso8601(ts);
  } catch {
    return null;
  }
}

async function isGzip(path: string): Promise<boolean> {
  const handle = await open(path, 'r');
  try {
    const { bytesRead, buffer } = await handle.read(Buffer.alloc(2), 0, 2, 0);
    return bytesRead === 2 && buffer[0] === 0x1f && buffer[1] === 0x8b;
  } finally {
    await handle.close();
  }
}
