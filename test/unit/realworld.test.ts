/**
 * The real-world cases (fixtures/realworld/README.md) as unit tests: body decoding, the
 * distiller with the shipped definitions, storage encoding, trigger matching and the usage
 * handler, all pure code. Each test names its case.
 */
import { readFileSync } from 'node:fs';
import { fileURLToPath } from 'node:url';
import { deflateSync } from 'node:zlib';
import { pino } from 'pino';
import { describe, expect, it } from 'vitest';
import { decodeNotification, encodeOsloV2, type Notification } from '../../src/shared/amqp/oslo.js';
import { Distiller, isValidForStorage } from '../../src/shared/distiller/index.js';
import { ConfigError, PoisonMessageError } from '../../src/shared/errors.js';
import type { Event } from '../../src/shared/event.js';
import { decodeTraits, encodeTraits } from '../../src/shared/store/trait-codec.js';
import { DateTime } from '../../src/shared/time.js';
import { loadTriggerDefinitions, triggerDefinitionsFromValue } from '../../src/shared/triggers/index.js';
import { matchTriggers } from '../../src/shared/triggers/matching.js';
import { createUsageHandler } from '../../src/pipeline-worker/handlers/usage.js';
import { readYamlFile } from '../../src/shared/config/yaml-file.js';

const REALWORLD = new URL('../../fixtures/realworld/', import.meta.url);
const UPSTREAM = new URL('../../fixtures/stacktach-upstream/', import.meta.url);
const NOW = DateTime.of(2026, 11, 30, 12);

const file = (name: string): string => fileURLToPath(new URL(name, REALWORLD));
const bytes = (name: string): Buffer => readFileSync(file(name));
const input = (name: string): Notification => decodeNotification(bytes(name));

const distillers = (catchAll = false) => ({
  sandbox: Distiller.fromFile(fileURLToPath(new URL('sandbox/event_definitions.yaml', UPSTREAM)), { catchAll }),
  'winchester-etc': Distiller.fromFile(fileURLToPath(new URL('winchester-etc/event_definitions.yaml', UPSTREAM)), { catchAll }),
});
const { sandbox, 'winchester-etc': winchesterEtc } = distillers();

function distilled(distiller: Distiller, notification: Notification): Event {
  const event = distiller.distill(notification, NOW);
  if (event === null) throw new Error('dropped');
  return event;
}

function poisonReason(work: () => unknown): string {
  try {
    work();
  } catch (err) {
    if (err instanceof PoisonMessageError) return err.message;
    throw err;
  }
  throw new Error('not poison');
}

describe('case 01: Havana delete.end with deleted_at "" and the time in terminated_at', () => {
  const deleteEnd = input('01-delete-end.json');
  const exists = input('01-exists.json');

  it('a datetime trait skips "" and takes the next alternative of its union (our decision; upstream omitted the trait)', () => {
    const event = distilled(sandbox, deleteEnd);
    expect(event.traits['deleted_at']).toEqual(DateTime.of(2015, 2, 27, 14, 59, 58, 123456));
    expect(event.traits).toMatchObject({ state: 'deleted', host: 'cpu-host-01', service: 'compute', launched_at: DateTime.of(2015, 2, 20, 10) });
  });

  it('a text trait keeps "" as its value: "" is a real text value, the union stops there', () => {
    const defs = [{ event_type: 'compute.instance.*', traits: { deleted: { fields: ['payload.deleted_at', 'payload.terminated_at'] } } }];
    expect(distilled(Distiller.fromDefinitions(defs, 'inline', { catchAll: false }), deleteEnd).traits['deleted']).toBe('');
  });

  it('without a union the trait is still omitted (winchester-etc reads payload.deleted_at only)', () => {
    expect(distilled(winchesterEtc, deleteEnd).traits).not.toHaveProperty('deleted_at');
  });

  it('both events join one test_trigger stream; the .exists fires it; the usage audit verifies instead of a false U2', async () => {
    const triggers = loadTriggerDefinitions(fileURLToPath(new URL('sandbox/triggers.yaml', UPSTREAM)));
    const events = [distilled(sandbox, deleteEnd), distilled(sandbox, exists)];
    expect(events[1]!.traits['deleted_at']).toEqual(DateTime.of(2015, 2, 27, 14, 59, 58, 123456));
    const [first, second] = events.map((e) => matchTriggers(triggers, e).find((m) => m.trigger.name === 'test_trigger')!);
    expect(first!.key).toBe(second!.key);
    expect(first!.key).toContain('5c1d3a2e-0000-4000-8000-00000000000a');
    expect([first!.hits, second!.hits]).toEqual([[false], [true]]);

    const log = pino({ level: 'silent' });
    const handler = createUsageHandler({}, { log, now: () => NOW });
    const generated = (await handler.handleEvents(events, { streamId: 1, streamName: 'test_trigger' })).slice(events.length);
    expect(generated.map((e) => [e.eventType, e.messageId])).toEqual([['compute.instance.exists.verified', '99f3ad97-d1b5-5144-814c-602b55f86e71']]);
  });
});

describe('case 03: split plugin on a non-ASCII publisher_id', () => {
  it.each([
    ['03-update-nonascii-host.json', 'höst-ß1.zürich'],
    ['03-update-astral-host.json', 'rack😀01.example'],
  ])('%s: service and host keep their code points, with both shipped files', (name, host) => {
    for (const distiller of [sandbox, winchesterEtc]) {
      const event = distilled(distiller, input(name));
      expect(event.traits['service']).toBe('compute');
      expect(event.traits['host']).toBe(host);
      expect(decodeTraits(encodeTraits(event.traits))['host']).toBe(host);
    }
  });
});

describe('case 06: kombu_compression (AMQP header "compression")', () => {
  const envelope = bytes('06-envelope.json');
  const properties = { contentEncoding: 'utf-8', headers: { compression: 'application/x-gzip' } };

  it('inflates a zlib body (kombu gzip = zlib.compress) and distills it', () => {
    const body = deflateSync(envelope);
    expect(body.subarray(0, 2)).toEqual(Buffer.from([0x78, 0x9c]));
    const notification = decodeNotification(body, properties);
    expect(notification).toEqual(input('06-inner.json'));
    expect(distilled(sandbox, notification).traits).toMatchObject({
      instance_id: 'i-6',
      tenant_id: 'tenant-f',
      memory_mb: 512n,
      state: 'active',
      host: 'cpu-host-01',
      service: 'compute',
    });
  });

  it('without the header the same bytes are poison, with a printable reason', () => {
    const reason = poisonReason(() => decodeNotification(deflateSync(envelope), { contentEncoding: 'utf-8' }));
    expect(reason).toMatch(/^body is not valid UTF-8 \(byte 0x9C at offset 1\)$/);
  });

  it('an unsupported method (bz2) or an unknown one is poison naming the header value', () => {
    expect(poisonReason(() => decodeNotification(envelope, { headers: { compression: 'application/x-bz2' } }))).toMatch(
      /compression "application\/x-bz2" is not supported/,
    );
    expect(poisonReason(() => decodeNotification(envelope, { headers: { compression: 'x-snappy' } }))).toMatch(/unknown compression "x-snappy"/);
  });

  it('bytes that do not inflate are poison naming the header, without binary in the reason', () => {
    const reason = poisonReason(() => decodeNotification(Buffer.from([0x78, 0x9c, 0xff, 0x00, 0x01, 0x9b]), properties));
    expect(reason).toMatch(/^body with compression "application\/x-gzip" does not inflate: /);
    expect(reason).toMatch(/^[\x20-\x7e]*$/);
  });
});

describe('case 07: NaN and Infinity tokens from Python publishers', () => {
  const text = readFileSync(file('07-body.txt'), 'utf8');

  it('are accepted as Python accepts them; text traits get str() of the floats', () => {
    const event = distilled(sandbox, decodeNotification(Buffer.from(text)));
    expect(event.traits['bandwidth_in']).toBe('inf');
    expect(event.traits['bandwidth_out']).toBe('nan');
    expect(event.traits['instance_id']).toBe('7e7e7c1a-0000-4000-8000-00000000000c');
  });

  it('inside an oslo 2.0 envelope too', () => {
    const body = JSON.stringify({ 'oslo.version': '2.0', 'oslo.message': text });
    expect(distilled(sandbox, decodeNotification(body)).traits['bandwidth_in']).toBe('inf');
  });

  it('a float trait holds NaN/±Infinity and is stored as {"f": "NaN"} (the typed DOUBLE column gets NULL)', () => {
    const defs = [{ event_type: 'compute.*', traits: { bw_in: { type: 'float', fields: 'payload.bandwidth.public.bw_in' }, bw_out: { type: 'float', fields: 'payload.bandwidth.public.bw_out' } } }];
    const event = distilled(Distiller.fromDefinitions(defs, 'inline', { catchAll: false }), decodeNotification(text));
    expect(event.traits['bw_in']).toBe(Infinity);
    expect(event.traits['bw_out']).toBeNaN();
    const stored = encodeTraits(event.traits);
    expect(JSON.parse(stored)).toMatchObject({ bw_in: { f: 'Infinity' }, bw_out: { f: 'NaN' } });
    expect(decodeTraits(stored)).toMatchObject({ bw_in: Infinity, bw_out: NaN });
  });

  it('an int trait of NaN is poison, as int(nan) failed upstream', () => {
    const defs = [{ event_type: 'compute.*', traits: { bw: { type: 'int', fields: 'payload.bandwidth.public.bw_out' } } }];
    expect(() => Distiller.fromDefinitions(defs, 'inline', { catchAll: false }).distill(decodeNotification(text), NOW)).toThrow(
      /trait bw \(int\): cannot convert float nan to an integer/,
    );
  });
});

describe('case 08: invalid UTF-8', () => {
  it('is poison naming the byte and its offset, never U+FFFD', () => {
    const body = bytes('08-body.bin');
    expect(body).toHaveLength(300);
    expect(poisonReason(() => decodeNotification(body))).toBe('body is not valid UTF-8 (byte 0xE9 at offset 289)');
  });

  it('a U+FFFD that was really sent (EF BF BD) is kept', () => {
    const body = Buffer.concat([bytes('08-body.bin').subarray(0, 289), Buffer.from('\uFFFD'), bytes('08-body.bin').subarray(290)]);
    const notification = decodeNotification(body);
    expect((notification['payload'] as Record<string, unknown>)['display_name']).toBe('Caf\uFFFD server');
  });
});

describe('case 10: modern envelopes without _context_tenant / _context_timestamp, or without a context', () => {
  const empty = input('10-image-update-empty-context.json');
  const sanitized = input('10-image-update-sanitized-context.json');
  const noPublisher = input('10-image-update-no-publisher.json');

  it.each(Object.entries(distillers(true)))('with catch-all (%s)', (_name, distiller) => {
    expect(distilled(distiller, empty).traits).toEqual({ service: 'image.glance-api-01' });
    expect(distilled(distiller, sanitized).traits).toEqual({ service: 'image.glance-api-01', request_id: 'req-0a0a0a0a-0000-4000-8000-000000000010' });
    const bare = distilled(distiller, noPublisher);
    expect(bare.traits).toEqual({});
    expect(isValidForStorage(bare)).toBe(false);
    expect(bare.timestamp).toEqual(DateTime.of(2023, 10, 2, 9, 15, 0, 123456));
  });

  it.each(Object.entries(distillers(false)))('without catch-all (%s) all three are unmatched', (_name, distiller) => {
    for (const n of [empty, sanitized, noPublisher]) expect(distiller.distill(n, NOW)).toBeNull();
  });
});

describe('case 11: numeric traits whose value is 0 keep their type and presence', () => {
  it('distilled, stored, read back and matched by the trigger', () => {
    const distiller = Distiller.fromFile(file('11-defs.yaml'), { catchAll: false });
    const event = distilled(distiller, input('11-update-zeros.json'));
    expect(event.traits).toMatchObject({ ephemeral_gb: 0n, rxtx_factor: 0, progress: 0n, flags: 0n });
    const stored = encodeTraits(event.traits);
    expect(JSON.parse(stored)).toMatchObject({ ephemeral_gb: { i: '0' }, rxtx_factor: { f: 0 }, progress: { i: '0' }, flags: { i: '0' } });
    const readBack: Event = { ...event, traits: { ...decodeTraits(stored), instance_id: 'i-11' } };
    expect(readBack.traits).toMatchObject({ ephemeral_gb: 0n, rxtx_factor: 0, progress: 0n, flags: 0n });
    const triggers = triggerDefinitionsFromValue(readYamlFile(file('11-triggers.yaml')), '11-triggers.yaml');
    expect(matchTriggers(triggers, readBack).map((m) => m.trigger.name)).toEqual(['zero_check']);
  });

  it('rxtx_factor 0.0 stays a float in a text trait: "0.0", not "0"', () => {
    const defs = [{ event_type: 'compute.*', traits: { r: { fields: 'payload.rxtx_factor' }, e: { fields: 'payload.ephemeral_gb' } } }];
    const event = distilled(Distiller.fromDefinitions(defs, 'inline', { catchAll: false }), input('11-update-zeros.json'));
    expect(event.traits).toMatchObject({ r: '0.0', e: '0' });
  });
});

describe('case 13: expiration written as a huge microsecond count', () => {
  const first = DateTime.of(2015, 8, 13, 16, 33, 16, 5);
  const trigger = (expiration?: string) => {
    const value = readYamlFile(file('13-triggers.yaml')) as Record<string, unknown>[];
    return triggerDefinitionsFromValue(expiration === undefined ? value : [{ ...value[0], expiration }], 'inline.yaml')[0]!;
  };

  it('1 day and 30 days keep their microseconds', () => {
    expect(trigger().expirationFor(first, first, NOW)).toEqual(DateTime.of(2015, 8, 14, 16, 33, 16, 5));
    expect(trigger('$first + 2592000000000us').expirationFor(first, first, NOW)).toEqual(DateTime.of(2015, 9, 12, 16, 33, 16, 5));
  });

  it('an absurd value is a configuration error at load, naming the trigger and expiration', () => {
    expect(() => trigger('$first + 99999999999999999999us')).toThrow(ConfigError);
    expect(() => trigger('$first + 99999999999999999999us')).toThrow(/trigger "monasca_style_expiry" expiration: .*number too large/);
  });
});

describe('oslo 2.0 envelope of a real-world body', () => {
  it('decodes to the same notification as the bare body', () => {
    const bare = input('01-exists.json');
    expect(decodeNotification(encodeOsloV2(bare))).toEqual(bare);
  });
});
