import { describe, expect, it } from 'vitest';
import { CliError } from '../../src/cli/errors.js';
import { parseTraitConditions } from '../../src/cli/parse.js';

describe('stv3 --traits conditions', () => {
  it('reads several conditions, typed and klugman-style, from one or repeated options', () => {
    expect(parseTraitConditions(['instance_id=abc,memory_mb:int>=1024', 'host:compute-1:a'])).toEqual([
      { name: 'instance_id', type: 'string', op: 'eq', value: 'abc' },
      { name: 'memory_mb', type: 'integer', op: 'ge', value: '1024' },
      { name: 'host', type: 'string', op: 'eq', value: 'compute-1:a' },
    ]);
  });

  it('takes a comma inside a value written \\, and a backslash before a comma written \\\\', () => {
    expect(parseTraitConditions(['display_name=web\\,db,state=active'])).toEqual([
      { name: 'display_name', type: 'string', op: 'eq', value: 'web,db' },
      { name: 'state', type: 'string', op: 'eq', value: 'active' },
    ]);
    expect(parseTraitConditions(['path=C:\\\\,x=1'])).toEqual([
      { name: 'path', type: 'string', op: 'eq', value: 'C:\\' },
      { name: 'x', type: 'string', op: 'eq', value: '1' },
    ]);
    // A backslash before anything else is kept as it is.
    expect(parseTraitConditions(['path=a\\b'])).toEqual([{ name: 'path', type: 'string', op: 'eq', value: 'a\\b' }]);
  });

  it('refuses an item it cannot read, naming it', () => {
    expect(() => parseTraitConditions(['no-operator'])).toThrow(CliError);
    expect(() => parseTraitConditions(['no-operator'])).toThrow(/"no-operator"/);
  });
});
