/**
 * Timex expressions in a triggers file, parsed once at load (spec §6).
 *
 * Besides syntax, two mistakes upstream only found per event are caught here:
 *   - a variable the context cannot supply: `distinguished_by` expressions see only
 *     `$timestamp` (anything else crashed ingest) and `expiration` sees `$first`, `$last` and
 *     `$timestamp`;
 *   - an unknown function (`week`): we evaluate once with every referenced variable bound to a
 *     fixed date, so the only TimexExpressionError left is the one the expression always raises.
 */
import { DateTime } from '../time.js';
import { parseTimex, TimexError, type TimexExpression } from '../timex/index.js';
import type { ConfigPath } from './config-path.js';

/** The 1st of a 31-day month, so month/day arithmetic in a sane expression cannot overflow. */
const TRIAL_TIME = DateTime.of(2001, 1, 1);

/** `allowed`: the only variables the expression may reference (any, when omitted). */
export function compileTimex(value: unknown, path: ConfigPath, allowed?: readonly string[]): TimexExpression {
  const source = typeof value === 'string' ? value : path.string(value);
  let expression: TimexExpression;
  try {
    expression = parseTimex(source);
  } catch (err) {
    if (err instanceof TimexError) throw path.error(`invalid timex expression ${JSON.stringify(source)}: ${err.message}`);
    throw err;
  }
  if (allowed !== undefined) {
    const bad = [...expression.variables].filter((name) => !allowed.includes(name));
    if (bad.length > 0) {
      throw path.error(
        `timex expression ${JSON.stringify(source)} references ${bad.map((v) => `$${v}`).join(', ')}; only ${allowed.map((v) => `$${v}`).join(', ')} can be used here`,
      );
    }
  }
  const trialVariables: Record<string, DateTime> = { timestamp: TRIAL_TIME };
  for (const name of expression.variables) trialVariables[name] = TRIAL_TIME;
  try {
    expression.evaluate(trialVariables, TRIAL_TIME);
  } catch (err) {
    if (err instanceof TimexError) throw path.error(`timex expression ${JSON.stringify(source)} cannot be evaluated: ${err.message}`);
    throw err;
  }
  return expression;
}
