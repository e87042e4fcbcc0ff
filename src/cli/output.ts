/**
 * How `stv3` prints: aligned tables for people (cli-table3, datetimes as `2015-02-27
 * 15:27:18.603932`), or with `--json` the API's JSON, indented, for scripts.
 */
import Table from 'cli-table3';
import { untag, type Json } from './client.js';

/** A table with a header row; cells are printed as given (untagged). */
export function table(head: readonly string[], rows: readonly (readonly (Json | undefined)[])[]): string {
  const t = new Table({ head: [...head], style: { head: [], border: [], compact: true }, wordWrap: false });
  for (const r of rows) t.push(r.map(cell));
  return t.toString();
}

/** A value for a table cell: tagged datetimes readable (space, not T), null as n/a. */
export function cell(value: Json | undefined): string {
  const text = untag(value);
  return /^\d{4}-\d{2}-\d{2}T\d{2}:\d{2}:\d{2}/.test(text) ? text.replace(/T/, ' ').replace(/ \.\. (\d{4}-\d{2}-\d{2})T/, ' .. $1 ') : text;
}

export function print(text: string): void {
  process.stdout.write(text.endsWith('\n') ? text : `${text}\n`);
}

export function printJson(value: unknown): void {
  print(JSON.stringify(value, null, 2));
}

/** "12 s ago", "3.5 h ago" for ages in seconds. */
export function age(seconds: number | null): string {
  if (seconds === null || !Number.isFinite(seconds)) return 'n/a';
  const s = Math.max(0, seconds);
  if (s < 120) return `${s.toFixed(s < 10 ? 1 : 0)} s`;
  if (s < 7200) return `${(s / 60).toFixed(0)} min`;
  if (s < 172_800) return `${(s / 3600).toFixed(1)} h`;
  return `${(s / 86_400).toFixed(1)} days`;
}
