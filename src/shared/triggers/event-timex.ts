/**
 * A timex expression evaluated against one event, as criteria use it (spec §4.2): the variables
 * are the event's datetime-valued traits, `timestamp` (the event's time) included.
 *
 * Upstream copied every datetime trait into a dict per evaluation. The variables an expression
 * references are known when it is parsed, so we bind only those: a referenced trait that is
 * absent or not a datetime makes the evaluation fail (upstream: TimexExpressionError, which the
 * callers turn into a non-match with a debug reason) without building anything.
 */
import { eventValue, type Event } from '../event.js';
import { DateTime } from '../time.js';
import { TimexError, type TimexExpression, type TimexValue } from '../timex/index.js';

export class EventTimex {
  readonly expression: TimexExpression;
  private readonly traitVariables: readonly string[];

  constructor(expression: TimexExpression) {
    this.expression = expression;
    this.traitVariables = [...expression.variables].filter((name) => name !== 'timestamp');
  }

  /** The result, or null when a referenced variable is missing or evaluation fails. */
  evaluate(event: Event): TimexValue | null {
    const vars: Record<string, DateTime> = { timestamp: event.timestamp };
    for (const name of this.traitVariables) {
      const value = eventValue(event, name);
      if (!(value instanceof DateTime)) return null;
      vars[name] = value;
    }
    try {
      return this.expression.evaluate(vars);
    } catch (err) {
      if (err instanceof TimexError) return null;
      throw err;
    }
  }
}
