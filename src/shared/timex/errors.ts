/**
 * timex error classes (spec §6.2, §6.3). Callers catch TimexError to treat any bad expression
 * or failed evaluation alike, so every failure timex raises is one of these, including the
 * calendar errors upstream let escape as Python ValueError/OverflowError (§10 item 13).
 */

export class TimexError extends Error {
  constructor(message: string) {
    super(message);
    this.name = new.target.name;
  }
}

/** A character outside the token set, e.g. `.` in `1.5h`. */
export class TimexLexerError extends TimexError {}

/** Tokens that do not form an expression, including input that ends too early. */
export class TimexParserError extends TimexError {}

/** Evaluation failed: unknown variable or function, or a date outside the calendar. */
export class TimexExpressionError extends TimexError {}
