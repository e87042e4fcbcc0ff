/**
 * Validates and compiles one criteria block and its trait criteria (spec §4.2).
 *
 * Every mistake upstream accepted and then crashed on, or silently never matched, is a load
 * error here: unknown keys (notably the misspelled `map_distingushed_by` of winchester-etc), an
 * unknown trait criterion type (`numeric:`), a bad operator or number in `{int: …}`, a YAML
 * boolean or date used as a constant (it could never equal a trait), a `map_distinguished_by`
 * key that is not a distinguished_by name.
 *
 * Compatibility switch `allowMisspelledMapDistinguishedBy`: the misspelled key is then ignored,
 * exactly as upstream did (its mapping is not applied), and a warning says so.
 */
import { EventTypeMatcher } from '../glob.js';
import { ConfigPath, describeYaml, isMapping, suggest, type Mapping } from './config-path.js';
import { Criterion } from './criteria.js';
import { EventTimex } from './event-timex.js';
import { compileTimex } from './load-timex.js';
import {
  DatetimeCriterion,
  EqualityCriterion,
  NUMERIC_OPERATORS,
  NumericCriterion,
  type Numeric,
  type NumericOperator,
  type TraitCriterion,
} from './trait-criterion.js';

const MISSPELLED_MAP_KEY = 'map_distingushed_by';
const CRITERIA_KEYS = ['event_type', 'number', 'timestamp', 'map_distinguished_by', 'traits'] as const;
const TRAIT_CRITERION_TYPES = ['int', 'float', 'datetime', 'string', 'text'] as const;

export interface CriteriaContext {
  /** The trigger's distinguished_by names (the only valid map_distinguished_by keys). */
  readonly distinguishedBy: ReadonlySet<string>;
  readonly allowMisspelledMapDistinguishedBy: boolean;
  /** Collects compatibility warnings. */
  readonly warnings: string[];
}

export function compileCriteria(raw: unknown, path: ConfigPath, context: CriteriaContext): Criterion {
  const block = path.mapping(raw);
  if (MISSPELLED_MAP_KEY in block && context.allowMisspelledMapDistinguishedBy) {
    context.warnings.push(
      path.child(MISSPELLED_MAP_KEY).describe('misspelled key ignored as upstream did (allowMisspelledMapDistinguishedBy): its mapping is NOT applied'),
    );
  } else if (MISSPELLED_MAP_KEY in block) {
    throw path
      .child(MISSPELLED_MAP_KEY)
      .error('unknown key (did you mean map_distinguished_by?); upstream silently ignored this misspelling, set allowMisspelledMapDistinguishedBy to load the file that way');
  }
  path.checkKeys(omit(block, MISSPELLED_MAP_KEY), CRITERIA_KEYS);
  return new Criterion({
    eventTypes: compileEventTypes(block['event_type'] ?? '*', path.child('event_type')),
    number: block['number'] == null ? 1 : path.child('number').integer(block['number'], 1),
    timestamp: block['timestamp'] == null ? null : new EventTimex(compileTimex(block['timestamp'], path.child('timestamp'))),
    mapDistinguishedBy: compileMapping(block['map_distinguished_by'] ?? {}, path.child('map_distinguished_by'), context),
    traits: Object.entries(path.child('traits').mapping(block['traits'] ?? {})).map(([trait, criterion]) =>
      compileTraitCriterion(trait, criterion, path.child('traits').child(trait)),
    ),
  });
}

function omit(mapping: Mapping, key: string): Mapping {
  const { [key]: _omitted, ...rest } = mapping;
  return rest;
}

function compileEventTypes(raw: unknown, path: ConfigPath): EventTypeMatcher {
  if (typeof raw === 'string') return new EventTypeMatcher(path.string(raw));
  const patterns = path.list(raw).map((p, i) => path.child(i).string(p));
  if (patterns.length === 0) throw path.error('must not be an empty list (omit event_type to match every type)');
  return new EventTypeMatcher(patterns);
}

function compileMapping(raw: unknown, path: ConfigPath, context: CriteriaContext): ReadonlyMap<string, string> {
  const entries = Object.entries(path.mapping(raw));
  for (const [name, source] of entries) {
    if (!context.distinguishedBy.has(name)) {
      throw path.child(name).error(`not a distinguished_by trait of this trigger (${suggest(name, [...context.distinguishedBy])})`);
    }
    path.child(name).string(source);
  }
  return new Map(entries as [string, string][]);
}

function compileTraitCriterion(trait: string, raw: unknown, path: ConfigPath): TraitCriterion {
  if (typeof raw === 'string' || typeof raw === 'number' || typeof raw === 'bigint' || raw === null) {
    return new EqualityCriterion(trait, raw);
  }
  if (!isMapping(raw) || Object.keys(raw).length !== 1) {
    throw path.error(`must be a constant or a mapping with one key (${TRAIT_CRITERION_TYPES.join(', ')}), got ${describeYaml(raw)}`);
  }
  const [type, operand] = Object.entries(raw)[0]!;
  const operandPath = path.child(type);
  switch (type) {
    case 'int':
    case 'float':
      return compileNumeric(trait, type, operand, operandPath);
    case 'datetime':
      return new DatetimeCriterion(trait, new EventTimex(compileTimex(operand, operandPath)));
    case 'string':
    case 'text':
      if (typeof operand !== 'string') throw operandPath.error(`must be a string, got ${describeYaml(operand)}`);
      return new EqualityCriterion(trait, operand);
    default:
      throw operandPath.error(`unknown trait criterion type (${suggest(type, TRAIT_CRITERION_TYPES)})`);
  }
}

const INT_RE = /^[+-]?\d+$/;
const FLOAT_RE = /^[+-]?(?:\d+\.?\d*|\.\d+)(?:[eE][+-]?\d+)?$/;

/** `{int|float: "<op> <n>"}`; one token means `=`; a YAML number means `=` with that number as is. */
function compileNumeric(trait: string, type: 'int' | 'float', raw: unknown, path: ConfigPath): NumericCriterion {
  if (typeof raw === 'number' || typeof raw === 'bigint') return new NumericCriterion(trait, '=', raw);
  const text = path.string(raw).trim();
  const space = text.search(/\s/);
  const [operator, number] = space < 0 ? ['=', text] : [text.slice(0, space), text.slice(space).trim()];
  if (!(NUMERIC_OPERATORS as readonly string[]).includes(operator)) {
    throw path.error(`unknown operator ${JSON.stringify(operator)} in ${JSON.stringify(text)} (expected one of ${NUMERIC_OPERATORS.join(' ')})`);
  }
  const operand: Numeric | null = type === 'int' ? (INT_RE.test(number) ? BigInt(number) : null) : FLOAT_RE.test(number) ? Number(number) : null;
  if (operand === null) {
    const hint = /^[<>=!]/.test(number) ? ` (separate the operator with a space: ${JSON.stringify(number.replace(/^([<>=!]+)\s*/, '$1 '))})` : '';
    throw path.error(`bad ${type} ${JSON.stringify(number)}${hint}`);
  }
  return new NumericCriterion(trait, operator as NumericOperator, operand);
}
