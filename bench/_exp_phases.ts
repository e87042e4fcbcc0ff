import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { Distiller } from '../src/shared/distiller/index.js';
import { generateNotifications, loadTemplates, seededRandom } from '../src/notigen/templates.js';
import { DateTime } from '../src/shared/time.js';
import { freshDatabase } from './support.js';
import { loadTriggerDefinitions } from '../src/shared/triggers/index.js';
import { prepareEvent, insertPreparedEvents, fileStoredEvents, type PreparedEvent } from '../src/shared/store/batch.js';
import { EventTypeIds } from '../src/shared/store/events.js';
import { inTransaction } from '../src/shared/db/sql.js';

const ROOT = fileURLToPath(new URL('../', import.meta.url));
const SANDBOX = join(ROOT, 'fixtures/stacktach-upstream/sandbox');
const COUNT = Number(process.argv[2] ?? 20000), BATCH = Number(process.argv[3] ?? 100), TRIG = process.argv[4] !== 'notrig';
const templates = loadTemplates(join(ROOT, 'fixtures/stacktach-upstream/notigen-templates'));
const notifications = generateNotifications(templates, COUNT, seededRandom(42), DateTime.now().plusSeconds(-COUNT * 3), 30);
const distiller = Distiller.fromFile(join(SANDBOX, 'event_definitions.yaml'), { catchAll: false });
const triggers = TRIG ? loadTriggerDefinitions(join(SANDBOX, 'triggers.yaml')) : [];
const prepared: PreparedEvent[] = [];
for (const n of notifications) { const e = distiller.distill(n, DateTime.now()); if (e) prepared.push(prepareEvent(triggers, e, DateTime.now())); }
const pool = await freshDatabase('stv3_exp', 2);
const types = await new EventTypeIds(pool).resolve(prepared.map((p) => p.event.eventType));
const conn = await pool.getConnection();
const times = new Map<string, number>();
const timed = { query: async (sql: string, params?: unknown) => { const k = sql.replace(/\s+/g, ' ').slice(0, 40); const t = performance.now(); const r = await (conn.query as any)(sql, params); times.set(k, (times.get(k) ?? 0) + performance.now() - t); return r; } } as any;
const t0 = performance.now();
for (let i = 0; i < prepared.length; i += BATCH) {
  const batch = prepared.slice(i, i + BATCH);
  const tb = performance.now();
  await conn.beginTransaction();
  times.set('BEGIN', (times.get('BEGIN') ?? 0) + performance.now() - tb);
  const ins = await insertPreparedEvents(timed, batch, types, new Set(['instance_id', 'tenant_id', 'request_id', 'user_id']));
  await fileStoredEvents(timed, ins);
  const tc = performance.now();
  await conn.commit();
  times.set('COMMIT', (times.get('COMMIT') ?? 0) + performance.now() - tc);
}
const total = performance.now() - t0;
console.log(`${prepared.length} events, batch ${BATCH}: ${Math.round(prepared.length / total * 1000)}/s serial, ${total.toFixed(0)} ms`);
for (const [k, v] of [...times].sort((a, b) => b[1] - a[1])) console.log(`${(v / total * 100).toFixed(1)}%  ${(v * 1000 / prepared.length).toFixed(1)} µs/event  ${k}`);
conn.release(); await pool.end();
