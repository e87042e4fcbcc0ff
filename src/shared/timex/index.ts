/**
 * timex, the time-expression language of winchester configs (spec §6): `$last + 1h`,
 * `day($launched_at)`, `($a to $b) @ 0h`. Parse once with parseTimex, evaluate many times.
 *
 * Files: lexer (characters → tokens), parser (tokens → typed syntax tree), duration (the
 * `1d 2h` operands and calendar arithmetic), ranges (range functions, pinned wrap-around),
 * expression (syntax tree → closures), values (results), errors.
 */
import { CompiledExpression, type TimexExpression } from './expression.js';
import { parse } from './parser.js';

export { TimexError, TimexExpressionError, TimexLexerError, TimexParserError } from './errors.js';
export type { TimexExpression, TimexVariables } from './expression.js';
export { PinnedTimeRange, TimeRange, Timestamp, type RangeUnit, type TimexValue } from './values.js';

/** Parses `text`; throws TimexLexerError or TimexParserError. Nothing is cached. */
export function parseTimex(text: string): TimexExpression {
  return new CompiledExpression(text, parse(text));
}
