/**
 * Micro-benchmark of body decoding and the distiller: the 301 golden notigen notifications
 * (typical Nova bodies, ~3 KB each), wrapped in the oslo 2.0 envelope as the yagi-worker
 * receives them. Three measurements, each the median of ROUNDS rounds:
 *  - decode:  decodeNotification(Buffer) — UTF-8 check, envelope, JSON parse (spec §2.5);
 *  - distill: Distiller.distill on already-decoded notifications, sandbox definitions;
 *  - both:    decode then distill, what ingest does per message before the database.
 * Ingest needs ≥10,000 notifications/s on one core alongside everything else, so all three
 * should be far above. Rates are per CPU-second of this process (process.cpuUsage), so that
 * other work on a shared machine skews them less than wall time would.
 *
 *   npx tsx bench/distill.ts [seconds per round, default 2]
 */
import { readFileSync } from 'node:fs';
import { fileURLToPath } from 'node:url';
import { decodeNotification, encodeOsloV2, type Notification } from '../src/shared/amqp/oslo.js';
import { Distiller } from '../src/shared/distiller/index.js';
import { DateTime } from '../src/shared/time.js';

const SANDBOX_DEFINITIONS = new URL('../fixtures/stacktach-upstream/sandbox/event_definitions.yaml', import.meta.url);
const NOTIFICATIONS = new URL('../fixtures/golden/distiller/notifications.jsonl', import.meta.url);
const ROUNDS = 5;

const secondsPerRound = Number(process.argv[2] ?? 2);
const distiller = Distiller.fromFile(fileURLToPath(SANDBOX_DEFINITIONS), { catchAll: false });
const bodies = readFileSync(NOTIFICATIONS, 'utf8')
  .trim()
  .split('\n')
  .map((line) => Buffer.from(encodeOsloV2(JSON.parse(line) as Notification)));
const notifications = bodies.map((body) => decodeNotification(body));
const now = DateTime.now();

/** Runs `work` over the whole set repeatedly for about `seconds` of CPU; returns notifications per CPU-second. */
function round(seconds: number, work: () => number): number {
  let count = 0;
  let checksum = 0;
  const start = process.cpuUsage();
  const cpuSeconds = (): number => {
    const used = process.cpuUsage(start);
    return (used.user + used.system) / 1e6;
  };
  while (cpuSeconds() < seconds) {
    checksum += work();
    count += bodies.length;
  }
  if (checksum === 0) throw new Error('nothing was done');
  return count / cpuSeconds();
}

const workloads: Record<string, () => number> = {
  decode: () => {
    let keys = 0;
    for (const body of bodies) keys += Object.keys(decodeNotification(body)).length;
    return keys;
  },
  distill: () => {
    let traits = 0;
    for (const notification of notifications) {
      const event = distiller.distill(notification, now);
      if (event !== null) traits += Object.keys(event.traits).length;
    }
    return traits;
  },
  both: () => {
    let traits = 0;
    for (const body of bodies) {
      const event = distiller.distill(decodeNotification(body), now);
      if (event !== null) traits += Object.keys(event.traits).length;
    }
    return traits;
  },
};

for (const [name, work] of Object.entries(workloads)) {
  round(0.5, work); // warm-up: let V8 optimise before measuring
  const rates = Array.from({ length: ROUNDS }, () => round(secondsPerRound, work)).sort((a, b) => a - b);
  const median = rates[Math.floor(ROUNDS / 2)]!;
  console.log(
    `${name.padEnd(7)} (sandbox definitions, ${bodies.length} oslo 2.0 bodies): median ${Math.round(median).toLocaleString('en')} notifications/CPU-s ` +
      `(${(1e6 / median).toFixed(1)} µs each; rounds ${rates.map((r) => Math.round(r)).join(', ')})`,
  );
}
