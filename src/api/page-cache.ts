/**
 * Stream list pages, kept as the bytes sent, and sent again while they are still exact. A
 * request always reads its page's stream rows (one indexed statement); when every field the
 * response shows, and event_count, are what they were when the bytes were made, the response
 * cannot differ: distinguishing traits never change, a stream's events change only by appends,
 * which ingest counts in event_count in the same transaction, and events never change. So a
 * page of streams with their events (hundreds of KiB) costs one small query while it stays
 * the same, and is rebuilt the moment anything in it moves.
 *
 * Requests for one URL that arrive while its rows are being read share that reading (one
 * statement however many clients poll the same page), so an answer reflects the database as
 * of at most one query's time before the request.
 *
 * Pages are also kept gzip-compressed, made on the first request that accepts gzip (python
 * requests, hence klugman, and curl --compressed do): JSON pages shrink about tenfold.
 */
import { gzipSync } from 'node:zlib';
import type { StreamRow } from '../shared/store/find-streams.js';
import { ByteBoundedLru } from './lru.js';

const fingerprints = new WeakMap<readonly StreamRow[], string>();

interface Page {
  readonly fingerprint: string;
  readonly body: Buffer;
  gzip?: Buffer;
}

export class StreamPageCache {
  private readonly pages: ByteBoundedLru<string, Page>;
  private readonly building = new Map<string, Promise<Page>>();
  private readonly reading = new Map<string, Promise<readonly StreamRow[]>>();

  constructor(maxBytes: number) {
    this.pages = new ByteBoundedLru(maxBytes, (p) => p.body.length * 2 + p.fingerprint.length * 2);
  }

  /** The body compressed (made once per page version). */
  static gzipped(page: Page): Buffer {
    page.gzip ??= gzipSync(page.body, { level: 6 });
    return page.gzip;
  }

  /** The page's rows for `url`: read by `read`, or the reading already under way for it. */
  rows(url: string, read: () => Promise<readonly StreamRow[]>): Promise<readonly StreamRow[]> {
    let pending = this.reading.get(url);
    if (!pending) {
      pending = read().finally(() => this.reading.delete(url));
      this.reading.set(url, pending);
    }
    return pending;
  }

  /**
   * What identifies the response of `rows` for one request URL. Made once per reading: the
   * requests that share a reading share its rows array.
   */
  static fingerprint(rows: readonly StreamRow[]): string {
    let fingerprint = fingerprints.get(rows);
    if (fingerprint === undefined) {
      fingerprint = rows.map((r) => `${r.id} ${r.version}`).join('\n');
      fingerprints.set(rows, fingerprint);
    }
    return fingerprint;
  }

  /**
   * The page for `url` as `fingerprint` identifies it: kept, or made by `build` (once, however
   * many requests for it arrive while it is being made).
   */
  async page(url: string, fingerprint: string, build: () => Promise<Buffer>): Promise<Page> {
    const kept = this.pages.get(url);
    if (kept && kept.fingerprint === fingerprint) return kept;
    const key = `${url}\n${fingerprint}`;
    let pending = this.building.get(key);
    if (!pending) {
      pending = build()
        .then((body) => {
          const page: Page = { fingerprint, body };
          this.pages.set(url, page);
          return page;
        })
        .finally(() => this.building.delete(key));
      this.building.set(key, pending);
    }
    return pending;
  }
}
