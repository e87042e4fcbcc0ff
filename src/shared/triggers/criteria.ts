/**
 * One criteria block of `match_criteria` or `fire_criteria` (spec §4.2, §4.3), compiled.
 *
 * `match` depends on the event alone: event type globs (with `!` exclusions), then the optional
 * `timestamp` timex (the event's time must be `in` it; a referenced trait that is missing is a
 * non-match), then every trait criterion in file order, stopping at the first failure. That
 * independence from other events is what lets fire criteria be counted incrementally.
 */
import type { Event } from '../event.js';
import type { EventTypeMatcher } from '../glob.js';
import type { DebugGroup } from './debugger.js';
import type { EventTimex } from './event-timex.js';
import type { TraitCriterion } from './trait-criterion.js';

export interface CriterionSpec {
  readonly eventTypes: EventTypeMatcher;
  /** Minimum number of matching events (fire criteria only). */
  readonly number: number;
  readonly timestamp: EventTimex | null;
  /** distinguished_by name → the event trait that supplies its value when this criterion matched. */
  readonly mapDistinguishedBy: ReadonlyMap<string, string>;
  readonly traits: readonly TraitCriterion[];
}

export class Criterion implements CriterionSpec {
  readonly eventTypes: EventTypeMatcher;
  readonly number: number;
  readonly timestamp: EventTimex | null;
  readonly mapDistinguishedBy: ReadonlyMap<string, string>;
  readonly traits: readonly TraitCriterion[];

  constructor(spec: CriterionSpec) {
    this.eventTypes = spec.eventTypes;
    this.number = spec.number;
    this.timestamp = spec.timestamp;
    this.mapDistinguishedBy = spec.mapDistinguishedBy;
    this.traits = spec.traits;
  }

  match(event: Event, group: DebugGroup): boolean {
    if (!this.eventTypes.matches(event.eventType)) return group.fail('Wrong event type');
    if (this.timestamp !== null) {
      const window = this.timestamp.evaluate(event);
      if (window === null) return group.fail('No timestamp trait');
      if (!window.contains(event.timestamp)) return group.fail('Not time yet.');
    }
    if (this.traits.length === 0) return group.pass();
    for (const trait of this.traits) {
      if (!trait.match(event, group)) return false;
    }
    return true;
  }
}
