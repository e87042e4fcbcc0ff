/**
 * `npm run chaos [-- --short] [--minutes N] [--only a,b] [--skip-disruptive] [--report FILE]`:
 * the fault suite (issue 9). Every scenario of scenarios.ts on a fresh region, then a table
 * (scenario, published, events, quarantined, lost, doubled, stuck, caught up after traffic)
 * printed and written to the report file (default chaos-report.md), and one line `N passed, N
 * failed`. "Caught up after traffic" is the time from the last publish until every notification
 * is an event or in quarantine: 0.0 s means the workers had recovered from the faults (which
 * come during the traffic) before it ended; "never" fails the scenario.
 * `--short` (CI, under 3 minutes) runs one combined scenario: most faults one after another
 * during 3,000 notifications and 1,000 hostile bodies; `--minutes N` stretches traffic and
 * faults of the separate scenarios so the run takes about N minutes. Exit 1 if any fails.
 */
import { writeFileSync } from 'node:fs';
import { parseArgs } from 'node:util';
import { Region, type Verdict } from './region.js';
import { combined, SCENARIOS, type Scenario } from './scenarios.js';

const { values } = parseArgs({
  options: {
    short: { type: 'boolean', default: false },
    minutes: { type: 'string' },
    only: { type: 'string' },
    'skip-disruptive': { type: 'boolean', default: false },
    report: { type: 'string', default: 'chaos-report.md' },
  },
});

const selected = values.short
  ? [combined(!values['skip-disruptive'])]
  : SCENARIOS.filter((s) => (!values.only || values.only.split(',').includes(s.name)) && !(values['skip-disruptive'] && s.disruptive));
const minutes = values.minutes ? Number(values.minutes) : null;
// Per scenario: notifications, and how much faults are stretched.
const traffic = values.short ? 3000 : minutes ? Math.round((minutes * 60 * 300) / selected.length) : 4000;
const scale = values.short ? 0.2 : minutes ? Math.max(1, (minutes * 60) / selected.length / 60) : 1;
const trafficSeconds = values.short ? 40 : minutes ? Math.max(20, (minutes * 60) / selected.length - 20) : 30;
const RECOVER_MS = 120_000;

interface Row extends Verdict {
  scenario: string;
  ok: boolean;
}

async function runScenario(s: Scenario, index: number): Promise<Row> {
  const region = await Region.create(s.name);
  let ok = false;
  process.stdout.write(`[${index + 1}/${selected.length}] ${s.name}: ${s.what} … `);
  try {
    await region.start();
    const extra = s.extra?.() ?? [];
    const publishing = region.traffic(traffic, 1000 + index, { extra, durationMs: trafficSeconds * 1000 });
    await s.fault(region, publishing, scale);
    await publishing;
    const recover = await region.waitIngested(RECOVER_MS);
    const stuck = await region.finishStreams(RECOVER_MS);
    const verdict = await region.verdict(recover, stuck);
    ok = verdict.lost === 0 && verdict.doubled === 0 && verdict.stuck === 0 && Number.isFinite(verdict.recoverSeconds);
    process.stdout.write(`${ok ? 'ok' : 'FAILED'} (${verdict.events} events, ${verdict.quarantined} quarantined, caught up ${verdict.recoverSeconds.toFixed(1)} s after the traffic)\n`);
    if (!ok) process.stdout.write(`   kept for inspection: database ${region.db}, files ${region.dir}\n`);
    return { scenario: s.name, ...verdict, ok };
  } catch (err) {
    process.stdout.write(`ERROR ${(err as Error).stack ?? String(err)}\n`);
    return { scenario: s.name, published: 0, events: 0, quarantined: 0, lost: NaN, doubled: NaN, stuck: NaN, recoverSeconds: Infinity, notes: [`harness error: ${(err as Error).message}`], ok: false };
  } finally {
    await region.destroy(!ok);
  }
}

function table(rows: readonly Row[]): string {
  const head = ['scenario', 'published', 'events', 'quarantined', 'lost', 'doubled', 'stuck', 'caught up after traffic', 'result', 'notes'];
  const lines = rows.map((r) => [r.scenario, r.published, r.events, r.quarantined, r.lost, r.doubled, r.stuck, Number.isFinite(r.recoverSeconds) ? `${r.recoverSeconds.toFixed(1)} s` : 'never', r.ok ? 'ok' : 'FAILED', r.notes.join('; ')].map(String));
  return [head, head.map(() => '---'), ...lines].map((l) => `| ${l.join(' | ')} |`).join('\n');
}

async function main(): Promise<void> {
  const started = Date.now();
  const rows: Row[] = [];
  for (const [i, s] of selected.entries()) rows.push(await runScenario(s, i));
  const text = table(rows);
  const minutesTaken = ((Date.now() - started) / 60_000).toFixed(1);
  process.stdout.write(`\n${text}\n\n${minutesTaken} min, ${traffic} notifications per scenario${values.short ? ' (short form)' : ''}\n`);
  writeFileSync(values.report!, `# Fault suite, ${new Date().toISOString()}\n\n${text}\n\n${minutesTaken} min, ${traffic} notifications per scenario${values.short ? ' (short form)' : ''}.\n`);
  const passed = rows.filter((r) => r.ok).length;
  process.stdout.write(`${passed} passed, ${rows.length - passed} failed\n`);
  process.exitCode = passed === rows.length ? 0 : 1;
}

await main();
