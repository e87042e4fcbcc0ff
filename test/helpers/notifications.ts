/**
 * Realistic notifications for integration tests and benchmarks: notigen template lifecycles
 * (fixtures/stacktach-upstream/notigen-templates), reproducible from a seed.
 */
import { join } from 'node:path';
import type { Notification } from '../../src/shared/amqp/oslo.js';
import { Distiller } from '../../src/shared/distiller/index.js';
import { DateTime } from '../../src/shared/time.js';
import { generateNotifications, loadTemplates, seededRandom, type Template } from '../../src/notigen/templates.js';
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
  const distiller = sandboxDistiller();
  const random = seededRandom(seed);
  const out: Notification[] = [];
  for (let from = start; out.length < count; from = from.plusSeconds(86_400 * 30)) {
    for (const n of generateNotifications(TEMPLATES, count, random, from)) {
      if (out.length < count && distiller.distill(n, from) !== null) out.push(n);
    }
  }
  return out;
}
