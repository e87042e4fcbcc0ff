/**
 * Reads the upstream YAML files the way PyYAML's safe_load does where it matters: YAML 1.1
 * (merge keys `<<: *anchor`, yes/no booleans). Errors name the file, line and column.
 */
import { existsSync, readFileSync } from 'node:fs';
import { parse, YAMLParseError } from 'yaml';
import { ConfigError } from '../errors.js';

export function readYamlFile(file: string): unknown {
  if (!existsSync(file)) throw new ConfigError(file, '', 'file not found');
  const text = readFileSync(file, 'utf8');
  try {
    return parse(text, { version: '1.1', merge: true, uniqueKeys: false, maxAliasCount: 10_000 });
  } catch (err) {
    if (err instanceof YAMLParseError) {
      const pos = err.linePos?.[0];
      throw new ConfigError(file, pos ? `line ${pos.line}, column ${pos.col}` : '', `YAML syntax: ${err.message.split('\n')[0]}`);
    }
    throw err;
  }
}
