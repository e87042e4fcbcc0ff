/**
 * Fills notigen templates deterministically, exactly as the golden generator did (golden
 * README, "Filling rules"), so tests and benchmarks can make realistic Nova notifications that
 * match golden/distiller/notifications.jsonl.
 *
 * A template is a JSON array: element 0 holds hints (`time_map`: DT placeholder → [days,
 * seconds, microseconds] after BASE), the rest are notifications with `[[[[NAME]]]]`
 * placeholders replaced as plain text. Every value depends only on the template name and the
 * placeholder name.
 *
 * Also runs the built `stv3 notigen` command for the notigen tests (notigen()).
 */
import { execFile } from 'node:child_process';
import { createHash } from 'node:crypto';
import { readdirSync, readFileSync } from 'node:fs';
import { v5 as uuidv5 } from 'uuid';
import { fileURLToPath } from 'node:url';
import { DateTime } from '../../src/shared/time.js';

export const NOTIGEN_TEMPLATE_DIR = new URL('../../fixtures/stacktach-upstream/notigen-templates/', import.meta.url);

const BASE = DateTime.of(2015, 2, 1);
const NAMESPACE = uuidv5('https://github.com/openstack-archive/stacktach-notigen#golden', uuidv5.URL);
const PLACEHOLDER = /\[\[\[\[([A-Za-z0-9_]+)\]\]\]\]/g;
const NAMED_PREFIX: Readonly<Record<string, string>> = {
  display_name: 'Instance_',
  host: 'host-',
  hostname: 'server-',
  node: 'node-',
  reservation_id: 'res-',
  image_name: 'image-',
  device_name: 'device-',
};

type TimeMap = Readonly<Record<string, readonly [number, number, number]>>;

/** Fills one template (`templateName` = file name, with or without `.json`) → its notifications. */
export function fillTemplate(templateName: string, text: string): Record<string, unknown>[] {
  const template = templateName.replace(/\.json$/, '');
  const [hints] = JSON.parse(text) as [{ time_map: TimeMap }];
  const filled = text.replace(PLACEHOLDER, (_match, name: string) => placeholderValue(template, name, hints.time_map));
  return (JSON.parse(filled) as Record<string, unknown>[]).slice(1);
}

/** Every template in sorted file-name order: the 301 lines of golden notifications.jsonl. */
export function fillAllTemplates(dir: URL = NOTIGEN_TEMPLATE_DIR): Record<string, unknown>[] {
  return readdirSync(dir)
    .filter((file) => file.endsWith('.json'))
    .sort()
    .flatMap((file) => fillTemplate(file, readFileSync(new URL(file, dir), 'utf8')));
}

function placeholderValue(template: string, name: string, timeMap: TimeMap): string {
  const [, kind, k] = /^(DT|UUID|XUUID|V4|V6)_(\d+)$/.exec(name) ?? [];
  switch (kind) {
    case 'DT': {
      const offset = timeMap[`[[[[${name}]]]]`];
      if (!offset) throw new Error(`${template}: ${name} is not in time_map`);
      const [days, seconds, micros] = offset;
      return DateTime.fromEpoch(BASE.epochSeconds + days * 86_400 + seconds, micros).toString();
    }
    case 'UUID':
      return uuidv5(`${template}/UUID_${k}`, NAMESPACE);
    case 'XUUID':
      return uuidv5(`${template}/XUUID_${k}`, NAMESPACE).replaceAll('-', '');
    case 'V4': {
      const h = sha256(`${template}/V4_${k}`);
      return [0, 1, 2, 3].map((i) => 127 + (h[i]! % 127)).join('.');
    }
    case 'V6': {
      const h = sha256(`${template}/V6_${k}`);
      return Array.from({ length: 8 }, (_, i) => h.readUInt16BE(2 * i).toString(16).padStart(4, '0')).join(':');
    }
  }
  if (name === 'publisher_id') return `compute.${placeholderValue(template, 'host', timeMap)}`;
  const n = String(100_000 + (parseInt(sha256(`${template}/${name}`).toString('hex').slice(0, 8), 16) % 899_999));
  if (name === 'tenant_id' || name === 'user_id') return n;
  const prefix = NAMED_PREFIX[name];
  if (prefix === undefined) throw new Error(`${template}: unknown placeholder ${name}`);
  return prefix + n;
}

function sha256(text: string): Buffer {
  return createHash('sha256').update(text, 'utf8').digest();
}

const ROOT = fileURLToPath(new URL('../../', import.meta.url));

export interface CliResult {
  code: number | null;
  stdout: string;
  stderr: string;
}

/** Runs the built `stv3 notigen ARGS` (dist/) and resolves with its exit code and output. */
export function notigen(args: string[], env: Record<string, string> = {}): Promise<CliResult> {
  return new Promise((resolve) => {
    execFile(process.execPath, [`${ROOT}dist/cli/main.js`, 'notigen', ...args], { cwd: ROOT, env: { ...process.env, ...env }, maxBuffer: 16 << 20 }, (err, stdout, stderr) => {
      resolve({ code: err ? ((err as { code?: number }).code ?? null) : 0, stdout, stderr });
    });
  });
}
