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
 * jsonpath-rw features outside the subset the spec requires are rejected with a clear message
 * rather than half-supported: `where` filters, `&` (never implemented upstream), slices other
 * than `[*]`, and the `this`/`parent` named operators.
 */

export type PathNode =
  | { readonly kind: 'root' }
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

type TokenType = 'name' | 'number' | 'where' | 'named' | '..' | '.' | '*' | '[' | ']' | '(' | ')' | '$' | ',' | ':' | '|' | '&' | 'end';

interface Token {
  readonly type: TokenType;
  readonly text: string;
  readonly at: number;
}

const BINARY_PRECEDENCE: Partial<Record<TokenType, number>> = { '..': 1, '.': 2, '|': 3, '&': 4, where: 5 };
const PUNCTUATION = new Set<string>(['*', '[', ']', '(', ')', '$', ',', ':', '|', '&']);
const NAME = /[A-Za-z_@][A-Za-z0-9_@-]*/y;
const NUMBER = /-?[0-9]+/y;
const NAMED_OPERATOR = /`[^`]*`/y;

export function parseJsonPath(text: string): PathNode {
  return new Parser(text).parse();
}

class Parser {
  private readonly tokens: Token[];
  private pos = 0;

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
        return this.fields(token);
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
      case 'named':
        throw this.unsupported(token, `named operator ${token.text} is not supported`);
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
    else if (token.type === ':' || token.type === 'number') throw this.unsupported(token, 'slices other than [*] are not supported');
    else throw this.unexpected(token);
    this.expect(']');
    return node;
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
