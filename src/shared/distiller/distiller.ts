/**
 * The distiller: one OpenStack notification → one typed Event (spec §3.5), or null when no
 * definition wants it.
 *
 * Per notification:
 *  1. event_type and message_id must be present (upstream: KeyError) and, here, strings.
 *  2. The definition is the first match in reverse file order (later, more specific
 *     definitions override earlier generic ones), with an implicit catch-all appended last when
 *     `catchAll` is set and no definition already is one. Lookups are cached per event_type.
 *  3. The time is `timestamp` if that key exists, else `_context_timestamp`; a falsy value
 *     (null, '', 0) means `now`. It is parsed like a datetime trait.
 *  4. Each trait: extract, omit when null (or '' for non-text types), convert. Any conversion
 *     failure fails the whole notification, as upstream, but as a PoisonMessageError that says
 *     which notification, trait and value, so ingest can quarantine it.
 *  5. The envelope wins over traits named message_id/event_type/timestamp (winchester's
 *     EventCondenser writes it last), so Event.traits never holds those names.
 *
 * Upstream's winchester then discarded events with no traits at all; isValidForStorage() is
 * that check, so callers can tell "dropped" (null) from "distilled but unstorable".
 */
import { readYamlFile } from '../config/yaml-file.js';
import { PoisonMessageError, toError } from '../errors.js';
import type { Event, TraitValue } from '../event.js';
import type { DateTime } from '../time.js';
import { ConversionError, describe, toDateTime } from './convert.js';
import {
  CATCH_ALL_DEFINITION,
  compileDefinition,
  compileDefinitions,
  type CompiledDefinition,
  type CompiledTrait,
} from './definitions.js';
import { BUILTIN_PLUGINS, type TraitPluginFactory } from './plugins.js';
import { guardAmbiguity, isExactParseSignal } from './python-json.js';
import { pyTruthy } from './python.js';

export interface DistillerOptions {
  /** winchester's catch_all_notifications: keep unmatched notifications with the default traits. */
  catchAll: boolean;
  /** Extra trait plugins by name (winchester's distiller_trait_plugins); they may replace built-ins. */
  plugins?: Readonly<Record<string, TraitPluginFactory>>;
}

/** Distinct event types remembered by the lookup cache before it starts over. */
const MAX_CACHED_EVENT_TYPES = 10_000;

export class Distiller {
  /** Definitions in lookup order: reverse file order, then the implicit catch-all. */
  private readonly definitions: readonly CompiledDefinition[];
  private readonly byEventType = new Map<string, CompiledDefinition | null>();

  private constructor(definitions: readonly CompiledDefinition[]) {
    this.definitions = definitions;
  }

  /** Loads a definitions file; throws ConfigError naming the file, key path and reason. */
  static fromFile(path: string, options: DistillerOptions): Distiller {
    return Distiller.fromDefinitions(readYamlFile(path), path, options);
  }

  /** `definitions` is the parsed YAML list; `source` names it in ConfigErrors. */
  static fromDefinitions(definitions: unknown, source: string, options: DistillerOptions): Distiller {
    const plugins = { ...BUILTIN_PLUGINS, ...options.plugins };
    const lookupOrder = compileDefinitions(definitions, source, plugins).reverse();
    if (options.catchAll && !lookupOrder.some((d) => d.matcher.isCatchAll)) {
      lookupOrder.push(compileDefinition(CATCH_ALL_DEFINITION, [], '<implicit catch-all>', plugins));
    }
    return new Distiller(lookupOrder);
  }

  /**
   * Returns null when no definition matches (dropped). Throws PoisonMessageError when the
   * notification can never be distilled: missing or non-string event_type/message_id, a bad
   * timestamp, a trait value that does not convert.
   *
   * `notification` is a decoded body (amqp/oslo.ts) or any plain JSON object. For a body that
   * JSON.parse read, a trait that depends on how a number was written (str() of `1.0`, int() of
   * a number beyond 2^53) makes the whole notification be distilled again from the exact parse
   * (python-json.ts), so the result is always what the exact values give.
   */
  distill(notification: Record<string, unknown>, now: DateTime): Event | null {
    try {
      return guardAmbiguity(notification, (exact) => this.distillExact(exact as Record<string, unknown>, now));
    } catch (err) {
      if (err instanceof SyntaxError) throw new PoisonMessageError(`body is not JSON as Python reads it: ${err.message}`, { cause: err });
      throw err;
    }
  }

  private distillExact(notification: Record<string, unknown>, now: DateTime): Event | null {
    const eventType = envelopeString(notification, 'event_type');
    const messageId = envelopeString(notification, 'message_id');
    const definition = this.definitionFor(eventType);
    if (definition === null) return null;

    const timestamp = eventTime(notification, now, eventType, messageId);
    const traits: Record<string, TraitValue> = {};
    for (const trait of definition.traits) {
      const value = traitValue(trait, notification, eventType, messageId);
      if (value !== null && !trait.shadowedByEnvelope) traits[trait.name] = value;
    }
    return { messageId, eventType, timestamp, traits };
  }

  private definitionFor(eventType: string): CompiledDefinition | null {
    let definition = this.byEventType.get(eventType);
    if (definition === undefined) {
      definition = this.definitions.find((d) => d.matcher.matches(eventType)) ?? null;
      if (this.byEventType.size >= MAX_CACHED_EVENT_TYPES) this.byEventType.clear();
      this.byEventType.set(eventType, definition);
    }
    return definition;
  }
}

/** winchester's EventCondenser.validate(): an event without traits is not stored. */
export function isValidForStorage(event: Event): boolean {
  for (const name in event.traits) if (event.traits[name] !== null) return true;
  return false;
}

function envelopeString(notification: Record<string, unknown>, key: 'event_type' | 'message_id'): string {
  if (!Object.hasOwn(notification, key)) {
    const id = notification['message_id'];
    throw new PoisonMessageError(`notification${typeof id === 'string' ? ` ${id}` : ''} has no ${key}`);
  }
  const value = notification[key];
  if (typeof value !== 'string') throw new PoisonMessageError(`notification ${key} must be a string, not ${describe(value)}`);
  return value;
}

function eventTime(notification: Record<string, unknown>, now: DateTime, eventType: string, messageId: string): DateTime {
  const key = Object.hasOwn(notification, 'timestamp') ? 'timestamp' : '_context_timestamp';
  const value = notification[key];
  if (!pyTruthy(value)) return now;
  try {
    return toDateTime(value);
  } catch (err) {
    throw poison(err, `${eventType} (message_id ${messageId}): ${key}`);
  }
}

/** Steps 1–4 of §3.3 for one trait; null = omitted. */
function traitValue(trait: CompiledTrait, body: Record<string, unknown>, eventType: string, messageId: string): TraitValue | null {
  try {
    const raw = trait.extract(body);
    if (raw === null || raw === undefined || (raw === '' && trait.type !== 'text')) return null;
    return trait.convert(raw);
  } catch (err) {
    throw poison(err, `${eventType} (message_id ${messageId}): trait ${trait.name} (${trait.type})`);
  }
}

/** Conversion failures explain themselves; anything else (a custom plugin's bug) is kept as the cause. */
function poison(err: unknown, context: string): PoisonMessageError {
  if (isExactParseSignal(err)) throw err;
  const error = toError(err);
  const reason = error instanceof ConversionError ? error.message : `unexpected ${error.name}: ${error.message}`;
  return new PoisonMessageError(`${context}: ${reason}`, { cause: err });
}
