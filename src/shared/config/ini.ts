/**
 * A reader for the INI dialect of Python's ConfigParser, which is what yagi.conf is written in.
 *
 * npm's `ini` package splits section names on dots (`[consumer:monitor.info]` becomes nested
 * sections) and knows neither `:` delimiters nor indented continuation lines, so we read the
 * format ourselves: `[section]` headers, `key = value` or `key: value`, option names folded to
 * lower case, whole-line `#`/`;` comments, indented lines continuing the previous value.
 * An option set twice in one section of one file is an error, as Python 3's strict ConfigParser
 * has it. No `%(name)s` interpolation (yagi's files use none). Every option remembers its line number
 * so errors can point at it.
 */
import { ConfigError } from '../errors.js';

export interface IniOption {
  readonly value: string;
  readonly line: number;
}

export type IniSection = ReadonlyMap<string, IniOption>;

export interface IniFile {
  readonly file: string;
  /** Section name (as written) → options (lower-cased names). */
  readonly sections: ReadonlyMap<string, IniSection>;
}

export function parseIni(text: string, file: string): IniFile {
  const sections = new Map<string, Map<string, IniOption>>();
  let current: Map<string, IniOption> | null = null;
  let lastKey: string | null = null;
  const lines = text.split(/\r?\n/);
  lines.forEach((raw, index) => {
    const lineNo = index + 1;
    if (/^\s*([#;].*)?$/.test(raw)) return;
    if (/^\s/.test(raw) && current !== null && lastKey !== null) {
      const prev = current.get(lastKey)!;
      current.set(lastKey, { value: `${prev.value}\n${raw.trim()}`, line: prev.line });
      return;
    }
    const header = /^\[([^\]]+)\]\s*$/.exec(raw);
    if (header) {
      const name = header[1]!.trim();
      current = sections.get(name) ?? new Map();
      sections.set(name, current);
      lastKey = null;
      return;
    }
    const option = /^([^=:]+?)\s*[=:]\s*(.*)$/.exec(raw);
    if (!option) throw new ConfigError(file, `line ${lineNo}`, `cannot parse ${JSON.stringify(raw.trim())}`);
    if (current === null) throw new ConfigError(file, `line ${lineNo}`, 'option before the first [section] header');
    lastKey = option[1]!.toLowerCase();
    // As Python 3's ConfigParser (strict): which of two values was meant is not ours to guess.
    const earlier = current.get(lastKey);
    if (earlier !== undefined) throw new ConfigError(file, `line ${lineNo}`, `option "${lastKey}" is set twice in this section (also line ${earlier.line})`);
    current.set(lastKey, { value: option[2]!.trim(), line: lineNo });
  });
  return { file, sections };
}
