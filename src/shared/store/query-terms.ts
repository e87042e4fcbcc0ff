/**
 * What the read queries of the API share (spec §7.2): `_mark` paging, typed trait filters
 * (Panko's operators and types), and the refusal a query raises when it cannot be answered
 * without reading too much.
 *
 * Paging: rows come by id, newest first. A mark `<hex>` or `-<hex>` asks for ids below it,
 * descending; `+<hex>` for ids above it, ascending; a bare `+` / `-` only sets the order. Every
 * row carries its own `_mark` (`%x` descending, `+%x` ascending): pass the last one back for the
 * next page.
 */
import type { DateTime } from '../time.js';

export type SortDirection = 'desc' | 'asc';

export interface Page {
  readonly direction: SortDirection;
  /** Exclusive id bound in `direction`; null: from the newest (desc) or oldest (asc). */
  readonly after: number | null;
  readonly limit: number;
}

/** Upstream's `_mark` of a row: lowercase hex of the id, `+` prefixed when ascending. */
export function markOf(id: number, direction: SortDirection): string {
  return `${direction === 'asc' ? '+' : ''}${id.toString(16)}`;
}

/** The SQL condition and ORDER BY of a page on `column` (an id column, trusted text). */
export function pageSql(column: string, page: Pick<Page, 'direction' | 'after'>): { where: string | null; params: number[]; orderBy: string } {
  const orderBy = `ORDER BY ${column} ${page.direction === 'asc' ? 'ASC' : 'DESC'}`;
  if (page.after === null) return { where: null, params: [], orderBy };
  return { where: `${column} ${page.direction === 'asc' ? '>' : '<'} ?`, params: [page.after], orderBy };
}

export const FILTER_TYPES = ['string', 'int', 'float', 'datetime'] as const;
export type FilterType = (typeof FILTER_TYPES)[number];
export const FILTER_OPS = ['eq', 'ne', 'lt', 'le', 'gt', 'ge'] as const;
export type FilterOp = (typeof FILTER_OPS)[number];

export const SQL_OPERATOR: Readonly<Record<FilterOp, string>> = { eq: '=', ne: '<>', lt: '<', le: '<=', gt: '>', ge: '>=' };

/** One trait condition: `name op value`, compared as `type` (a trait of another type never matches). */
export type TraitFilter =
  | { readonly name: string; readonly op: FilterOp; readonly type: 'string'; readonly value: string }
  | { readonly name: string; readonly op: FilterOp; readonly type: 'int'; readonly value: bigint }
  | { readonly name: string; readonly op: FilterOp; readonly type: 'float'; readonly value: number }
  | { readonly name: string; readonly op: FilterOp; readonly type: 'datetime'; readonly value: DateTime };

/** The SQL parameter for a filter's value (bigint as exact digits, datetime as DATETIME(6) text). */
export function filterParam(f: TraitFilter): string | number {
  if (f.type === 'datetime') return f.value.toSql();
  if (f.type === 'int') return f.value.toString();
  return f.value;
}

/**
 * A request the store will not run as asked (it would read without bound); `parameter` names
 * what to change. The API answers 400 with the message.
 */
export class QueryRefusedError extends Error {
  constructor(
    readonly parameter: string,
    message: string,
  ) {
    super(message);
    this.name = 'QueryRefusedError';
  }
}
