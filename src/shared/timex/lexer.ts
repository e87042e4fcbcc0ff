/**
 * timex lexer (spec §6.1). Tokens: NUMBER (`\d+`), WORD (`[a-zA-Z_][a-zA-Z0-9_]*`), and
 * `+ - @ $ ( )`. Space, tab and newline separate tokens; any other character is a
 * TimexLexerError.
 *
 * Words stay words here: whether `d` is a unit, `to` the range operator or a name depends on
 * where it stands, which the parser decides (so `$d` and `$to` are variables; upstream could
 * not parse them).
 *
 * Fix of upstream (`1h30m` was one NUMBER then the word `h30m`): a word that touches the
 * preceding NUMBER and starts with letters that form a unit immediately followed by a digit is
 * cut after the unit, so `1h30m15s` lexes as `1 h 30 m 15 s`. Nothing else is split: `1 h30m`
 * (space before the word), `1h_30m` and `1D` stay single words and fail to parse as before.
 */
import { UNIT_WORDS } from './duration.js';
import { TimexLexerError } from './errors.js';

export type TokenType = 'number' | 'word' | '+' | '-' | '@' | '$' | '(' | ')' | 'end';

export interface Token {
  readonly type: TokenType;
  readonly text: string;
  /** Offset of the first character in the source. */
  readonly pos: number;
}

const PUNCTUATION: ReadonlySet<string> = new Set(['+', '-', '@', '$', '(', ')']);
const WHITESPACE: ReadonlySet<string> = new Set([' ', '\t', '\n']);
const DIGITS = /[0-9]+/y;
const WORD = /[a-zA-Z_][a-zA-Z0-9_]*/y;
const UNIT_BEFORE_DIGIT = /^([a-zA-Z]+)[0-9]/;

/** The tokens of `source`, ending with an `end` token. */
export function tokenize(source: string): Token[] {
  const tokens: Token[] = [];
  let pos = 0;
  while (pos < source.length) {
    const ch = source.charAt(pos);
    if (WHITESPACE.has(ch)) {
      pos += 1;
      continue;
    }
    if (PUNCTUATION.has(ch)) {
      tokens.push({ type: ch as TokenType, text: ch, pos });
      pos += 1;
      continue;
    }
    const number = match(DIGITS, source, pos);
    if (number !== undefined) {
      tokens.push({ type: 'number', text: number, pos });
      pos += number.length;
      continue;
    }
    const word = match(WORD, source, pos);
    if (word !== undefined) {
      const text = touchesNumber(tokens, pos) ? (leadingUnit(word) ?? word) : word;
      tokens.push({ type: 'word', text, pos });
      pos += text.length;
      continue;
    }
    const { line, column } = lineAndColumn(source, pos);
    throw new TimexLexerError(`Unexpected character ${JSON.stringify(ch)} at line ${line}, column ${column}`);
  }
  tokens.push({ type: 'end', text: '', pos });
  return tokens;
}

/** 1-based line and column of an offset, for messages. */
export function lineAndColumn(source: string, pos: number): { line: number; column: number } {
  const before = source.slice(0, pos);
  const lineStart = before.lastIndexOf('\n') + 1;
  return { line: before.split('\n').length, column: pos - lineStart + 1 };
}

function match(re: RegExp, source: string, pos: number): string | undefined {
  re.lastIndex = pos;
  return re.exec(source)?.[0];
}

/** True when the previous token is a NUMBER ending right at `pos`. */
function touchesNumber(tokens: readonly Token[], pos: number): boolean {
  const last = tokens.at(-1);
  return last?.type === 'number' && last.pos + last.text.length === pos;
}

/** `h` for `h30m`: the unit a touching word starts with, when a digit follows it. */
function leadingUnit(word: string): string | undefined {
  const letters = UNIT_BEFORE_DIGIT.exec(word)?.[1];
  return letters !== undefined && UNIT_WORDS.has(letters) ? letters : undefined;
}
