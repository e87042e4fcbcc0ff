/**
 * Event-type patterns as stackdistiller and winchester use them: Python fnmatch globs
 * (`*` matches anything, dots included; `?` one character; `[seq]`, `[!seq]`), case-sensitive,
 * with `!pattern` exclusions. A list of only exclusions includes everything else.
 *
 * We translate fnmatch ourselves (a dozen lines) because glob libraries treat `/` and `.`
 * specially, which fnmatch does not.
 */

export class EventTypeMatcher {
  readonly patterns: readonly string[];
  private readonly include: RegExp | null;
  private readonly exclude: RegExp | null;
  /** The literal pattern `*` is included and nothing is excluded (distiller catch-all test). */
  readonly isCatchAll: boolean;

  constructor(patterns: string | readonly string[]) {
    this.patterns = typeof patterns === 'string' ? [patterns] : [...patterns];
    const inc = this.patterns.filter((p) => !p.startsWith('!'));
    const exc = this.patterns.filter((p) => p.startsWith('!')).map((p) => p.slice(1));
    const included = inc.length > 0 ? inc : ['*'];
    this.include = included.includes('*') ? null : combine(included);
    this.exclude = exc.length > 0 ? combine(exc) : null;
    this.isCatchAll = inc.includes('*') && exc.length === 0;
  }

  matches(eventType: string): boolean {
    if (this.include !== null && !this.include.test(eventType)) return false;
    return this.exclude === null || !this.exclude.test(eventType);
  }
}

function combine(patterns: readonly string[]): RegExp {
  return new RegExp(`^(?:${patterns.map(fnmatchToRegexSource).join('|')})$`, 's');
}

/** Python fnmatch.translate, without the anchors. */
export function fnmatchToRegexSource(pattern: string): string {
  let out = '';
  let i = 0;
  while (i < pattern.length) {
    const c = pattern[i++]!;
    if (c === '*') {
      out += '.*';
    } else if (c === '?') {
      out += '.';
    } else if (c === '[') {
      let j = i;
      if (pattern[j] === '!') j++;
      if (pattern[j] === ']') j++;
      while (j < pattern.length && pattern[j] !== ']') j++;
      if (j >= pattern.length) {
        out += '\\[';
      } else {
        let body = pattern.slice(i, j).replace(/\\/g, '\\\\');
        i = j + 1;
        if (body.startsWith('!')) body = '^' + body.slice(1);
        else if (body.startsWith('^')) body = '\\' + body;
        out += `[${body}]`;
      }
    } else {
      out += c.replace(/[.*+?^${}()|[\]\\/-]/g, '\\$&');
    }
  }
  return out;
}
