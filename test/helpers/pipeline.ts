/**
 * Pipeline worker fixtures: a winchester.yaml with the given triggers and pipelines (plus the
 * test handlers of test/fixtures/handlers.mjs), and due streams made through the real store.
 */
import { mkdtempSync, readFileSync, writeFileSync, existsSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { EventTypeIds } from '../../src/shared/store/events.js';
import { withTransaction } from '../../src/shared/db/sql.js';
import type { Event } from '../../src/shared/event.js';
import { prepareEvent, storeEvents } from '../../src/shared/store/batch.js';
import { DateTime } from '../../src/shared/time.js';
import { triggerDefinitionsFromValue } from '../../src/shared/triggers/index.js';
import { winchesterYamlText } from './configs.js';
import type { TestDatabase } from './db.js';

const TEST_HANDLERS = fileURLToPath(new URL('../fixtures/handlers.mjs', import.meta.url));

export interface PipelineConfig {
  readonly dir: string;
  readonly winchesterYaml: string;
  readonly runsFile: string;
}

/** triggers and pipelines are YAML texts; `extra` is appended to winchester.yaml. */
export function writePipelineConfig(o: { databaseUrl: string; triggers: string; pipelines: string; extra?: string }): PipelineConfig {
  const dir = mkdtempSync(join(tmpdir(), 'stv3-pipe-'));
  const runsFile = join(dir, 'runs.log');
  writeFileSync(join(dir, 'triggers.yaml'), o.triggers);
  writeFileSync(join(dir, 'pipelines.yaml'), o.pipelines.replaceAll('$RUNS', runsFile).replaceAll('$DIR', dir));
  writeFileSync(join(dir, 'event_definitions.yaml'), "- event_type: '*'\n  traits: {instance_id: {fields: payload.instance_id}}\n");
  const winchesterYaml = join(dir, 'winchester.yaml');
  writeFileSync(
    winchesterYaml,
    winchesterYamlText({
      databaseUrl: o.databaseUrl,
      configPath: [dir],
      handlers: { count: `${TEST_HANDLERS}:countRuns`, slow: `${TEST_HANDLERS}:slow`, fail: `${TEST_HANDLERS}:failWhileFlagged`, emit: `${TEST_HANDLERS}:emitOne` },
      extra: o.extra,
    }),
  );
  return { dir, winchesterYaml, runsFile };
}

/** A trigger whose every stream (one per instance_id) is ready to fire with its first event. */
export const FIRE_AT_ONCE_TRIGGER = (pipeline: string, expire = pipeline): string => `
- name: per_instance
  distinguished_by: [instance_id]
  expiration: "$last + 1d"
  fire_pipeline: ${pipeline}
  expire_pipeline: ${expire}
  match_criteria: [{event_type: "test.*"}]
  fire_criteria: [{event_type: "test.*"}]
`;

/**
 * Stores `perStream` events for each of `n` instances through the real ingest code path, at
 * `at` (default: 5 s ago), so that with FIRE_AT_ONCE_TRIGGER `n` streams are due. `instances`
 * names the instances (default: fresh ones). Returns the ids of the streams of these instances.
 */
export async function seedStreams(db: TestDatabase, triggersYaml: string, n: number, perStream = 1, at = DateTime.now().plusSeconds(-5), instances?: string): Promise<number[]> {
  const { parse } = await import('yaml');
  const triggers = triggerDefinitionsFromValue(parse(triggersYaml) as unknown, 'triggers.yaml');
  const types = await new EventTypeIds(db.pool).resolve(['test.thing']);
  const prefix = instances ?? Math.random().toString(36).slice(2, 8);
  const unique = Math.random().toString(36).slice(2, 8);
  for (let start = 0; start < n; start += 500) {
    const events: Event[] = [];
    for (let i = start; i < Math.min(n, start + 500); i++) {
      for (let k = 0; k < perStream; k++) {
        events.push({ messageId: `${unique}-${i}-${k}`, eventType: 'test.thing', timestamp: at.plusMicros(k), traits: { instance_id: `${prefix}-i${i}` } });
      }
    }
    await withTransaction(db.pool, (conn) => storeEvents(conn, events.map((e) => prepareEvent(triggers, e, at)), types, new Set()));
  }
  const [rows] = await db.pool.query('SELECT id FROM stream WHERE distinguishing_key LIKE ? ORDER BY id', [`%${prefix}-i%`]);
  return (rows as { id: number }[]).map((r) => r.id);
}

/** Lines of the runs file as [verb, streamId]. */
export function readRuns(file: string): [string, number][] {
  if (!existsSync(file)) return [];
  return readFileSync(file, 'utf8')
    .split('\n')
    .filter(Boolean)
    .map((l) => {
      const [verb, id] = l.split(' ');
      return [verb!, Number(id)];
    });
}
