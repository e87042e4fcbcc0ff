/**
 * Stream list pages, kept as the bytes sent, and sent again while they are still exact. A
 * request always reads its page's stream rows (one indexed statement); when every field the
 * response shows, and event_count, are what they were when the bytes were made, the response
 * cannot differ: distinguishing traits never change, a stream's events change only by appends,
 * which ingest counts in event_count in the same transaction, and events never change. So a
 * page of streams with their events (hundreds of KiB) costs one small query while it stays
 * the same, and is rebuilt the moment anything in it moves.
 *
 * Pages are also kept gzip-compressed, made on the first request that accepts gzip (python
 * requests, hence klugman, and curl --compressed do): JSON pages shrink about tenfold.
 */
import { gzipSync } from 'node:zlib';
import type { StreamRow } from '../shared/store/find-streams.js';
import { ByteBoundedLru } from './lru.js';

interface Page {
  readonly fingerprint: string;
  readonly body: Buffer;
  gzip?: Buffer;
}

export class StreamPageCache {
  private readonly pages: ByteBoundedLru<string, Page>;
  private readonly building = new Map<string, Promise<Page>>();

  constructor(maxBytes: number) {
    this.pages = new ByteBoundedLru(maxBytes, (p) => p.body.length * 2 + p.fingerprint.length * 2);
  }

  /** The body compressed (made once per page version). */
  static gzipped(page: Page): Buffer {
    page.gzip ??= gzipSync(page.body, { level: 6 });
    return page.gzip;
  }

  /** What identifies the response of `rows` for one request URL. */
  static fingerprint(rows: readonly StreamRow[]): string {
    return rows.map((r) => `${r.id} ${r.version}`).join('\n');
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
