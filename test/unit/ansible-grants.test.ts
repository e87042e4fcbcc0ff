/**
 * deploy/ansible's stv3-db role grants the stv3 user exactly what the processes need: the union
 * of the yagi-worker's, the pipeline worker's (trimming included) and the API's privileges per table
 * (src/shared/db/server-check.ts), and reading the applied migrations. No more (no DDL, no
 * privilege no process uses), no less (a worker would stop at start naming what it lacks).
 */
import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import { describe, expect, it } from 'vitest';
import { parse } from 'yaml';
import { API_NEEDS, MIGRATIONS_READ, PIPELINE_WORKER_NEEDS, TRIM_NEEDS, unionOfNeeds, YAGI_WORKER_NEEDS } from '../../src/shared/db/server-check.js';
import { ROOT } from '../helpers/processes.js';

describe('stv3-db grants', () => {
  it('are the union of what the workers and the API need', () => {
    const defaults = parse(readFileSync(join(ROOT, 'deploy/ansible/roles/stv3-db/defaults/main.yml'), 'utf8')) as { stv3_db_grants: Record<string, string[]> };
    const union = unionOfNeeds(YAGI_WORKER_NEEDS, PIPELINE_WORKER_NEEDS, TRIM_NEEDS, API_NEEDS, MIGRATIONS_READ);
    const sorted = (o: Readonly<Record<string, Iterable<string>>>): Record<string, string[]> =>
      Object.fromEntries(Object.keys(o).sort().map((t) => [t, [...o[t]!].sort()]));
    expect(sorted(defaults.stv3_db_grants)).toEqual(sorted(union));
  });
});
