/**
 * Reads the upstream YAML files the way PyYAML's safe_load does where it matters: YAML 1.1
 * (merge keys `<<: *anchor`, yes/no booleans). Errors name the file, line and column.
 */
import { existsSync, readFileSync } from 'node:fs';
import { parse, YAMLParseError, type ScalarTag, type Tags } from 'yaml';
import { ConfigError } from '../errors.js';

/**
 * The yaml package's YAML 1.1 float pattern also takes a lone `.` (so `config_path: .` would
 * become NaN); PyYAML's needs a digit. Same tag, PyYAML's pattern.
 */
const PYYAML_FLOAT = /^[-+]?(?:[0-9][0-9_]*\.[0-9_]*|\.[0-9_]+)$/;
function pyyamlFloats(tags: Tags): Tags {
  return tags.map((t) =>
    typeof t === 'object' && !('collection' in t && t.collection) && t.tag === 'tag:yaml.org,2002:float' && t.test?.source === '^[-+]?(?:[0-9][0-9_]*)?\\.[0-9_]*$'
      ? ({ ...t, test: PYYAML_FLOAT } as ScalarTag)
      : t,
  );
}

export function readYamlFile(file: string): unknown {
  if (!existsSync(file)) throw new ConfigError(file, '', 'file not found');
  const text = readFileSync(file, 'utf8');
  try {
    return parse(text, { version: '1.1', merge: true, uniqueKeys: false, maxAliasCount: 10_000, customTags: pyyamlFloats });
  } catch (err) {
    if (err instanceof YAMLParseError) {
      const pos = err.linePos?.[0];
      throw new ConfigError(file, pos ? `line ${pos.line}, column ${pos.col}` : '', `YAML syntax: ${err.message.split('\n')[0]!.replace(/ at line \d+, column \d+:?$/, '')}`);
    }
    throw err;
  }
}
