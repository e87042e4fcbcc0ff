/**
 * Realistic notifications for integration tests and benchmarks: notigen template lifecycles
 * (fixtures/stacktach-upstream/notigen-templates), reproducible from a seed.
 */
import { join } from 'node:path';
import type { Notification } from '../../src/shared/amqp/oslo.js';
import { Distiller } from '../../src/shared/distiller/index.js';
import { DateTime } from '../../src/shared/time.js';
import { instantiate, loadTemplates, seededRandom, type Template } from '../../src/notigen/templates.js';
import { SANDBOX, UPSTREAM } from './configs.js';

export const TEMPLATES: readonly Template[] = loadTemplates(join(UPSTREAM, 'notigen-templates'));

export function sandboxDistiller(): Distiller {
  return Distiller.fromFile(join(SANDBOX, 'event_definitions.yaml'), { catchAll: false });
}

/**
 * `count` notifications from random template lifecycles (all but eod_exists), each lifecycle
 * starting one hour after the previous one from `start`; only notifications the sandbox
 * definitions store, so that count published = count stored.
 */
export function makeNotifications(count: number, seed: number, start = DateTime.of(2015, 2, 1)): Notification[] {
  const random = seededRandom(seed);
  const distiller = sandboxDistiller();
  const usable = TEMPLATES.filter((t) => t.name !== 'eod_exists');
  const out: Notification[] = [];
  let now = start;
  while (out.length < count) {
    const template = usable[Math.floor(random() * usable.length)]!;
    for (const n of instantiate(template, now, random)) {
      if (out.length < count && distiller.distill(n, now) !== null) out.push(n);
    }
    now = now.plusSeconds(3600);
  }
  return out;
}
