/**
 * A typed client of the API (README "API"), the one `stv3` and the tests use: klugman's calls
 * with upstream's bugs fixed (trigger_name, older/younger as named, several traits), paging
 * through `_mark`, the operator routes, and errors that carry the HTTP status and the
 * parameter the API blamed.
 *
 * JSON comes back as the API writes it: datetimes tagged (`{"__type__": "datetime", …}`);
 * `untag` turns them into ISO strings for display. Integers beyond 2^53 lose precision in
 * JSON.parse (no known trait carries one).
 */

export type Json = null | boolean | number | string | Json[] | { [key: string]: Json };

export type TaggedDatetime = { readonly __type__: 'datetime'; readonly datetime: string } & Record<string, Json>;

export interface StreamJson {
  readonly id: number;
  readonly name: string;
  readonly state: string;
  readonly _mark: string;
  readonly first_event: TaggedDatetime;
  readonly last_event: TaggedDatetime;
  readonly fire_timestamp: TaggedDatetime | null;
  readonly expire_timestamp: TaggedDatetime | null;
  readonly distinguishing_traits: Record<string, Json>;
  readonly events?: EventJson[];
}

export interface EventJson {
  readonly message_id: string;
  readonly event_type: string;
  readonly timestamp: TaggedDatetime;
  readonly _mark?: string;
  readonly [trait: string]: Json | undefined;
}

export interface QuarantineJson {
  readonly id: number;
  readonly received_at: TaggedDatetime;
  readonly cell: string;
  readonly queue: string;
  readonly reason: string;
  readonly message_id: string | null;
  readonly event_type: string | null;
  readonly body_size: number;
  readonly body_truncated: boolean;
  readonly _mark?: string;
  readonly body?: string;
  readonly body_encoding?: 'utf-8' | 'base64';
  readonly properties?: Record<string, Json> | null;
}

export type ReplayResultJson =
  | { readonly id: number; readonly outcome: 'stored' | 'duplicate'; readonly message_id: string; readonly event_type: string }
  | { readonly id: number; readonly outcome: 'poison'; readonly reason: string }
  | { readonly id: number; readonly outcome: 'not_found' };

/** Typed trait condition (Panko's q.field/q.op/q.type/q.value). */
export interface TraitCondition {
  readonly name: string;
  readonly op?: 'eq' | 'ne' | 'lt' | 'le' | 'gt' | 'ge';
  readonly type?: 'string' | 'integer' | 'float' | 'datetime';
  readonly value: string;
}

export interface PageParams {
  readonly mark?: string | undefined;
  readonly limit?: number | undefined;
}

export interface StreamParams extends PageParams {
  readonly triggerName?: string | undefined;
  /** first_event before this (upstream's older_than). */
  readonly olderThan?: string | undefined;
  /** last_event after this (upstream's younger_than). */
  readonly youngerThan?: string | undefined;
  readonly state?: string | undefined;
  readonly traits?: readonly TraitCondition[] | undefined;
  readonly details?: boolean | undefined;
}

export interface EventParams extends PageParams {
  readonly eventName?: string | undefined;
  /** generated after this (exclusive). */
  readonly from?: string | undefined;
  /** generated up to this (inclusive). */
  readonly to?: string | undefined;
  readonly traits?: readonly TraitCondition[] | undefined;
}

export interface QuarantineParams extends PageParams {
  readonly cell?: string | undefined;
  readonly from?: string | undefined;
  readonly to?: string | undefined;
}

/**
 * A non-2xx answer, or no answer. `status` 0: the API could not be reached. `notTheApi`: the
 * answer is not in the API's error format, so something else answered at that URL.
 */
export class ApiClientError extends Error {
  constructor(
    readonly status: number,
    message: string,
    readonly parameter?: string,
    readonly notTheApi = false,
  ) {
    super(message);
    this.name = 'ApiClientError';
  }
}

export interface ApiClientOptions {
  /** Bearer token for mutating calls. */
  readonly token?: string | undefined;
  readonly timeoutMs?: number | undefined;
}

type QueryValue = string | number | boolean | undefined | readonly string[];

export class ApiClient {
  private readonly base: string;

  constructor(
    baseUrl: string,
    private readonly options: ApiClientOptions = {},
  ) {
    this.base = baseUrl.replace(/\/+$/, '');
  }

  /** One HTTP call; the parsed JSON body (null when empty). Throws ApiClientError. */
  async request<T = Json>(method: string, path: string, query: Record<string, QueryValue> = {}, body?: Json): Promise<T> {
    const url = new URL(this.base + path);
    for (const [k, v] of Object.entries(query)) {
      if (v === undefined) continue;
      for (const item of Array.isArray(v) ? v : [v]) url.searchParams.append(k, String(item));
    }
    const headers: Record<string, string> = { accept: 'application/json' };
    if (body !== undefined) headers['content-type'] = 'application/json';
    if (method !== 'GET' && this.options.token) headers['authorization'] = `Bearer ${this.options.token}`;
    let res: Response;
    try {
      res = await fetch(url, { method, headers, ...(body !== undefined ? { body: JSON.stringify(body) } : {}), signal: AbortSignal.timeout(this.options.timeoutMs ?? 30_000) });
    } catch (err) {
      const cause = (err as { cause?: { code?: string } }).cause?.code ?? (err as Error).message;
      throw new ApiClientError(0, `cannot reach the API at ${this.base} (${cause}); check --url / STV3_API_URL and that the api process runs`);
    }
    const text = await res.text();
    let parsed: unknown = null;
    if (text !== '') {
      try {
        parsed = JSON.parse(text);
      } catch {
        if (res.ok) throw new ApiClientError(res.status, `${method} ${path}: the API answered something that is not JSON`);
      }
    }
    if (!res.ok) {
      const e = parsed as { message?: unknown; parameter?: string } | null;
      if (typeof e?.message !== 'string') {
        throw new ApiClientError(res.status, `${method} ${path}: HTTP ${res.status} from ${this.base}, which does not answer as the stv3 API does; check --url / STV3_API_URL`, undefined, true);
      }
      throw new ApiClientError(res.status, e.message, e.parameter);
    }
    return parsed as T;
  }

  streams(p: StreamParams = {}): Promise<StreamJson[]> {
    return this.request('GET', '/v2/streams', { ...streamQuery(p), details: p.details ? 'true' : undefined, ...page(p) });
  }

  async streamsCount(p: StreamParams = {}): Promise<number> {
    return count(await this.request('GET', '/v2/streams/count', { ...streamQuery(p), mark: p.mark }));
  }

  async stream(id: number, details = false): Promise<StreamJson> {
    const list = await this.request<StreamJson[]>('GET', `/v2/streams/${id}`, { details: details ? 'true' : undefined });
    return list[0]!;
  }

  resetStream(id: number): Promise<{ id: number; reset: boolean; state: string; message?: string }> {
    return this.request('PUT', `/v2/streams/${id}`);
  }

  async deleteStream(id: number): Promise<void> {
    await this.request('DELETE', `/v2/streams/${id}`);
  }

  explainStream(id: number): Promise<Record<string, Json>> {
    return this.request('GET', `/v2/streams/${id}/explain`);
  }

  events(p: EventParams = {}): Promise<EventJson[]> {
    return this.request('GET', '/v2/events', { ...eventQuery(p), ...page(p) });
  }

  async eventsCount(p: EventParams = {}): Promise<number> {
    return count(await this.request('GET', '/v2/events/count', { ...eventQuery(p), mark: p.mark }));
  }

  event(messageId: string): Promise<EventJson> {
    return this.request('GET', `/v2/events/${encodeURIComponent(messageId)}`);
  }

  quarantine(p: QuarantineParams = {}): Promise<QuarantineJson[]> {
    return this.request('GET', '/v2/quarantine', { cell: p.cell, from_datetime: p.from, to_datetime: p.to, ...page(p) });
  }

  async quarantineCount(p: QuarantineParams = {}): Promise<number> {
    return count(await this.request('GET', '/v2/quarantine/count', { cell: p.cell, from_datetime: p.from, to_datetime: p.to }));
  }

  quarantined(id: number): Promise<QuarantineJson> {
    return this.request('GET', `/v2/quarantine/${id}`);
  }

  replay(ids: readonly number[]): Promise<ReplayResultJson[]> {
    return this.request('POST', '/v2/quarantine/replay', {}, { ids: [...ids] });
  }

  async deleteQuarantined(id: number): Promise<void> {
    await this.request('DELETE', `/v2/quarantine/${id}`);
  }

  status(): Promise<Record<string, Json>> {
    return this.request('GET', '/v2/status');
  }

  /**
   * Every row of a listing, page by page (`limit` rows a page, 1,000 at most), following each
   * page's last `_mark`; `max` stops early.
   */
  async *all<T extends { _mark?: string }>(list: (p: PageParams) => Promise<T[]>, pageSize = 1000, max = Infinity): AsyncGenerator<T> {
    const limit = Math.min(pageSize, 1000);
    let mark: string | undefined;
    let seen = 0;
    for (;;) {
      const rows = await list({ mark, limit });
      for (const r of rows) {
        if (seen++ >= max) return;
        yield r;
      }
      if (rows.length < limit) return;
      mark = rows[rows.length - 1]!._mark;
    }
  }
}

function page(p: PageParams): Record<string, QueryValue> {
  return { mark: p.mark, limit: p.limit };
}

function typed(traits: readonly TraitCondition[] | undefined): Record<string, QueryValue> {
  if (!traits || traits.length === 0) return {};
  return {
    'q.field': traits.map((t) => t.name),
    'q.op': traits.map((t) => t.op ?? 'eq'),
    'q.type': traits.map((t) => t.type ?? 'string'),
    'q.value': traits.map((t) => t.value),
  };
}

function streamQuery(p: StreamParams): Record<string, QueryValue> {
  return { trigger_name: p.triggerName, older_than: p.olderThan, younger_than: p.youngerThan, state: p.state, ...typed(p.traits) };
}

function eventQuery(p: EventParams): Record<string, QueryValue> {
  return { event_name: p.eventName, from_datetime: p.from, to_datetime: p.to, ...typed(p.traits) };
}

function count(body: unknown): number {
  return (body as [{ count: number }])[0].count;
}

/** Tagged values → display strings: datetimes as ISO, timeranges as `begin .. end`. */
export function untag(value: Json | undefined): string {
  if (value === null || value === undefined) return 'n/a';
  if (typeof value !== 'object') return String(value);
  if (!Array.isArray(value)) {
    if (value['__type__'] === 'datetime') return String(value['datetime']);
    if (value['__type__'] === 'timex.TimeRange') return `${String(value['begin'])} .. ${String(value['end'])}`;
    if (value['__type__'] === 'timex.Timestamp') return String(value['timestamp']);
  }
  return JSON.stringify(value);
}
