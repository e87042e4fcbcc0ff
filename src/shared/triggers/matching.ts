/**
 * Which streams an event belongs in: for each trigger definition, in file order, the first
 * matching criterion, the distinguishing values and the stream key they give, and which fire
 * criteria the event satisfies. Pure CPU, done once per event before the transaction (so
 * debug counters are not doubled by database retries).
 */
import { hash } from 'node:crypto';
import { PoisonMessageError, toError } from '../errors.js';
import type { Event } from '../event.js';
import { distinguishingKey, type DistinguishingValue, type TriggerDefinition } from './index.js';

export interface TriggerMatch {
  readonly trigger: TriggerDefinition;
  readonly values: readonly DistinguishingValue[];
  /** Canonical distinguishing key (stored in stream.distinguishing_key). */
  readonly key: string;
  /** SHA-256 of trigger name + key: the unique stream.open_key. */
  readonly openKey: Buffer;
  /** Per fire criterion: does this event match it. */
  readonly hits: readonly boolean[];
}

/** Throws PoisonMessageError naming the trigger when one cannot evaluate the event (a timex out of range). */
export function matchTriggers(triggers: readonly TriggerDefinition[], event: Event): TriggerMatch[] {
  const matches: TriggerMatch[] = [];
  for (const trigger of triggers) {
    try {
      const matched = trigger.match(event);
      if (matched === null) continue;
      const values = trigger.distinguishingTraits(event, matched);
      const key = distinguishingKey(values);
      matches.push({ trigger, values, key, openKey: openKeyOf(trigger.name, key), hits: trigger.fireCriteriaHits(event) });
    } catch (err) {
      // e.g. a timex that leaves years 1..9999 for this event's time
      throw new PoisonMessageError(`${event.eventType} (message_id ${event.messageId}): trigger ${trigger.name}: ${toError(err).message}`, { cause: err });
    }
  }
  return matches;
}

/** Open keys recently computed: one instance's events give the same key again and again. */
const recentOpenKeys = new Map<string, Buffer>();
const MAX_RECENT_OPEN_KEYS = 20_000;

/** SHA-256 of `triggerName` NUL `key` (32 bytes; callers must not modify it: it may be shared). */
export function openKeyOf(triggerName: string, key: string): Buffer {
  const text = `${triggerName}\0${key}`;
  let openKey = recentOpenKeys.get(text);
  if (openKey === undefined) {
    if (recentOpenKeys.size >= MAX_RECENT_OPEN_KEYS) recentOpenKeys.clear();
    // One-shot crypto.hash: half the cost of a createHash object per event.
    openKey = hash('sha256', text, 'buffer');
    recentOpenKeys.set(text, openKey);
  }
  return openKey;
}
