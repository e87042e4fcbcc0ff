/**
 * Parser for the jsonpath-rw 1.4 dialect that `fields` in event definitions are written in
 * (spec §3.3). It produces a small AST that jsonpath.ts compiles into closures at load time.
 *
 * Lexing follows jsonpath-rw: unquoted names are `[A-Za-z_@][A-Za-z0-9_@-]*`; any other name
 * is quoted with '…' or "…" (a backslash takes the next character literally); numbers are
 * `-?[0-9]+`; spaces, tabs and newlines between tokens are ignored; `where` is a keyword.
 *
 * Grammar, with jsonpath-rw's operator precedence (PLY, lowest first: `..`, `.`, `|`) and all
 * binary operators left-associative. Note that `|` binds tighter than `.`, so `a.b|c.d` means
 * `a.(b|c).d`; that is why a `fields` list is joined as `(p1)|(p2)`.
 *
 *   path    := path '..' path | path '.' path | path '|' path | postfix
 *   postfix := primary ( '[' bracket ']' )*
 *   primary := name (',' name)* | '*' | '$' | '(' path ')' | '[' bracket ']'
 *   bracket := number | '*' | name (',' name)*
 *
 * Two extensions of jsonpath-rw-ext, the dialect Ceilometer's event_definitions.yaml is written
 * in (its shipped file uses both, and nothing else beyond jsonpath-rw):
 *
 *   primary += '`split(c, segment, max_split)`'    c one character, segment ≥ 0, max_split ≥ -1
 *   bracket += '?' filter ('&' filter)*
 *   filter  := path [ op value ]   op = == | = | != | < | <= | > | >=;  value = name | int | float
 *
 * Inside a filter `@` is the element itself (`[?@.key=a]` is `[?key=a]`).
 *
 * jsonpath-rw features outside that subset are rejected with a clear message rather than
 * half-supported: `where` filters, `&` between paths (never implemented upstream), slices other
 * than `[*]`, other named operators (`this`, `parent`, jsonpath-rw-ext's `len`, `sub`, `sorted`)
 * and jsonpath-rw-ext's arithmetic and sorting.
 */

/** A filter's right-hand side: an int literal compares int(value) (jsonpath-rw-ext), the others compare the value. */
export type FilterValue = { readonly kind: 'int'; readonly value: bigint } | { readonly kind: 'float'; readonly value: number } | { readonly kind: 'string'; readonly value: string };
export type FilterOp = '==' | '!=' | '<' | '<=' | '>' | '>=';

export interface FilterExpression {
  readonly target: PathNode;
  /** null: the element matches when `target` finds anything in it. */
  readonly op: FilterOp | null;
  readonly value: FilterValue | null;
}

export type PathNode =
  | { readonly kind: 'root' }
  | { readonly kind: 'this' }
  | { readonly kind: 'filter'; readonly expressions: readonly FilterExpression[] }
  | { readonly kind: 'split'; readonly separator: string; readonly segment: number; readonly maxSplit: number }
  | { readonly kind: 'fields'; readonly names: readonly string[] }
  | { readonly kind: 'wildcard' }
  | { readonly kind: 'index'; readonly index: number }
  | { readonly kind: 'every' }
  | { readonly kind: 'child' | 'descendants' | 'union'; readonly left: PathNode; readonly right: PathNode };

export class JsonPathSyntaxError extends Error {
  constructor(message: string) {
    super(message);
    this.name = 'JsonPathSyntaxError';
  }
}

type TokenType =
  | 'name'
  | 'number'
  | 'float'
  | 'op'
  | 'where'
  | 'named'
  | '..'
  | '.'
  | '*'
  | '['
  | ']'
  | '('
  | ')'
  | '$'
  | ','
  | ':'
  | '|'
  | '&'
  | '?'
  | 'end';

interface Token {
  readonly type: TokenType;
  readonly text: string;
  readonly at: number;
}

const BINARY_PRECEDENCE: Partial<Record<TokenType, number>> = { '..': 1, '.': 2, '|': 3, '&': 4, where: 5 };
const PUNCTUATION = new Set<string>(['*', '[', ']', '(', ')', '$', ',', ':', '|', '&', '?']);
const NAME = /[A-Za-z_@][A-Za-z0-9_@-]*/y;
const NUMBER = /-?[0-9]+/y;
const FLOAT = /-?[0-9]+\.[0-9]+/y;
const COMPARISON = /==?|<=|>=|!=|<|>/y;
const NAMED_OPERATOR = /`[^`]*`/y;
// jsonpath-rw-ext's split(): one separator character, a segment, a split limit (-1: none).
const SPLIT = /^split\((.),\s+([0-9]+),\s+([0-9]+|-1)\)$/;

export function parseJsonPath(text: string): PathNode {
  return new Parser(text).parse();
}

class Parser {
  private readonly tokens: Token[];
  private pos = 0;
  /** > 0 while parsing a filter's paths: `&` ends a path and `@` is the element. */
  private inFilter = 0;

  constructor(private readonly text: string) {
    this.tokens = tokenize(text);
  }

  parse(): PathNode {
    const node = this.path(0);
    this.expect('end');
    return node;
  }

  private path(minPrecedence: number): PathNode {
    let left = this.postfix();
    for (;;) {
      const op = this.peek();
      const precedence = BINARY_PRECEDENCE[op.type];
      if (precedence === undefined || precedence < minPrecedence) return left;
      if (op.type === '&' && this.inFilter > 0) return left;
      if (op.type === 'where') throw this.unsupported(op, '`where` filters are not supported (quote a key named where)');
      if (op.type === '&') throw this.unsupported(op, '`&` intersections are not supported');
      this.pos++;
      const right = this.path(precedence + 1);
      const kind = op.type === '..' ? 'descendants' : op.type === '.' ? 'child' : 'union';
      left = { kind, left, right };
    }
  }

  private postfix(): PathNode {
    let node = this.primary();
    while (this.peek().type === '[') {
      this.pos++;
      node = { kind: 'child', left: node, right: this.bracket() };
    }
    return node;
  }

  private primary(): PathNode {
    const token = this.next();
    switch (token.type) {
      case 'name':
        return this.inFilter > 0 && token.text === '@' ? { kind: 'this' } : this.fields(token);
      case '*':
        return { kind: 'wildcard' };
      case '$':
        return { kind: 'root' };
      case '(': {
        const node = this.path(0);
        this.expect(')');
        return node;
      }
      case '[':
        return this.bracket();
      case 'named': {
        const split = SPLIT.exec(token.text.slice(1, -1));
        if (!split) throw this.unsupported(token, `named operator ${token.text} is not supported (only \`split(c, segment, max_split)\`)`);
        return { kind: 'split', separator: split[1]!, segment: Number(split[2]), maxSplit: Number(split[3]) };
      }
      default:
        throw this.unexpected(token);
    }
  }

  /** After '[': an index, `*`, or field names; consumes the closing ']'. */
  private bracket(): PathNode {
    const token = this.next();
    let node: PathNode;
    if (token.type === 'number' && this.peek().type !== ':') node = { kind: 'index', index: Number(token.text) };
    else if (token.type === '*') node = { kind: 'every' };
    else if (token.type === 'name') node = this.fields(token);
    else if (token.type === '?') node = this.filter();
    else if (token.type === ':' || token.type === 'number') throw this.unsupported(token, 'slices other than [*] are not supported');
    else throw this.unexpected(token);
    this.expect(']');
    return node;
  }

  /** After '[?': filter expressions joined by '&'. */
  private filter(): PathNode {
    const expressions: FilterExpression[] = [];
    this.inFilter++;
    for (;;) {
      const target = this.path(0);
      let op: FilterOp | null = null;
      let value: FilterValue | null = null;
      if (this.peek().type === 'op') {
        const text = this.next().text;
        op = text === '=' ? '==' : (text as FilterOp);
        value = this.filterValue();
      }
      expressions.push({ target, op, value });
      if (this.peek().type !== '&') break;
      this.pos++;
    }
    this.inFilter--;
    return { kind: 'filter', expressions };
  }

  private filterValue(): FilterValue {
    const token = this.next();
    if (token.type === 'name') return { kind: 'string', value: token.text };
    if (token.type === 'number') return { kind: 'int', value: BigInt(token.text) };
    if (token.type === 'float') return { kind: 'float', value: Number(token.text) };
    throw this.unexpected(token);
  }

  private fields(first: Token): PathNode {
    const names = [first.text];
    while (this.peek().type === ',') {
      this.pos++;
      const token = this.next();
      if (token.type !== 'name') throw this.unexpected(token);
      names.push(token.text);
    }
    return { kind: 'fields', names };
  }

  private peek(): Token {
    return this.tokens[this.pos]!;
  }

  private next(): Token {
    const token = this.tokens[this.pos]!;
    if (token.type !== 'end') this.pos++;
    return token;
  }

  private expect(type: TokenType): void {
    const token = this.next();
    if (token.type !== type) throw this.unexpected(token);
  }

  private unexpected(token: Token): JsonPathSyntaxError {
    const what = token.type === 'end' ? 'unexpected end' : `unexpected ${JSON.stringify(token.text)} at offset ${token.at}`;
    return new JsonPathSyntaxError(`${what} in JSONPath ${JSON.stringify(this.text)}`);
  }

  private unsupported(token: Token, reason: string): JsonPathSyntaxError {
    return new JsonPathSyntaxError(`${reason} (offset ${token.at} in JSONPath ${JSON.stringify(this.text)})`);
  }
}

function tokenize(text: string): Token[] {
  const tokens: Token[] = [];
  let i = 0;
  const sticky = (re: RegExp): string | undefined => {
    re.lastIndex = i;
    return re.exec(text)?.[0];
  };
  while (i < text.length) {
    const ch = text[i]!;
    const at = i;
    if (ch === ' ' || ch === '\t' || ch === '\n') {
      i++;
    } else if (ch === '.') {
      const type = text[i + 1] === '.' ? '..' : '.';
      tokens.push({ type, text: type, at });
      i += type.length;
    } else if (ch === "'" || ch === '"') {
      const [name, end] = readQuoted(text, i);
      tokens.push({ type: 'name', text: name, at });
      i = end;
    } else if (PUNCTUATION.has(ch)) {
      tokens.push({ type: ch as TokenType, text: ch, at });
      i++;
    } else if (sticky(COMPARISON) !== undefined) {
      const op = sticky(COMPARISON)!;
      tokens.push({ type: 'op', text: op, at });
      i += op.length;
    } else if (tokens.at(-1)?.type === 'op' && sticky(FLOAT) !== undefined) {
      const float = sticky(FLOAT)!;
      tokens.push({ type: 'float', text: float, at });
      i += float.length;
    } else {
      const name = sticky(NAME);
      const number = name === undefined ? sticky(NUMBER) : undefined;
      const named = name === undefined && number === undefined ? sticky(NAMED_OPERATOR) : undefined;
      const lexeme = name ?? number ?? named;
      if (lexeme === undefined) {
        throw new JsonPathSyntaxError(`illegal character ${JSON.stringify(ch)} at offset ${at} in JSONPath ${JSON.stringify(text)}`);
      }
      const type: TokenType = name === 'where' ? 'where' : name !== undefined ? 'name' : number !== undefined ? 'number' : 'named';
      tokens.push({ type, text: lexeme, at });
      i += lexeme.length;
    }
  }
  tokens.push({ type: 'end', text: '', at: text.length });
  return tokens;
}

/** Reads a quoted name starting at the opening quote; returns the name and the offset after it. */
function readQuoted(text: string, start: number): [string, number] {
  const quote = text[start];
  let name = '';
  let i = start + 1;
  while (i < text.length) {
    const ch = text[i]!;
    if (ch === quote) return [name, i + 1];
    if (ch === '\\' && i + 1 < text.length) {
      name += text[i + 1];
      i += 2;
    } else {
      name += ch;
      i++;
    }
  }
  throw new JsonPathSyntaxError(`unterminated quoted name at offset ${start} in JSONPath ${JSON.stringify(text)}`);
}
