/**
 * Message bodies as OpenStack sends them (spec §2.5): oslo.messaging 2.0 envelopes
 * `{"oslo.version": "2.0", "oslo.message": "<JSON of the notification>"}`, and bare 1.0
 * notifications. Anything else is poison: the reason says exactly what is wrong.
 */
import { PoisonMessageError } from '../errors.js';

export type Notification = Record<string, unknown>;

export function decodeNotification(body: Buffer | string, _properties?: unknown): Notification {
  const text = typeof body === 'string' ? body : body.toString('utf8');
  const outer = parseJsonObject(text, 'body');
  if (!('oslo.message' in outer) && !('oslo.version' in outer)) return outer;
  const version = outer['oslo.version'];
  const inner = outer['oslo.message'];
  if (version !== '2.0') {
    throw new PoisonMessageError(`unknown oslo envelope version ${JSON.stringify(version)} (expected "2.0")`);
  }
  if (typeof inner !== 'string') {
    throw new PoisonMessageError(`oslo envelope: "oslo.message" must be a JSON string, got ${describe(inner)}`);
  }
  return parseJsonObject(inner, 'oslo.message');
}

/** Wraps a notification the way oslo.messaging 2.0 sends it (notigen, tests, benchmarks). */
export function encodeOsloV2(notification: Notification): string {
  return JSON.stringify({ 'oslo.version': '2.0', 'oslo.message': JSON.stringify(notification) });
}

function parseJsonObject(text: string, what: string): Notification {
  let value: unknown;
  try {
    value = JSON.parse(text);
  } catch (err) {
    throw new PoisonMessageError(`${what} is not JSON: ${(err as Error).message}`);
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
