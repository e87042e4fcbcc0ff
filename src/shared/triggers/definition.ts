/**
 * A compiled trigger definition (spec §4.2, §4.3): which events go into which stream of this
 * trigger, when the stream is ready to fire, and when it expires. Pure logic: the stream store
 * calls these methods and keeps the results (distinguishing key, fire counts) with the stream.
 *
 * Matching follows upstream: every `distinguished_by` name (un-mapped, upstream's quirk) must be
 * a key of the event, then the first match criterion that matches wins. One fix: upstream then
 * read the *mapped* source trait and crashed ingest (KeyError, or a TypeError in timex) when it
 * was absent or, for a `{name: timex}` item, not a datetime; here such an event does not match,
 * with a debug reason ("not '<source>'" / "'<source>' is not a datetime").
 */
import { eventValue, type Event } from '../event.js';
import { DateTime } from '../time.js';
import type { TimexExpression } from '../timex/index.js';
import type { Criterion } from './criteria.js';
import { TriggerDebugger, type DebugGroup, type DebugLevel } from './debugger.js';
import type { DistinguishedBy, DistinguishingValue } from './distinguishing.js';
import { addHits, allSatisfied } from './fire-state.js';

export interface TriggerDefinitionSpec {
  readonly name: string;
  readonly debugLevel: DebugLevel;
  readonly distinguishedBy: readonly DistinguishedBy[];
  /** Variables: $first, $last, $timestamp (= now). */
  readonly expiration: TimexExpression;
  readonly firePipeline: string | null;
  readonly expirePipeline: string | null;
  readonly fireDelaySeconds: number;
  readonly matchCriteria: readonly Criterion[];
  readonly fireCriteria: readonly Criterion[];
  /** Fingerprint of fire_criteria as configured: streams remember which criteria their counts are for. */
  readonly fireCriteriaKey: string;
  /** Load-time notes, e.g. a misspelled key ignored under a compatibility switch. */
  readonly warnings: readonly string[];
}

export interface MatchResult {
  /** Index into match_criteria. */
  readonly index: number;
  readonly criterion: Criterion;
}

/** A source trait that match() must check beyond upstream's presence check. */
interface SourceCheck {
  readonly trait: string;
  readonly needsDatetime: boolean;
  readonly missing: string;
  readonly notDatetime: string;
}

/** Mapped sources (not covered by the presence check) and sources a timex item needs as datetimes. */
function sourceChecks(distinguishedBy: readonly DistinguishedBy[], sources: readonly string[]): SourceCheck[] {
  return distinguishedBy.flatMap((d, j) => {
    const trait = sources[j]!;
    const needsDatetime = d.expression !== null;
    if (trait === d.name && !needsDatetime) return [];
    return [{ trait, needsDatetime, missing: `not '${trait}'`, notDatetime: `'${trait}' is not a datetime` }];
  });
}

export class TriggerDefinition implements TriggerDefinitionSpec {
  readonly name: string;
  readonly debugLevel: DebugLevel;
  readonly distinguishedBy: readonly DistinguishedBy[];
  readonly expiration: TimexExpression;
  readonly firePipeline: string | null;
  readonly expirePipeline: string | null;
  readonly fireDelaySeconds: number;
  readonly matchCriteria: readonly Criterion[];
  readonly fireCriteria: readonly Criterion[];
  readonly fireCriteriaKey: string;
  readonly warnings: readonly string[];
  readonly debug: TriggerDebugger;

  private readonly matchGroup: DebugGroup;
  private readonly fireGroup: DebugGroup;
  private readonly presenceReasons: readonly string[];
  /** Per match criterion: the source trait of each distinguished_by item, in order. */
  private readonly sources: readonly (readonly string[])[];
  private readonly sourceChecks: readonly (readonly SourceCheck[])[];
  private readonly fireNumbers: readonly number[];

  constructor(spec: TriggerDefinitionSpec) {
    this.name = spec.name;
    this.debugLevel = spec.debugLevel;
    this.distinguishedBy = spec.distinguishedBy;
    this.expiration = spec.expiration;
    this.firePipeline = spec.firePipeline;
    this.expirePipeline = spec.expirePipeline;
    this.fireDelaySeconds = spec.fireDelaySeconds;
    this.matchCriteria = spec.matchCriteria;
    this.fireCriteria = spec.fireCriteria;
    this.fireCriteriaKey = spec.fireCriteriaKey;
    this.warnings = spec.warnings;
    this.debug = new TriggerDebugger(spec.name, spec.debugLevel);
    this.matchGroup = this.debug.group('Match');
    this.fireGroup = this.debug.group('Fire');
    this.presenceReasons = spec.distinguishedBy.map((d) => `not '${d.name}'`);
    this.sources = spec.matchCriteria.map((c) => spec.distinguishedBy.map((d) => c.mapDistinguishedBy.get(d.name) ?? d.name));
    this.sourceChecks = this.sources.map((sources) => sourceChecks(spec.distinguishedBy, sources));
    this.fireNumbers = spec.fireCriteria.map((c) => c.number);
  }

  /** The first match criterion the event matches, or null (spec §4.3). */
  match(event: Event): MatchResult | null {
    for (let j = 0; j < this.distinguishedBy.length; j++) {
      if (eventValue(event, this.distinguishedBy[j]!.name) === undefined) {
        this.matchGroup.fail(this.presenceReasons[j]!);
        return null;
      }
    }
    for (let index = 0; index < this.matchCriteria.length; index++) {
      const criterion = this.matchCriteria[index]!;
      if (criterion.match(event, this.matchGroup)) {
        return this.sourcesUsable(index, event) ? { index, criterion } : null;
      }
    }
    this.matchGroup.fail('No matching criteria');
    return null;
  }

  private sourcesUsable(index: number, event: Event): boolean {
    for (const check of this.sourceChecks[index]!) {
      const value = eventValue(event, check.trait);
      if (value === undefined) return this.matchGroup.fail(check.missing);
      if (check.needsDatetime && !(value instanceof DateTime)) return this.matchGroup.fail(check.notDatetime);
    }
    return true;
  }

  /** The stream-selecting values, in distinguished_by order, for an event match() accepted. */
  distinguishingTraits(event: Event, matched: MatchResult): DistinguishingValue[] {
    if (this.matchCriteria[matched.index] !== matched.criterion) {
      throw new Error(`match result does not belong to trigger "${this.name}"`);
    }
    const sources = this.sources[matched.index]!;
    return this.distinguishedBy.map((d, j) => {
      const value = eventValue(event, sources[j]!);
      if (value === undefined) throw new Error(`event ${event.messageId} has no "${sources[j]}" (was it accepted by match()?)`);
      return { name: d.name, value: d.valueFrom(value) };
    });
  }

  /** When a stream with these first/last event times expires (a range yields its begin). */
  expirationFor(first: DateTime, last: DateTime, now: DateTime): DateTime {
    return this.expiration.evaluate({ first, last, timestamp: now }, now).timestamp;
  }

  /** Which fire criteria this one event matches. */
  fireCriteriaHits(event: Event): boolean[] {
    return this.fireCriteria.map((c) => c.match(event, this.fireGroup));
  }

  /** The fire counts of a stream with no events yet. */
  initialFireCounts(): number[] {
    return this.fireNumbers.map(() => 0);
  }

  /** A stream's fire counts after one more event (each capped at its criterion's number). */
  addHits(counts: readonly number[], hits: readonly boolean[]): number[] {
    return addHits(this.fireNumbers, counts, hits);
  }

  /** Upstream's should_fire, from the counts: every fire criterion has enough matching events. */
  shouldFire(counts: readonly number[]): boolean {
    return this.fireGroup.check(allSatisfied(this.fireNumbers, counts), 'Not enough matching criteria');
  }
}
