/**
 * Micro-benchmark of the distiller alone: the 301 golden notigen notifications distilled over
 * and over with the sandbox definitions (the production ones, ~30 traits each). Ingest needs
 * ≥10,000 notifications/s on one core alongside everything else, so this should be far above.
 *
 *   npx tsx bench/distill.ts [seconds per round, default 2]
 */
import { readFileSync } from 'node:fs';
import { fileURLToPath } from 'node:url';
import { Distiller } from '../src/shared/distiller/index.js';
import { DateTime } from '../src/shared/time.js';

const SANDBOX_DEFINITIONS = new URL('../fixtures/stacktach-upstream/sandbox/event_definitions.yaml', import.meta.url);
const NOTIFICATIONS = new URL('../fixtures/golden/distiller/notifications.jsonl', import.meta.url);
const ROUNDS = 5;

const secondsPerRound = Number(process.argv[2] ?? 2);
const distiller = Distiller.fromFile(fileURLToPath(SANDBOX_DEFINITIONS), { catchAll: false });
const notifications = readFileSync(NOTIFICATIONS, 'utf8')
  .trim()
  .split('\n')
  .map((line) => JSON.parse(line) as Record<string, unknown>);
const now = DateTime.now();

/** Distills the whole set repeatedly for about `seconds`; returns notifications per second. */
function round(seconds: number): number {
  let count = 0;
  let traits = 0;
  const start = performance.now();
  const deadline = start + seconds * 1000;
  while (performance.now() < deadline) {
    for (const notification of notifications) {
      const event = distiller.distill(notification, now);
      if (event !== null) traits += Object.keys(event.traits).length;
    }
    count += notifications.length;
  }
  if (traits === 0) throw new Error('nothing was distilled');
  return count / ((performance.now() - start) / 1000);
}

round(0.5); // warm-up: let V8 optimise before measuring
const rates = Array.from({ length: ROUNDS }, () => round(secondsPerRound)).sort((a, b) => a - b);
const median = rates[Math.floor(ROUNDS / 2)]!;
console.log(
  `distill (sandbox definitions, ${notifications.length} notifications): median ${Math.round(median).toLocaleString('en')} notifications/s ` +
    `(${(1e6 / median).toFixed(1)} µs each; rounds ${rates.map((r) => Math.round(r)).join(', ')})`,
);
