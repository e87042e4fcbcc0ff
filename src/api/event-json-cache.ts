/**
 * Serialised events, by id, for stream details. An event row never changes once stored, so its
 * JSON can be kept as long as memory allows (least recently used out first). The ids of a
 * stream's events are always read from the database, so the cache makes a response faster but
 * never stale.
 */
import type { Queryable } from '../shared/db/sql.js';
import { getEventsByIds } from '../shared/store/find-events.js';
import { listStreamEventIds } from '../shared/store/find-streams.js';
import { ByteBoundedLru } from './lru.js';
import { eventJson, RawJson } from './serialize.js';

export class EventJsonCache {
  private readonly entries: ByteBoundedLru<number, string>;

  /** maxBytes: the budget, counted as string length × 2 (UTF-16). */
  constructor(maxBytes: number) {
    this.entries = new ByteBoundedLru(maxBytes, (json) => json.length * 2);
  }

  /** Each stream's events as one JSON array, in time order; streams without events get []. */
  async streamEvents(db: Queryable, streamIds: readonly number[]): Promise<Map<number, RawJson>> {
    const idsByStream = await listStreamEventIds(db, streamIds);
    const missing = [...new Set([...idsByStream.values()].flat())].filter((id) => !this.entries.has(id));
    for (let i = 0; i < missing.length; i += 1000) {
      for (const e of await getEventsByIds(db, missing.slice(i, i + 1000))) this.entries.set(e.id, eventJson(e));
    }
    const out = new Map<number, RawJson>();
    for (const [streamId, ids] of idsByStream) {
      out.set(streamId, new RawJson(`[${ids.map((id) => this.entries.get(id)).filter((j) => j !== undefined).join(', ')}]`));
    }
    return out;
  }
}
