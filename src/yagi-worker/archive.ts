/**
 * The raw archive (yagi.conf apps `yagi.handler.shoebox_handler.ShoeboxHandler`, spec §2.7):
 * every notification body of a committed batch is appended, before the batch is acked, to a
 * rolling gzip file of JSON lines that `stv3 notigen --from-file` replays (notigen/files.ts).
 *
 * Files. One directory per cell: `<working_directory>/<cell>/` holds the file being written,
 * `<cell>_<begin>.json.gz.part`; on roll it is renamed (fsync, rename, fsync of the directory)
 * to `<destination_folder>/<cell>/<cell>_<begin>_<end>.json.gz`, begin and end being the
 * times (UTC, µs) of its first and last batch, so names sort by time. A file rolls when it
 * reaches roll_size_mb, or roll_minutes after its first batch (checked at each batch and every
 * few seconds when idle), as upstream's WritingJSONRollManager did.
 *
 * Crash safety. Each batch is appended as its own complete gzip member (a gzip file may hold
 * several; every reader, zcat and Node's gunzip included, reads them as one stream) and
 * fsynced before the batch is acked. A crash can therefore only leave a torn last member of a
 * .part file, holding messages that were never acked (the broker redelivers them). At start a
 * leftover .part is cut back to its last complete member and rolled; one with nothing
 * complete is deleted. Nothing readable is ever lost, and no file is left unreadable.
 *
 * Lines. A body is written as the exact bytes received when it is uncompressed UTF-8 text
 * without line breaks (what oslo.messaging sends). Otherwise (kombu compression, Latin-1, a
 * body with CR/LF, which JSON allows only as whitespace between tokens) the decoded text is
 * written, its CR/LF turned into spaces. Poison (bodies that do not decode to a notification)
 * is not archived: the quarantine table keeps those bodies byte for byte. Redelivered messages
 * (after a crash between the append and the ack) appear twice; replays dedup by message_id.
 *
 * Errors (disk full, permissions) are the infrastructure's: the batch is not acked, the append
 * is retried with capped backoff and logged as an error, and ingest waits (see batcher.ts).
 */
import { closeSync, existsSync, fsyncSync, mkdirSync, openSync, readdirSync, readFileSync, renameSync, statSync, unlinkSync, writeSync, ftruncateSync, copyFileSync } from 'node:fs';
import { basename, join } from 'node:path';
import { gunzipSync, gzipSync } from 'node:zlib';
import type { Logger } from 'pino';
import { decodeBytes, decodeNotification, type BodyProperties } from '../shared/amqp/oslo.js';
import type { ArchiveConfig } from '../shared/config/yagi-conf.js';
import { DateTime } from '../shared/time.js';

export interface ArchivedMessage {
  readonly queue: string;
  readonly body: Buffer;
  readonly properties?: BodyProperties | undefined;
  /** Ingest already decoded it into a notification (so it is not poison): no second decode. */
  readonly decoded?: boolean;
}

const PART = '.json.gz.part';
const DONE = '.json.gz';

/** `20261201T025500.123456Z`: sortable, µs, no characters a file system dislikes. */
function stamp(t: DateTime): string {
  return `${t.toSql().replace(/[-:]/g, '').replace(' ', 'T')}Z`;
}

function parseStamp(s: string): DateTime | null {
  const m = /^(\d{4})(\d{2})(\d{2})T(\d{2})(\d{2})(\d{2})\.(\d{6})Z$/.exec(s);
  return m ? DateTime.of(+m[1]!, +m[2]!, +m[3]!, +m[4]!, +m[5]!, +m[6]!, +m[7]!) : null;
}

/**
 * The line for one body, or null for a body that is not a notification (poison: the
 * quarantine keeps it). Never throws.
 */
export function archiveLine(message: ArchivedMessage): Buffer | null {
  try {
    if (!message.decoded) decodeNotification(message.body, message.properties); // poison is not archived
  } catch {
    return null;
  }
  const plain = message.properties?.headers?.['compression'] === undefined || message.properties.headers['compression'] === null || message.properties.headers['compression'] === '';
  const encoding = message.properties?.contentEncoding?.toLowerCase();
  const utf8 = encoding === undefined || encoding === '' || encoding === 'utf-8' || encoding === 'utf8';
  if (plain && utf8 && !message.body.includes(0x0a) && !message.body.includes(0x0d)) return message.body;
  // The text the decoder read, one line: CR/LF only ever separate JSON tokens.
  return Buffer.from(decodeBytes(message.body, message.properties).replace(/[\r\n]+/g, ' '), 'utf8');
}

/**
 * The length of the longest prefix of a gzip file made of complete members (0 if none): the
 * whole file when it reads, else the last member start (magic 1f 8b 08) at which the prefix reads.
 */
export function completeGzipPrefix(data: Buffer): number {
  const reads = (n: number): boolean => {
    if (n === 0) return true;
    try {
      gunzipSync(data.subarray(0, n));
      return true;
    } catch {
      return false;
    }
  };
  if (reads(data.length)) return data.length;
  for (let at = data.lastIndexOf(Buffer.from([0x1f, 0x8b, 0x08])); at > 0; at = data.lastIndexOf(Buffer.from([0x1f, 0x8b, 0x08]), at - 1)) {
    if (reads(at)) return at;
  }
  return 0;
}

interface OpenFile {
  readonly fd: number;
  readonly path: string;
  readonly begin: DateTime;
  readonly openedAt: number;
  size: number;
  end: DateTime;
}

export class RawArchive {
  private readonly workDir: string;
  private readonly destDir: string;
  private file: OpenFile | null = null;
  /** Closed files whose rename failed: published again before anything else. */
  private readonly unpublished: OpenFile[] = [];
  private timer: NodeJS.Timeout | null = null;
  /** Lines written since start (stats, tests). */
  lines = 0;

  constructor(
    private readonly config: ArchiveConfig,
    private readonly cell: string,
    private readonly log: Logger,
  ) {
    this.workDir = join(config.workingDirectory, cell);
    this.destDir = join(config.destinationFolder, cell);
  }

  /** Makes the directories and rolls what a previous run left (see the header). Throws on I/O errors. */
  start(): void {
    mkdirSync(this.workDir, { recursive: true });
    mkdirSync(this.destDir, { recursive: true });
    for (const name of readdirSync(this.workDir).filter((n) => n.startsWith(`${this.cell}_`) && n.endsWith(PART)).sort()) this.recover(join(this.workDir, name));
    // Roll by time while idle too.
    this.timer = setInterval(() => this.rollQuietly(), Math.min(5000, Math.max(200, this.config.rollMinutes * 60_000)));
    this.timer.unref();
  }

  /** Whether a queue's bodies are archived. */
  archives(queue: string): boolean {
    return this.config.queues.has(queue);
  }

  /**
   * Appends one batch (one gzip member) and fsyncs it; rolls the file when due. Synchronous,
   * so a batch is in the file (or not) when it returns; throws the I/O error otherwise (then
   * nothing of this batch may be acked; a retry appends it whole, as a new member, after the
   * torn one is cut off).
   */
  append(messages: readonly ArchivedMessage[]): void {
    const lines: Buffer[] = [];
    for (const m of messages) {
      if (!this.archives(m.queue)) continue;
      const line = archiveLine(m);
      if (line !== null) lines.push(line, NEWLINE);
    }
    if (lines.length === 0) return;
    const member = gzipSync(Buffer.concat(lines));
    const now = DateTime.now();
    const file = this.file ?? this.open(now);
    try {
      let off = 0;
      while (off < member.length) off += writeSync(file.fd, member, off, member.length - off, file.size + off);
      fsyncSync(file.fd);
    } catch (err) {
      // Cut off what was written of this member, so the file stays a sequence of whole members.
      try {
        ftruncateSync(file.fd, file.size);
      } catch {
        // the next start cuts it back instead
      }
      throw err;
    }
    file.size += member.length;
    file.end = now;
    this.lines += lines.length / 2;
    // The batch is in the file: a roll that fails now must not fail the batch (it would be
    // appended twice); the closed file is rolled again later.
    this.rollQuietly();
  }

  /** Rolls when due and retries earlier rolls that failed; logs failures, never throws. */
  private rollQuietly(): void {
    try {
      for (const pending of [...this.unpublished]) {
        this.publish(pending.path, pending.begin, pending.end);
        this.unpublished.shift();
      }
      if (this.file && this.due(this.file)) this.roll();
    } catch (err) {
      this.log.error({ err }, 'archive: rolling a file failed; retrying at the next batch (it stays a readable .part file meanwhile)');
    }
  }

  /** Rolls the current file (shutdown). */
  close(): void {
    if (this.timer) clearInterval(this.timer);
    this.timer = null;
    if (this.file) this.roll();
    for (const pending of this.unpublished.splice(0)) this.publish(pending.path, pending.begin, pending.end);
  }

  private due(file: OpenFile): boolean {
    return file.size >= this.config.rollSizeBytes || (file.size > 0 && Date.now() - file.openedAt >= this.config.rollMinutes * 60_000);
  }

  private open(now: DateTime): OpenFile {
    const path = join(this.workDir, `${this.cell}_${stamp(now)}${PART}`);
    const fd = openSync(path, 'wx');
    this.file = { fd, path, begin: now, end: now, openedAt: Date.now(), size: 0 };
    return this.file;
  }

  private roll(): void {
    const file = this.file;
    if (!file) return;
    this.file = null;
    closeSync(file.fd); // every member was fsynced when written
    if (file.size === 0) {
      unlinkSync(file.path);
      return;
    }
    this.unpublished.push(file);
    const target = this.publish(file.path, file.begin, file.end);
    this.unpublished.pop();
    this.log.info({ file: target, bytes: file.size }, 'archive file rolled');
  }

  /** Moves a finished .part to its final name in the destination; returns that path. */
  private publish(partPath: string, begin: DateTime, end: DateTime): string {
    const target = join(this.destDir, `${this.cell}_${stamp(begin)}_${stamp(end)}${DONE}`);
    try {
      renameSync(partPath, target);
    } catch (err) {
      if ((err as { code?: string }).code !== 'EXDEV') throw err;
      // Another file system: copy under a temporary name, fsync, rename, then drop the part.
      const tmp = `${target}.copy`;
      copyFileSync(partPath, tmp);
      const fd = openSync(tmp, 'r+');
      fsyncSync(fd);
      closeSync(fd);
      renameSync(tmp, target);
      unlinkSync(partPath);
    }
    syncDirectory(this.destDir);
    if (this.destDir !== this.workDir) syncDirectory(this.workDir);
    return target;
  }

  private recover(path: string): void {
    const data = readFileSync(path);
    const keep = completeGzipPrefix(data);
    const begin = parseStamp(basename(path).slice(this.cell.length + 1, -PART.length)) ?? DateTime.fromDate(statSync(path).mtime);
    if (keep === 0) {
      unlinkSync(path);
      this.log.warn({ file: path, bytes: data.length }, 'archive: removed a leftover file with no complete batch (its messages were not acked)');
      return;
    }
    if (keep < data.length) {
      const fd = openSync(path, 'r+');
      ftruncateSync(fd, keep);
      fsyncSync(fd);
      closeSync(fd);
    }
    const target = this.publish(path, begin, DateTime.fromDate(statSync(path).mtime));
    this.log.warn({ file: target, bytes: keep, cut: data.length - keep }, 'archive: rolled a file left by an earlier run (a torn last batch, never acked, cut off)');
  }
}

const NEWLINE = Buffer.from('\n');

function syncDirectory(dir: string): void {
  if (!existsSync(dir)) return;
  const fd = openSync(dir, 'r');
  try {
    fsyncSync(fd);
  } finally {
    closeSync(fd);
  }
}
