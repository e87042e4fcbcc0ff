/**
 * The JSON form of an event's traits in event.traits (see migrations/0001_initial.sql):
 * text is a plain string; int {"i": "<digits>"} (exact beyond 2^53); float {"f": number} or
 * {"f": "NaN" | "Infinity" | "-Infinity"}; datetime {"d": "YYYY-MM-DD HH:MM:SS.ffffff"}.
 * Null values are not stored (upstream drops None-valued traits).
 */
import type { TraitValue } from '../event.js';
import { DateTime } from '../time.js';

type Encoded = string | { i: string } | { f: number | string } | { d: string };

export function encodeTraits(traits: Readonly<Record<string, TraitValue | null>>): string {
  const out: Record<string, Encoded> = {};
  for (const name in traits) {
    const v = traits[name];
    if (v === null || v === undefined) continue;
    out[name] = encodeValue(v);
  }
  return JSON.stringify(out);
}

export function encodeValue(v: TraitValue): Encoded {
  if (typeof v === 'string') return v;
  if (typeof v === 'bigint') return { i: v.toString() };
  if (typeof v === 'number') return { f: Number.isFinite(v) ? v : String(v) };
  return { d: v.toSql() };
}

export function decodeTraits(json: string): Record<string, TraitValue> {
  const raw = JSON.parse(json) as Record<string, Encoded>;
  const out: Record<string, TraitValue> = Object.create(null) as Record<string, TraitValue>;
  for (const name in raw) out[name] = decodeValue(raw[name]!);
  return out;
}

function decodeValue(e: Encoded): TraitValue {
  if (typeof e === 'string') return e;
  if ('i' in e) return BigInt(e.i);
  if ('f' in e) return typeof e.f === 'number' ? e.f : Number(e.f);
  return DateTime.parse(e.d);
}
