/**
 * timex parser (spec §6.2): tokens to a syntax tree whose every node is statically a timestamp
 * or a range expression, so evaluation never checks types.
 *
 *   expression := operand ['to' operand]          both operands timestamps
 *   operand    := primary (('+' | '-' | '@') duration)*
 *   primary    := '$' WORD | '(' expression ')' | NAME ['(' operand ')']
 *   duration   := (NUMBER [unit])+                 `1d 2h`; a NUMBER without unit is ambiguous
 *
 * This is upstream's LALR grammar written out by hand: `+`, `-` and `@` bind tighter than `to`
 * (`$a to $b + 1d` moves only `$b`), and since a duration is never an expression they chain left
 * to right. A NAME is a range function (hour, day, ...; which ones exist is checked at
 * evaluation, as upstream does). A duration with a unit-less number is only allowed directly on
 * a `to` range or a function call, parentheses aside: `(day + 1h) @ 2` fails, as upstream.
 *
 * Departures (§10 item 13): input that ends too early is a TimexParserError (upstream crashed),
 * and any WORD after `$` is a variable name, so `$d` and `$to` work.
 */
import { Duration, UNIT_WORDS, type DurationOp } from './duration.js';
import { TimexParserError } from './errors.js';
import { lineAndColumn, tokenize, type Token } from './lexer.js';

export type TimestampNode =
  | { readonly type: 'variable'; readonly name: string }
  | { readonly type: 'timestampOp'; readonly left: TimestampNode; readonly op: DurationOp; readonly duration: Duration };

export type RangeNode =
  | { readonly type: 'to'; readonly begin: TimestampNode; readonly end: TimestampNode }
  | { readonly type: 'call'; readonly name: string; readonly arg: TimestampNode | undefined }
  | { readonly type: 'rangeOp'; readonly left: RangeNode; readonly op: DurationOp; readonly duration: Duration };

export type SyntaxNode = TimestampNode | RangeNode;

export function isRange(node: SyntaxNode): node is RangeNode {
  return node.type === 'to' || node.type === 'call' || node.type === 'rangeOp';
}

/** Parses a whole expression; throws TimexLexerError or TimexParserError. */
export function parse(source: string): SyntaxNode {
  return new Parser(source).parseAll();
}

const TO = 'to';
const UNIT_REQUIRED = "Durations must have unit for TimestampExpressions (a unit-less number may only follow a 'to' range or a range function)";

class Parser {
  private readonly source: string;
  private readonly tokens: readonly Token[];
  private index = 0;

  constructor(source: string) {
    this.source = source;
    this.tokens = tokenize(source);
  }

  parseAll(): SyntaxNode {
    const node = this.expression();
    this.expect('end');
    return node;
  }

  private expression(): SyntaxNode {
    const left = this.operand();
    const to = this.peek();
    if (to.type !== 'word' || to.text !== TO) return left;
    if (isRange(left)) throw this.error(to, "the left side of 'to' must be a timestamp");
    this.index += 1;
    return { type: 'to', begin: left, end: this.timestampOperand() };
  }

  private timestampOperand(): TimestampNode {
    const first = this.peek();
    const node = this.operand();
    if (isRange(node)) throw this.error(first, 'a timestamp is expected here, not a range');
    return node;
  }

  private operand(): SyntaxNode {
    let node = this.primary();
    for (let token = this.peek(); token.type === '+' || token.type === '-' || token.type === '@'; token = this.peek()) {
      this.index += 1;
      const op = token.type;
      const duration = this.duration();
      if (duration.ambiguous !== undefined && node.type !== 'to' && node.type !== 'call') {
        throw this.error(token, UNIT_REQUIRED);
      }
      node = isRange(node) ? { type: 'rangeOp', left: node, op, duration } : { type: 'timestampOp', left: node, op, duration };
    }
    return node;
  }

  private primary(): SyntaxNode {
    const token = this.next();
    if (token.type === '$') {
      return { type: 'variable', name: this.expect('word').text };
    }
    if (token.type === '(') {
      const inner = this.expression();
      this.expect(')');
      return inner;
    }
    if (token.type === 'word' && token.text !== TO && !UNIT_WORDS.has(token.text)) {
      if (this.peek().type !== '(') return { type: 'call', name: token.text, arg: undefined };
      this.index += 1;
      const arg = this.timestampOperand();
      this.expect(')');
      return { type: 'call', name: token.text, arg };
    }
    throw this.error(token);
  }

  private duration(): Duration {
    let result: Duration | undefined;
    do {
      const number = this.expect('number');
      const amount = Number(number.text);
      const after = this.peek();
      const unit = after.type === 'word' ? UNIT_WORDS.get(after.text) : undefined;
      if (unit !== undefined) this.index += 1;
      else if (after.type === 'word' && after.text !== TO) throw this.error(after, 'not a unit');
      const term = unit === undefined ? Duration.unitless(amount) : Duration.of(unit, amount);
      result = result === undefined ? term : result.plus(term);
      if (!result.isExact()) throw this.error(number, 'number too large');
    } while (this.peek().type === 'number');
    return result;
  }

  private peek(): Token {
    // The last token is always `end`, and nothing reads past it.
    return this.tokens[Math.min(this.index, this.tokens.length - 1)]!;
  }

  private next(): Token {
    const token = this.peek();
    this.index += 1;
    return token;
  }

  private expect(type: Token['type']): Token {
    const token = this.next();
    if (token.type !== type) throw this.error(token);
    return token;
  }

  private error(token: Token, detail?: string): TimexParserError {
    const suffix = detail === undefined ? '' : `: ${detail}`;
    if (token.type === 'end') return new TimexParserError(`Unexpected end of expression${suffix}`);
    const { line, column } = lineAndColumn(this.source, token.pos);
    return new TimexParserError(`Parse error at line ${line}, column ${column} near ${JSON.stringify(token.text)}${suffix}`);
  }
}
