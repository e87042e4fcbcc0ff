/**
 * A definitions or triggers file with several broken entries reports all of them at once
 * (each with file and key path), so that `stv3 check` and a refused start show every problem.
 */
import { describe, expect, it } from 'vitest';
import { Distiller } from '../../src/shared/distiller/index.js';
import { ConfigErrors } from '../../src/shared/errors.js';
import { configError } from '../helpers/configs.js';
import { triggerDefinitionsFromValue } from '../../src/shared/triggers/index.js';

const goodTrigger = { name: 'ok', distinguished_by: ['instance_id'], expiration: '$last + 1h', fire_pipeline: 'p', expire_pipeline: 'p', match_criteria: [{ event_type: 'compute.*' }], fire_criteria: [{ event_type: 'compute.instance.exists' }] };

describe('every problem of a file at once', () => {
  it('event definitions: each broken definition named by its index and key', () => {
    const err = configError(() =>
      Distiller.fromDefinitions(
        [
          { event_type: 'a.*', traits: { x: { fields: 'payload.x' } } },
          { traits: { x: { fields: 'payload.x' } } },
          { event_type: 'c.*', traits: { y: { fields: 'payload.y', type: 'decimal' } } },
        ],
        'defs.yaml',
        { catchAll: false },
      ),
    );
    expect(err).toBeInstanceOf(ConfigErrors);
    expect((err as ConfigErrors).errors.map((e) => e.keyPath)).toEqual(['[1].event_type', '[2].traits.y.type']);
    expect(err.message).toMatch(/^2 problems:\n {2}defs\.yaml: \[1\]\.event_type: .*\n {2}defs\.yaml: \[2\]\.traits\.y\.type: /);
  });

  it('one broken definition is reported as it always was', () => {
    const err = configError(() => Distiller.fromDefinitions([{ traits: {} }], 'defs.yaml', { catchAll: false }));
    expect(err).not.toBeInstanceOf(ConfigErrors);
    expect(err.message).toMatch(/^defs\.yaml: \[0\]\.event_type: /);
  });

  it('triggers: each broken trigger reported, the good ones in between do not hide them', () => {
    const err = configError(() => triggerDefinitionsFromValue([{ ...goodTrigger, name: 'a', expiration: 'bogus' }, goodTrigger, { ...goodTrigger, name: 'c', fire_criteria: 'x' }], 'triggers.yaml'));
    expect(err).toBeInstanceOf(ConfigErrors);
    expect((err as ConfigErrors).errors).toHaveLength(2);
    expect(err.message).toMatch(/expiration/);
    expect(err.message).toMatch(/fire_criteria/);
  });
});
