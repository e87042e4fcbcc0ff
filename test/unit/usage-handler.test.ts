/**
 * UsageHandler (spec §4.7, §10.11): every check and code U0–U8 on small synthetic streams,
 * the uuid5 vectors, realistic streams built from the golden distilled notigen templates,
 * and one test per upstream bug we fix (each would fail against upstream's behaviour).
 */
import { readFileSync } from 'node:fs';
import { pino } from 'pino';
import { v5 as uuidv5 } from 'uuid';
import { describe, expect, it } from 'vitest';
import type { Event, TraitValue } from '../../src/shared/event.js';
import { DateTime } from '../../src/shared/time.js';
import { pyCompare, pyEquals, pyStr, pyTruthy } from '../../src/pipeline-worker/handlers/python-values.js';
import type { PipelineEnv } from '../../src/pipeline-worker/handlers/types.js';
import { createUsageHandler } from '../../src/pipeline-worker/handlers/usage.js';
import { USAGE_ID_NAMESPACE } from '../../src/pipeline-worker/handlers/usage-ids.js';

type Traits = Record<string, TraitValue | null>;
type TraitOverrides = Record<string, TraitValue | null | undefined>;

const EXISTS = 'compute.instance.exists';
const VERIFIED = 'compute.instance.exists.verified';
const FAILED = 'compute.instance.exists.failed';
const WARNINGS = 'compute.instance.exists.warnings';
const STREAM_ID = 42;
const T = (text: string): DateTime => DateTime.parse(text);

// ---------------------------------------------------------------------------------------
// Running the handler

interface LogLine {
  level: number;
  msg: string;
  [key: string]: unknown;
}

async function run(events: Event[], env: Record<string, unknown> = {}, streamId = STREAM_ID) {
  const logs: LogLine[] = [];
  const log = pino({ level: 'debug' }, { write: (line: string) => void logs.push(JSON.parse(line) as LogLine) });
  const handlerEnv: PipelineEnv = { streamId, streamName: 'test_trigger', ...env };
  const handler = createUsageHandler({}, { log, now: () => T('2015-03-01 00:00:00') });
  const out = await handler.handleEvents(events, handlerEnv);
  return { out, generated: out.slice(events.length), env: handlerEnv, logs };
}

/** Runs a stream expected to give one verified/failed event and returns it. */
async function verdict(events: Event[]): Promise<Event> {
  const { generated } = await run(events);
  expect(generated).toHaveLength(1);
  return generated[0]!;
}

function expectFailure(event: Event, code: string, error: string): void {
  expect(event.eventType).toBe(FAILED);
  expect(event.traits['error_code']).toBe(code);
  expect(event.traits['error']).toBe(error);
}

// ---------------------------------------------------------------------------------------
// Synthetic events: instance inst-1 on 2015-02-27, EOD .exists shortly after midnight

const msgId = (n: number): string => `00000000-0000-4000-8000-${String(n).padStart(12, '0')}`;
const EXISTS_ID = '11111111-2222-3333-4444-555555555555';

const BASE_EXISTS: Traits = {
  instance_id: 'inst-1',
  tenant_id: '123',
  state: 'active',
  launched_at: T('2015-02-27 10:00:00'),
  audit_period_beginning: T('2015-02-27 00:00:00'),
  audit_period_ending: T('2015-02-28 00:00:00'),
  instance_flavor_id: 2n,
  os_architecture: 'x64',
  os_version: '7',
  os_distro: 'org.debian',
};

function withTraits(base: Traits, overrides: TraitOverrides): Traits {
  const traits: Traits = { ...base };
  for (const [name, value] of Object.entries(overrides)) {
    if (value === undefined) delete traits[name];
    else traits[name] = value;
  }
  return traits;
}

function ev(eventType: string, at: string, id: number, overrides: TraitOverrides = {}): Event {
  return { messageId: msgId(id), eventType, timestamp: T(at), traits: withTraits({ instance_id: 'inst-1' }, overrides) };
}

function exists(overrides: TraitOverrides = {}, messageId = EXISTS_ID, at = '2015-02-28 00:27:18.603932'): Event {
  return { messageId, eventType: EXISTS, timestamp: T(at), traits: withTraits(BASE_EXISTS, overrides) };
}

const update = (id = 1, at = '2015-02-27 10:00:01'): Event => ev('compute.instance.update', at, id);

/** An operation end event agreeing with BASE_EXISTS, apart from `overrides`. */
function operationEnd(eventType: string, id: number, overrides: TraitOverrides = {}): Event {
  const { instance_id, tenant_id, launched_at, instance_flavor_id, os_architecture, os_version, os_distro } = BASE_EXISTS;
  const same = { instance_id, tenant_id, launched_at, instance_flavor_id, os_architecture, os_version, os_distro };
  return ev(eventType, '2015-02-27 10:00:02', id, { ...same, ...overrides });
}

/** A delete.end agreeing with a deleted .exists at 2015-02-27 12:00. */
const DELETED_AT = T('2015-02-27 12:00:00.000001');
const deleteEnd = (id: number, overrides: TraitOverrides = {}): Event =>
  ev('compute.instance.delete.end', '2015-02-27 12:00:01', id, { launched_at: BASE_EXISTS['launched_at'], deleted_at: DELETED_AT, ...overrides });
const deletedExists = (overrides: TraitOverrides = {}): Event => exists({ state: 'deleted', deleted_at: DELETED_AT, ...overrides });

// ---------------------------------------------------------------------------------------
// Golden streams: the notigen templates distilled with the sandbox definitions

const SHARED = new URL('../../fixtures/', import.meta.url);
const TEMPLATE_NAMES = [
  'compute.instance.create.start_23', 'compute.instance.create.start_24', 'compute.instance.create.start_25',
  'compute.instance.create.start_65', 'compute.instance.delete.start_7', 'compute.instance.delete.start_8',
  'compute.instance.power_off.start_4', 'compute.instance.power_off.start_5', 'compute.instance.reboot.start_6',
  'compute.instance.rebuild.start_14', 'compute.instance.rebuild.start_24', 'compute.instance.rescue.start_19',
  'compute.instance.rescue.start_6', 'compute.instance.resize.confirm.start_12', 'compute.instance.resize.confirm.start_4',
  'compute.instance.resize.prep.start_24', 'compute.instance.snapshot.start_7', 'compute.instance.snapshot.start_8',
  'compute.instance.snapshot.start_9', 'compute.instance.unrescue.start_6', 'eod_exists',
];

interface GoldenLine {
  event?: { event_type: string; message_id: string; timestamp: string; traits: [string, string, unknown][] } | null;
}

/** Golden datetimes are `…+00:00`; winchester keeps them naive. */
const naive = (iso: string): DateTime => T(iso.replace(/\+00:00$/, ''));

function goldenValue(type: string, value: unknown): TraitValue {
  switch (type) {
    case 'int':
      return BigInt(value as number);
    case 'float':
      return value as number;
    case 'datetime':
      return naive(value as string);
    default:
      return value as string;
  }
}

function loadTemplates(): Map<string, Event[]> {
  const lines = readFileSync(new URL('golden/distiller/events-sandbox.jsonl', SHARED), 'utf8').trim().split('\n');
  const templates = new Map<string, Event[]>();
  let next = 0;
  for (const name of TEMPLATE_NAMES) {
    const count = name === 'eod_exists' ? 1 : Number(name.split('_').at(-1));
    const events: Event[] = [];
    for (const line of lines.slice(next, next + count)) {
      const raw = (JSON.parse(line) as GoldenLine).event;
      if (!raw) continue;
      const traits: Traits = {};
      for (const [traitName, type, value] of raw.traits) traits[traitName] = goldenValue(type, value);
      events.push({ messageId: raw.message_id, eventType: raw.event_type, timestamp: naive(raw.timestamp), traits });
    }
    templates.set(name, events);
    next += count;
  }
  expect(next).toBe(lines.length);
  return templates;
}

const TEMPLATES = loadTemplates();

function template(name: string): Event[] {
  const events = TEMPLATES.get(name);
  if (!events) throw new Error(`no template ${name}`);
  return events;
}

/** The template's instance: the instance_id of its last event carrying one. */
function instanceOf(name: string): string {
  const withId = template(name).findLast((e) => typeof e.traits['instance_id'] === 'string');
  return withId!.traits['instance_id'] as string;
}

/**
 * What the sandbox test_trigger collects for the template's instance on 2015-02-01: its
 * events, less the `.exists*` ones (a Nova `.exists` belongs to the stream of its audit
 * period's first day; `.exists.*` are excluded by the trigger).
 */
function dayStream(name: string): Event[] {
  const instanceId = instanceOf(name);
  return template(name).filter((e) => e.traits['instance_id'] === instanceId && !e.eventType.startsWith(EXISTS));
}

const IDENTITY_FIELDS = ['instance_id', 'tenant_id', 'instance_flavor_id', 'os_architecture', 'os_version', 'os_distro', 'launched_at'];

/**
 * The golden EOD `.exists` made to describe `source`'s instance for 2015-02-01: instance,
 * tenant, flavor, image and launched_at taken from `source`, audit period that day.
 */
function eodExistsFor(source: Event, overrides: TraitOverrides = {}): Event {
  const [eod] = template('eod_exists');
  const identity: Traits = {};
  for (const field of IDENTITY_FIELDS) {
    const value = source.traits[field];
    if (value !== undefined) identity[field] = value;
  }
  const traits = withTraits(
    { ...eod!.traits, ...identity, audit_period_beginning: T('2015-02-01 00:00:00'), audit_period_ending: T('2015-02-02 00:00:00') },
    overrides,
  );
  return { ...eod!, timestamp: T('2015-02-02 00:27:18.603932'), traits };
}

function lastOfType(events: Event[], eventType: string): Event {
  const found = events.findLast((e) => e.eventType === eventType);
  if (!found) throw new Error(`no ${eventType}`);
  return found;
}

// ---------------------------------------------------------------------------------------

describe('UsageHandler message ids (uuid5, namespace = original message_id)', () => {
  it('matches the spec vectors for verified and failed', async () => {
    expect((await verdict([update(), exists()])).messageId).toBe('a3917aa2-3dbb-56db-9f4a-41a8ee861ace');
    expect((await verdict([exists({ launched_at: undefined })])).messageId).toBe('906305dd-118c-55fe-b446-e2d92151e0ee');
  });

  it("gives the warnings event uuid5(original, '…exists.warnings')", async () => {
    const { generated } = await run([update(), exists({ audit_period_ending: T('2015-02-27 13:00:00') })]);
    expect(generated.map((e) => [e.eventType, e.messageId])).toEqual([
      [WARNINGS, '8d017e2a-d999-555a-887d-ca68739794c9'],
      [VERIFIED, 'a3917aa2-3dbb-56db-9f4a-41a8ee861ace'],
    ]);
  });

  it("parses the original id as Python's UUID() does (case, braces, urn prefix, no hyphens)", async () => {
    for (const form of ['{urn:uuid:11111111-2222-3333-4444-555555555555}', '11111111222233334444555555555555']) {
      expect((await verdict([update(), exists({}, form)])).messageId).toBe('a3917aa2-3dbb-56db-9f4a-41a8ee861ace');
    }
    const upper = await verdict([update(), exists({}, 'AAAAAAAA-2222-3333-4444-555555555555')]);
    const lower = await verdict([update(), exists({}, 'aaaaaaaa-2222-3333-4444-555555555555')]);
    expect(upper.messageId).toBe(lower.messageId);
  });

  it('raises (a pipeline error) when the original message_id is not a UUID, as upstream', async () => {
    await expect(run([update(), exists({}, 'not-a-uuid')])).rejects.toThrow(TypeError);
    await expect(run([update(), exists({}, '11111111-2222-3333-4444-55555555555')])).rejects.toThrow(/badly formed/);
  });
});

describe('UsageHandler checks', () => {
  it('verifies a consistent block', async () => {
    const verified = await verdict([update(), exists()]);
    expect(verified.eventType).toBe(VERIFIED);
  });

  describe('U1/U8: launched_at of an active .exists', () => {
    it('U1 when launched_at is missing or falsy', async () => {
      for (const launched_at of [undefined, null, '']) {
        expectFailure(await verdict([update(), exists({ launched_at })]), 'U1', '.exists has no launched_at value.');
      }
    });

    it('does not check launched_at unless the state is active', async () => {
      expect((await verdict([update(), exists({ launched_at: undefined, state: 'stopped' })])).eventType).toBe(VERIFIED);
      expect((await verdict([exists({ state: 'stopped' })])).eventType).toBe(VERIFIED);
    });

    it('U8 when launched_at is in the audit period (bounds included) and the block is empty', async () => {
      const message = '.exists launched_at in audit period, but no related events found.';
      for (const launched_at of ['2015-02-27 00:00:00', '2015-02-27 10:00:00', '2015-02-28 00:00:00']) {
        expectFailure(await verdict([exists({ launched_at: T(launched_at) })]), 'U8', message);
      }
    });

    it('no U8 outside the audit period (exact to the µs), with a block, or without both bounds', async () => {
      expect((await verdict([exists({ launched_at: T('2015-02-28 00:00:00.000001') })])).eventType).toBe(VERIFIED);
      expect((await verdict([exists({ launched_at: T('2015-02-26 23:59:59.999999') })])).eventType).toBe(VERIFIED);
      expect((await verdict([update(), exists()])).eventType).toBe(VERIFIED);
      expect((await verdict([exists({ audit_period_ending: undefined })])).eventType).toBe(VERIFIED);
    });
  });

  describe('U2 against the last operation event (rebuild/finish_resize/rescue .end)', () => {
    for (const op of ['compute.instance.rebuild.end', 'compute.instance.finish_resize.end', 'compute.instance.rescue.end']) {
      it(`${op}: verified when the fields agree, U2 when one differs`, async () => {
        expect((await verdict([update(), operationEnd(op, 2), exists()])).eventType).toBe(VERIFIED);
        expectFailure(
          await verdict([update(), operationEnd(op, 2, { os_distro: 'org.centos' }), exists()]),
          'U2',
          "Conflicting 'os_distro' values ('org.centos' != 'org.debian')",
        );
      });
    }

    it('reports the first conflicting field in order, formatted like Python str()', async () => {
      const op = operationEnd('compute.instance.rebuild.end', 2, { launched_at: T('2015-02-27 10:00:00.5'), tenant_id: '999' });
      expectFailure(
        await verdict([op, exists()]),
        'U2',
        "Conflicting 'launched_at' values ('2015-02-27 10:00:00.500000' != '2015-02-27 10:00:00')",
      );
      expectFailure(
        await verdict([operationEnd('compute.instance.rebuild.end', 2, { instance_flavor_id: 3n }), exists()]),
        'U2',
        "Conflicting 'instance_flavor_id' values ('3' != '2')",
      );
      expectFailure(
        await verdict([operationEnd('compute.instance.rebuild.end', 2, { instance_flavor_id: 2.5 }), exists()]),
        'U2',
        "Conflicting 'instance_flavor_id' values ('2.5' != '2')",
      );
    });

    it('compares ints and floats by value, and only the last operation event counts', async () => {
      expect((await verdict([operationEnd('compute.instance.rebuild.end', 2, { instance_flavor_id: 2 }), exists()])).eventType).toBe(VERIFIED);
      const stale = operationEnd('compute.instance.rebuild.end', 2, { os_version: '6' });
      const latest = operationEnd('compute.instance.rescue.end', 3);
      expect((await verdict([stale, latest, update(4, '2015-02-27 11:00:00'), exists()])).eventType).toBe(VERIFIED);
      expect((await verdict([latest, stale, exists()])).eventType).toBe(FAILED);
    });

    it('skips a field absent from both sides', async () => {
      const op = operationEnd('compute.instance.rebuild.end', 2, { os_version: undefined });
      expect((await verdict([op, exists({ os_version: undefined })])).eventType).toBe(VERIFIED);
    });

    it('does not check other operation types', async () => {
      const resize = operationEnd('compute.instance.resize.end', 2, { os_distro: 'org.centos' });
      expect((await verdict([resize, exists()])).eventType).toBe(VERIFIED);
    });
  });

  describe('non-EOD warning (no operation event)', () => {
    const warningsOf = async (apb: string, ape: string): Promise<string[]> => {
      const { generated } = await run([update(), exists({ audit_period_beginning: T(apb), audit_period_ending: T(ape) })]);
      return generated.filter((e) => e.eventType === WARNINGS).map((e) => e.traits['warnings'] as string);
    };
    const warning = `Non-EOD .exists found (msg_id: ${EXISTS_ID}) with no operation event.`;

    it('compares calendar dates only (spec examples)', async () => {
      expect(await warningsOf('2015-02-27 13:00:00', '2015-02-28 09:00:00')).toEqual([]);
      expect(await warningsOf('2015-02-27 00:00:00', '2015-02-27 13:00:00')).toEqual([warning]);
      expect(await warningsOf('2015-02-27 00:00:00', '2015-03-01 00:00:00')).toEqual([warning]);
      expect(await warningsOf('2015-02-28 23:59:59.999999', '2015-03-01 00:00:00')).toEqual([]);
    });

    it('no warning when an operation event is present', async () => {
      const op = operationEnd('compute.instance.rebuild.end', 2);
      const { generated } = await run([op, exists({ audit_period_ending: T('2015-02-27 13:00:00') })]);
      expect(generated.map((e) => e.eventType)).toEqual([VERIFIED]);
    });

    it('emits the warnings event before a later failure too', async () => {
      const { generated } = await run([update(), deleteEnd(2), exists({ audit_period_ending: T('2015-02-27 13:00:00') })]);
      expect(generated.map((e) => e.eventType)).toEqual([WARNINGS, FAILED]);
      expect(generated[1]!.traits['error_code']).toBe('U6');
    });
  });

  describe('delete checks (U3–U7, U2)', () => {
    it('verifies a deleted .exists matching its delete.end', async () => {
      expect((await verdict([update(), deleteEnd(2), deletedExists()])).eventType).toBe(VERIFIED);
    });

    it('U6 when delete events exist but the .exists has no deleted_at', async () => {
      expectFailure(
        await verdict([update(), deleteEnd(2), exists()]),
        'U6',
        '.deleted events found but .exists has no deleted_at value.',
      );
    });

    it("U3 when deleted_at is set but the state is not 'deleted'", async () => {
      expectFailure(
        await verdict([update(), deleteEnd(2), exists({ deleted_at: DELETED_AT })]),
        'U3',
        ".exists state not 'deleted' but .exists deleted_at is set.",
      );
    });

    it('U4 when deleted_at < launched_at and there is no delete event', async () => {
      expectFailure(
        await verdict([update(), deletedExists({ deleted_at: T('2015-02-27 09:59:59.999999') })]),
        'U4',
        '.exists deleted_at < .exists launched_at.',
      );
    });

    it('U5 when deleted_at is in the audit period (bounds included) without a delete event', async () => {
      const message = '.exists deleted_at in audit period, but no matching .delete event found.';
      for (const at of ['2015-02-27 12:00:00', '2015-02-28 00:00:00']) {
        expectFailure(await verdict([update(), deletedExists({ deleted_at: T(at) })]), 'U5', message);
      }
      const atLaunch = T('2015-02-27 10:00:00');
      expectFailure(await verdict([update(), deletedExists({ deleted_at: atLaunch })]), 'U5', message);
    });

    it('no U5 when deleted_at is outside the audit period', async () => {
      const late = deletedExists({ deleted_at: T('2015-02-28 00:00:00.000001') });
      expect((await verdict([update(), late])).eventType).toBe(VERIFIED);
    });

    it('U7 for more than one delete.end', async () => {
      expectFailure(await verdict([deleteEnd(2), deleteEnd(3), deletedExists()]), 'U7', 'Multiple .delete.end events');
    });

    it('U2 when the delete event disagrees (.exists value first)', async () => {
      expectFailure(
        await verdict([deleteEnd(2, { deleted_at: T('2015-02-27 12:00:00') }), deletedExists()]),
        'U2',
        "Conflicting 'deleted_at' values ('2015-02-27 12:00:00.000001' != '2015-02-27 12:00:00')",
      );
    });

    it('runs the checks in upstream order', async () => {
      // U1 before U6; U2 of the operation event before U6; U3 before U7.
      expect((await verdict([deleteEnd(2), exists({ launched_at: undefined })])).traits['error_code']).toBe('U1');
      const op = operationEnd('compute.instance.rescue.end', 3, { tenant_id: '9' });
      expect((await verdict([deleteEnd(2), op, exists()])).traits['error_code']).toBe('U2');
      expect((await verdict([deleteEnd(2), deleteEnd(3), exists({ deleted_at: DELETED_AT })])).traits['error_code']).toBe('U3');
    });
  });

  describe('U0: events but no .exists', () => {
    it('fails the events after the last .exists, with the first one’s timestamp and instance', async () => {
      const { generated } = await run([update(1), exists(), update(2, '2015-02-28 01:00:00'), update(3, '2015-02-28 02:00:00')]);
      expect(generated.map((e) => e.eventType)).toEqual([VERIFIED, FAILED]);
      const u0 = generated[1]!;
      expect(u0.timestamp).toEqual(T('2015-02-28 01:00:00'));
      expect(u0.traits).toStrictEqual({
        stream_id: 42n,
        instance_id: 'inst-1',
        error: 'Notifications, but no .exists notification found.',
        error_code: 'U0',
      });
    });

    it('emits nothing for an empty stream or one ending with its .exists', async () => {
      expect((await run([])).generated).toEqual([]);
      expect((await run([update(), exists()])).generated).toHaveLength(1);
    });

    it('logs each failure with its code', async () => {
      const { logs } = await run([update(1), exists({ launched_at: undefined }), update(2)]);
      const warned = logs.filter((l) => l.level === 40).map((l) => [l['code'], l['streamId'], l.msg]);
      expect(warned).toEqual([
        ['U1', 42, 'Usage check failed: .exists has no launched_at value.'],
        ['U0', 42, 'Usage check failed: Notifications, but no .exists notification found.'],
      ]);
    });
  });
});

describe('UsageHandler generated events', () => {
  it('returns the input events followed by the generated ones, per block in order', async () => {
    const input = [update(1), exists({}, msgId(90)), update(2, '2015-02-28 01:00:00'), exists({ launched_at: undefined }, msgId(91))];
    const { out } = await run(input);
    expect(out.slice(0, 4)).toEqual(input);
    expect(out.slice(4).map((e) => [e.eventType, e.traits['original_message_id']])).toEqual([
      [VERIFIED, msgId(90)],
      [FAILED, msgId(91)],
    ]);
  });

  it('verified: all .exists traits plus the handler traits and defaults, no error', async () => {
    const source = exists();
    const verified = await verdict([update(), source]);
    expect(verified.timestamp).toBe(source.timestamp);
    expect(verified.traits).toStrictEqual({
      ...BASE_EXISTS,
      bandwidth_in: 0n,
      bandwidth_out: 0n,
      rax_options: '0',
      original_message_id: EXISTS_ID,
      publisher_id: 'stv3',
      stream_id: 42n,
    });
  });

  it('failed: the same plus error and error_code', async () => {
    const failed = await verdict([update(), deleteEnd(2), exists({ bandwidth_in: '1234', rax_options: '6' })]);
    expect(failed.traits).toStrictEqual({
      ...BASE_EXISTS,
      bandwidth_in: '1234',
      bandwidth_out: 0n,
      rax_options: '6',
      original_message_id: EXISTS_ID,
      publisher_id: 'stv3',
      stream_id: 42n,
      error: '.deleted events found but .exists has no deleted_at value.',
      error_code: 'U6',
    });
  });

  it("warnings: publisher, stream, instance ('n/a' when absent) and the joined warnings", async () => {
    const nonEod = exists({ instance_id: undefined, audit_period_ending: T('2015-02-27 13:00:00') });
    const { generated } = await run([update(), nonEod]);
    expect(generated[0]!.timestamp).toBe(nonEod.timestamp);
    expect(generated[0]!.traits).toStrictEqual({
      publisher_id: 'stv3',
      stream_id: 42n,
      instance_id: 'n/a',
      warnings: `Non-EOD .exists found (msg_id: ${EXISTS_ID}) with no operation event.`,
    });
  });
});

describe('UsageHandler on golden notigen streams', () => {
  it('create: day stream + EOD .exists → verified, carrying every .exists trait', async () => {
    const stream = dayStream('compute.instance.create.start_24');
    const createEnd = lastOfType(stream, 'compute.instance.create.end');
    const eod = eodExistsFor(createEnd);
    const verified = await verdict([...stream, eod]);
    expect(verified.eventType).toBe(VERIFIED);
    expect(verified.messageId).toBe(uuidv5(VERIFIED, eod.messageId));
    expect(verified.traits).toStrictEqual({
      ...eod.traits,
      rax_options: '0',
      original_message_id: 'f1a2710d-0c52-51af-bb1a-e791e413c45e',
      publisher_id: 'stv3',
      stream_id: 42n,
    });
    // The golden .exists carries bandwidth as text (sandbox definitions): kept as is.
    expect(verified.traits['bandwidth_in']).toBe('0');
    expect(verified.traits['launched_at']).toEqual(T('2015-02-01 00:00:51.194870'));
  });

  for (const [name, opType] of [
    ['compute.instance.rebuild.start_24', 'compute.instance.rebuild.end'],
    ['compute.instance.resize.prep.start_24', 'compute.instance.finish_resize.end'],
    ['compute.instance.rescue.start_19', 'compute.instance.rescue.end'],
  ] as const) {
    it(`${name}: verified against ${opType}; U2 on a conflicting launched_at or flavor`, async () => {
      const stream = dayStream(name);
      const op = lastOfType(stream, opType);
      expect((await verdict([...stream, eodExistsFor(op)])).eventType).toBe(VERIFIED);

      const launchedAt = op.traits['launched_at'] as DateTime;
      const earlier = launchedAt.plusSeconds(-3600);
      expectFailure(
        await verdict([...stream, eodExistsFor(op, { launched_at: earlier })]),
        'U2',
        `Conflicting 'launched_at' values ('${launchedAt.toString()}' != '${earlier.toString()}')`,
      );
      expectFailure(
        await verdict([...stream, eodExistsFor(op, { instance_flavor_id: 99n })]),
        'U2',
        `Conflicting 'instance_flavor_id' values ('${String(op.traits['instance_flavor_id'])}' != '99')`,
      );
    });
  }

  it('rebuild: a .exists still describing the old image fails U2 on os_version', async () => {
    const stream = dayStream('compute.instance.rebuild.start_24');
    const nova = lastOfType(template('compute.instance.rebuild.start_24'), EXISTS);
    const stale = eodExistsFor(nova, { launched_at: lastOfType(stream, 'compute.instance.rebuild.end').traits['launched_at'] });
    expectFailure(await verdict([...stream, stale]), 'U2', "Conflicting 'os_version' values ('5.10' != '7')");
  });

  for (const name of ['compute.instance.delete.start_8', 'compute.instance.resize.confirm.start_12']) {
    it(`${name}: deleted .exists verified against delete.end; U6 without deleted_at; U3 if still active`, async () => {
      const stream = dayStream(name);
      const del = lastOfType(stream, 'compute.instance.delete.end');
      const deleted = { state: 'deleted', deleted_at: del.traits['deleted_at'] };
      expect((await verdict([...stream, eodExistsFor(del, deleted)])).eventType).toBe(VERIFIED);
      expectFailure(
        await verdict([...stream, eodExistsFor(del)]),
        'U6',
        '.deleted events found but .exists has no deleted_at value.',
      );
      expectFailure(
        await verdict([...stream, eodExistsFor(del, { deleted_at: del.traits['deleted_at'] })]),
        'U3',
        ".exists state not 'deleted' but .exists deleted_at is set.",
      );
    });
  }

  it('power_off + a deleted EOD .exists with no delete.end: U5 in the period, U4 before launch', async () => {
    const stream = dayStream('compute.instance.power_off.start_4');
    const last = stream.at(-1)!;
    const exists = (deletedAt: string): Event => eodExistsFor(last, { state: 'deleted', deleted_at: T(deletedAt) });
    expectFailure(
      await verdict([...stream, exists('2015-02-01 18:00:00')]),
      'U5',
      '.exists deleted_at in audit period, but no matching .delete event found.',
    );
    expectFailure(await verdict([...stream, exists('2014-01-01 00:00:00')]), 'U4', '.exists deleted_at < .exists launched_at.');
  });

  it("a template's own (Nova) .exists alone in its audit-day stream: U8 when launched that day", async () => {
    const nova = lastOfType(template('compute.instance.rebuild.start_14'), EXISTS);
    expectFailure(await verdict([nova]), 'U8', '.exists launched_at in audit period, but no related events found.');
    const olderInstance = lastOfType(template('compute.instance.rescue.start_19'), EXISTS);
    expect((await verdict([olderInstance])).eventType).toBe(VERIFIED);
  });

  it('a whole template as one stream: its Nova .exists verified, the events after it U0', async () => {
    const name = 'compute.instance.resize.prep.start_24';
    const instanceId = instanceOf(name);
    const events = template(name).filter((e) => e.traits['instance_id'] === instanceId);
    const { generated } = await run(events);
    expect(generated.map((e) => [e.eventType, e.traits['error_code']])).toEqual([
      [VERIFIED, undefined],
      [FAILED, 'U0'],
    ]);
    const afterExists = events[events.findIndex((e) => e.eventType === EXISTS) + 1]!;
    expect(generated[1]!.timestamp).toEqual(afterExists.timestamp);
  });

  it('every template without an EOD .exists expires as one U0 for its instance', async () => {
    for (const name of TEMPLATE_NAMES.filter((n) => n !== 'eod_exists')) {
      const stream = dayStream(name);
      const { generated } = await run(stream);
      expect(generated, name).toHaveLength(1);
      expect(generated[0]!.traits).toStrictEqual({
        stream_id: 42n,
        instance_id: instanceOf(name),
        error: 'Notifications, but no .exists notification found.',
        error_code: 'U0',
      });
      expect(generated[0]!.timestamp).toEqual(stream[0]!.timestamp);
    }
  });
});

describe('UsageHandler fixes of upstream bugs (spec §10.11)', () => {
  it('bug 1: each warnings event carries only its own block’s warnings', async () => {
    const nonEod = (id: string, day: string): Event =>
      exists({ audit_period_beginning: T(`${day} 00:00:00`), audit_period_ending: T(`${day} 13:00:00`) }, id, `${day} 13:05:00`);
    const first = msgId(90);
    const second = msgId(91);
    const { generated } = await run([
      update(1, '2015-02-27 10:00:00'),
      nonEod(first, '2015-02-27'),
      update(2, '2015-02-27 14:00:00'),
      nonEod(second, '2015-02-28'),
      update(3, '2015-02-28 14:00:00'),
      exists({}, msgId(92), '2015-03-01 00:10:00'),
    ]);
    expect(generated.map((e) => [e.eventType, e.traits['warnings']])).toEqual([
      [WARNINGS, `Non-EOD .exists found (msg_id: ${first}) with no operation event.`],
      [VERIFIED, undefined],
      // Upstream: both warnings here, and a third warnings event before the last verified.
      [WARNINGS, `Non-EOD .exists found (msg_id: ${second}) with no operation event.`],
      [VERIFIED, undefined],
      [VERIFIED, undefined],
    ]);
  });

  it('bug 2: a field on one side only is a U2 conflict against None, not a KeyError', async () => {
    const stream = dayStream('compute.instance.delete.start_8');
    const del = lastOfType(stream, 'compute.instance.delete.end');
    const noLaunch = eodExistsFor(del, { state: 'deleted', deleted_at: del.traits['deleted_at'], launched_at: undefined });
    expectFailure(await verdict([...stream, noLaunch]), 'U2', "Conflicting 'launched_at' values ('None' != '2015-01-30 15:31:13.585401')");

    const op = operationEnd('compute.instance.rebuild.end', 2);
    expectFailure(await verdict([op, exists({ os_distro: undefined })]), 'U2', "Conflicting 'os_distro' values ('org.debian' != 'None')");
    // A value present as None (not stored) equals an absent one.
    expect((await verdict([operationEnd('compute.instance.rebuild.end', 2, { os_distro: null }), exists({ os_distro: undefined })])).eventType).toBe(VERIFIED);
  });

  it('bug 3: a verified event has no error and no error_code trait (upstream: error "None")', async () => {
    const verified = await verdict([update(), exists()]);
    expect(verified.traits).not.toHaveProperty('error');
    expect(verified.traits).not.toHaveProperty('error_code');
  });

  it('bug 4: deleted_at checks without launched_at skip U4 instead of raising TypeError', async () => {
    const noLaunch = { launched_at: undefined };
    expectFailure(
      await verdict([update(), deletedExists({ ...noLaunch, deleted_at: T('2015-02-27 01:00:00') })]),
      'U5',
      '.exists deleted_at in audit period, but no matching .delete event found.',
    );
    expect((await verdict([update(), deletedExists({ ...noLaunch, deleted_at: T('2015-03-05 00:00:00') })])).eventType).toBe(VERIFIED);
  });

  it("bug 5: generated events also go to env['usage_notifications'] for notabene", async () => {
    const { generated, env } = await run([update(1), exists(), update(2, '2015-02-28 01:00:00')]);
    expect(generated).toHaveLength(2);
    expect(env['usage_notifications']).toEqual(generated);

    const earlier = exists({}, msgId(99));
    const appended = await run([update(), exists()], { usage_notifications: [earlier] });
    expect(appended.env['usage_notifications']).toEqual([earlier, ...appended.generated]);
    await expect(run([update(), exists()], { usage_notifications: 'oops' })).rejects.toThrow(TypeError);
  });

  it('bug 6: U0 ids are uuid5 of stream/type/first message_id, the same on every run', async () => {
    expect(USAGE_ID_NAMESPACE).toBe(uuidv5('stacktach-ts/usage', uuidv5.URL));
    expect(USAGE_ID_NAMESPACE).toBe('faca88b0-d6b3-59d2-a817-dea4b78e38f2');
    const stream = [update(1), update(2, '2015-02-27 11:00:00')];
    const first = await run(stream);
    const again = await run(stream);
    expect(first.generated[0]!.messageId).toBe('c79b644c-bf22-5550-a029-21cf7c377d2a');
    expect(again.generated[0]!.messageId).toBe(first.generated[0]!.messageId);
    expect((await run(stream, {}, 43)).generated[0]!.messageId).toBe('a796de60-46a1-509c-9147-5272de33a40b');
  });

  it('bug 6: an .exists with an empty message_id gets the same derived id every run, and an error is logged', async () => {
    const first = await run([update(1), exists({}, '')]);
    const again = await run([update(1), exists({}, '')]);
    expect(first.generated[0]!.messageId).toBe('7c27d991-455b-520f-9d87-b94617426c28');
    expect(again.generated[0]!.messageId).toBe(first.generated[0]!.messageId);
    expect(first.generated[0]!.traits['original_message_id']).toBe('');
    expect(first.logs.filter((l) => l.level === 50)).toHaveLength(1);
    // With an empty block, the .exists's own (empty) id stands in for the first message_id.
    expect((await run([exists({ state: 'stopped' }, '')])).generated[0]!.messageId).toBe('bad94a83-85ff-5fcc-8c5e-ae8d4336a62a');
  });
});

describe('Python value semantics used by the checks', () => {
  it('str() as Python 2.7', () => {
    expect([0.1, 1 / 3, 1e16, 1e-5, 1e-4, 123456789012, 12345678901.5, 2, -0, 0.1 + 0.2, 5e-324, NaN, -Infinity].map(pyStr)).toEqual([
      '0.1', '0.333333333333', '1e+16', '1e-05', '0.0001', '1.23456789012e+11', '12345678901.5', '2.0', '-0.0', '0.3', '4.94065645841e-324', 'nan', '-inf',
    ]);
    expect([null, undefined, 12345678901234567890n, 'x', T('2015-02-27 10:00:00.000001')].map(pyStr)).toEqual([
      'None', 'None', '12345678901234567890', 'x', '2015-02-27 10:00:00.000001',
    ]);
  });

  it('truthiness, equality and ordering', () => {
    expect([null, undefined, '', 0n, 0, -0, 'a', 1n, NaN, T('2015-02-27 00:00:00')].map(pyTruthy)).toEqual([
      false, false, false, false, false, false, true, true, true, true,
    ]);
    expect(pyEquals(2n, 2)).toBe(true);
    expect(pyEquals(NaN, NaN)).toBe(false);
    expect(pyEquals('2', 2n)).toBe(false);
    expect(pyEquals(null, undefined)).toBe(true);
    expect(pyEquals(T('2015-02-27 00:00:00'), '2015-02-27 00:00:00')).toBe(false);
    expect(pyCompare(T('2015-02-27 00:00:00'), T('2015-02-27 00:00:00.000001'))).toBeLessThan(0);
    expect(pyCompare(3n, 2.5)).toBeGreaterThan(0);
    expect(() => pyCompare(T('2015-02-27 00:00:00'), null)).toThrow("can't compare datetime.datetime to NoneType");
    expect(() => pyCompare(T('2015-02-27 00:00:00'), '2015')).toThrow(TypeError);
  });

  it('a non-datetime audit period is a pipeline error, as upstream', async () => {
    await expect(run([update(), exists({ audit_period_ending: '2015-02-28' })])).rejects.toThrow(TypeError);
  });
});
