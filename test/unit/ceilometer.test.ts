/**
 * Operators coming from Ceilometer: its shipped event_definitions.yaml loads unmodified
 * (fixtures/ceilometer/README.md), including the jsonpath-rw-ext features it uses (`split()`
 * named operator, `[?…]` filters) and Ceilometer's timedelta trait plugin; outputs on a legacy
 * and a versioned Nova notification and a Cinder one.
 */
import { readFileSync } from 'node:fs';
import { fileURLToPath } from 'node:url';
import { describe, expect, it } from 'vitest';
import { decodeNotification } from '../../src/shared/amqp/oslo.js';
import { Distiller } from '../../src/shared/distiller/index.js';
import { compilePaths, type TraitMatch } from '../../src/shared/distiller/jsonpath.js';
import { parseJsonPath } from '../../src/shared/distiller/jsonpath-parser.js';
import { ConfigError } from '../../src/shared/errors.js';
import { DateTime } from '../../src/shared/time.js';

const CEILOMETER = new URL('../../fixtures/ceilometer/', import.meta.url);
const NOW = DateTime.of(2026, 1, 1);
const DEFINITIONS = fileURLToPath(new URL('event_definitions.yaml', CEILOMETER));
const sample = (name: string) => decodeNotification(readFileSync(new URL(name, CEILOMETER)));

describe("Ceilometer's event_definitions.yaml", () => {
  const distiller = Distiller.fromFile(DEFINITIONS, { catchAll: false });

  it('is the vendored file, unmodified', () => {
    expect(readFileSync(DEFINITIONS, 'utf8')).toHaveLength(17573);
  });

  it('a legacy (unversioned) Nova compute.instance.create.end gets the compute.instance.* traits', () => {
    const event = distiller.distill(sample('nova-unversioned-create-end.json'), NOW)!;
    expect(event.eventType).toBe('compute.instance.create.end');
    expect(event.timestamp).toEqual(DateTime.of(2024, 5, 14, 8, 30, 12, 402871));
    expect(event.traits).toEqual({
      service: 'compute', // publisher_id.`split(., 0, -1)`
      host: 'cpu-host-07.example.org', // publisher_id.`split(., 1, 1)`
      request_id: 'req-c1c1c1c1-0000-4000-8000-000000000001',
      tenant_id: 'tenant-c',
      user_id: 'user-c',
      instance_id: 'c1c1c1c1-0000-4000-8000-00000000000c',
      resource_id: 'c1c1c1c1-0000-4000-8000-00000000000c',
      display_name: 'web-01',
      cell_name: '',
      memory_mb: 4096n,
      disk_gb: 40n,
      root_gb: 40n,
      ephemeral_gb: 0n,
      vcpus: 2n,
      instance_type_id: '5',
      instance_type: 'm1.medium',
      state: 'active',
      os_architecture: 'x64',
      os_version: '22.04',
      os_distro: 'org.ubuntu',
      launched_at: DateTime.of(2024, 5, 14, 8, 30, 12, 387105),
      availability_zone: 'az-1',
    });
  });

  it('a versioned Nova instance.create.end matches no definition: only the default traits with catch-all, dropped without', () => {
    const versioned = sample('nova-versioned-create-end.json');
    expect(distiller.distill(versioned, NOW)).toBeNull();
    const event = Distiller.fromFile(DEFINITIONS, { catchAll: true }).distill(versioned, NOW)!;
    expect(event.traits).toEqual({ service: 'nova-compute:cpu-host-07', request_id: 'req-c2c2c2c2-0000-4000-8000-000000000002' });
  });

  it('the versioned payload is reachable by nova_object.data paths, for operators who add definitions', () => {
    const defs = [
      {
        event_type: 'instance.*',
        traits: {
          instance_id: { fields: "payload.'nova_object.data'.uuid" },
          tenant_id: { fields: "payload.'nova_object.data'.tenant_id" },
          memory_mb: { type: 'int', fields: "payload.'nova_object.data'.flavor.'nova_object.data'.memory_mb" },
          rxtx_factor: { fields: "payload.'nova_object.data'.flavor.'nova_object.data'.rxtx_factor" },
          ip: { fields: "payload.'nova_object.data'.ip_addresses[*].'nova_object.data'.address" },
          launched_at: { type: 'datetime', fields: "payload.'nova_object.data'.launched_at" },
          boot_seconds: { type: 'float', fields: ["payload.'nova_object.data'.created_at", "payload.'nova_object.data'.launched_at"], plugin: 'timedelta' },
        },
      },
    ];
    const event = Distiller.fromDefinitions(defs, 'inline', { catchAll: false }).distill(sample('nova-versioned-create-end.json'), NOW)!;
    expect(event.traits).toMatchObject({
      instance_id: 'c1c1c1c1-0000-4000-8000-00000000000c',
      tenant_id: 'tenant-c',
      memory_mb: 4096n,
      rxtx_factor: '1.0',
      ip: '10.0.0.12',
      launched_at: DateTime.of(2024, 5, 14, 8, 30, 12),
      boot_seconds: 32,
    });
  });

  it('a Cinder volume.create.end: the later definition wins and the glance_metadata filter finds image_id', () => {
    const event = distiller.distill(sample('cinder-volume-create-end.json'), NOW)!;
    expect(event.traits).toEqual({
      service: 'volume.storage-01@lvm',
      request_id: 'req-c4c4c4c4-0000-4000-8000-000000000004',
      tenant_id: 'tenant-c',
      user_id: 'user-c',
      project_id: 'tenant-c',
      availability_zone: 'az-1',
      display_name: 'data-01',
      status: 'available',
      created_at: DateTime.of(2024, 5, 14, 8, 59, 41),
      image_id: '0e0e0e0e-0000-4000-8000-000000000001',
      resource_id: 'c5c5c5c5-0000-4000-8000-000000000005',
      host: 'storage-01@lvm#lvm',
      size: 20n,
      type: 'lvm-standard',
    });
  });
});

function matches(path: string, body: unknown): TraitMatch[] {
  return compilePaths([parseJsonPath(path)]).all(body);
}

describe('jsonpath-rw-ext: `split(c, segment, max_split)`', () => {
  const body = { publisher_id: 'compute.host-1.example.com', n: 12, list: ['a.b'] };
  it.each([
    ['publisher_id.`split(., 0, -1)`', [['publisher_id', 'compute']]],
    ['publisher_id.`split(., 1, 1)`', [['publisher_id', 'host-1.example.com']]],
    ['publisher_id.`split(., 1, -1)`', [['publisher_id', 'host-1']]],
    ['publisher_id.`split(-, 1, -1)`', [['publisher_id', '1.example.com']]],
    ['publisher_id.`split(., 7, -1)`', []],
    ['publisher_id.`split(., 1, 0)`', []],
    ['n.`split(., 0, -1)`', []],
    ['list[*].`split(., 1, -1)`', [['list.[0]', 'b']]],
  ])('%s', (path, expected) => {
    expect(matches(path, body)).toEqual(expected);
  });

  it.each(['`split(.,1,1)`', '`split(., -1, 1)`', '`split(ab, 1, 1)`', '`len`', '`sub(/a/, b)`', '`this`'])('rejects %s', (path) => {
    expect(() => parseJsonPath(`a.${path}`)).toThrow(/named operator .* is not supported/);
  });
});

describe('jsonpath-rw-ext: [?…] filters', () => {
  const body = {
    meta: [
      { key: 'image_id', value: 'img-1', n: '20' },
      { key: 'min_ram', value: '0', n: 5, flag: null },
      { key: 'image_id', value: 'img-2', n: 'x' },
    ],
    obj: { key: 'image_id', value: 'no' },
    versions: [{ v: 1.5 }, { v: 2 }, { v: 'high' }],
  };
  it.each([
    ['meta[?key=image_id].value', [['meta.[0].value', 'img-1'], ['meta.[2].value', 'img-2']]],
    ['meta[?key==image_id].value', [['meta.[0].value', 'img-1'], ['meta.[2].value', 'img-2']]],
    ['meta[?key != image_id].value', [['meta.[1].value', '0']]],
    ['meta[?@.key = min_ram].value', [['meta.[1].value', '0']]],
    ['meta[?n > 10].value', [['meta.[0].value', 'img-1']]], // int("20") > 10; "x" is skipped
    ['meta[?n <= 5].key', [['meta.[1].key', 'min_ram']]],
    ['meta[?key=image_id & n=20].value', [['meta.[0].value', 'img-1']]],
    ['meta[?flag].key', [['meta.[1].key', 'min_ram']]], // present, even null
    ['meta[?key=nothing].value', []],
    ['obj[?key=image_id].value', []], // a filter applies to lists only
    ['versions[?v < 1.75].v', [['versions.[0].v', 1.5]]],
    ['versions[?v >= 1.75].v', [['versions.[1].v', 2]]], // "high" cannot be ordered against a number
    ['versions[?v > abc].v', [['versions.[2].v', 'high']]],
  ])('%s', (path, expected) => {
    expect(matches(path, body)).toEqual(expected);
  });

  it.each(['meta[?]', 'meta[?key=]', 'meta[?key=image_id', 'meta[?key = [1]]'])('rejects %j', (path) => {
    expect(() => parseJsonPath(path)).toThrow(/unexpected/);
  });
});

describe("Ceilometer's timedelta plugin", () => {
  const traits = (payload: Record<string, unknown>, type = 'float') =>
    Distiller.fromDefinitions([{ event_type: 'x.*', traits: { t: { type, fields: ['payload.created_at', 'payload.launched_at'], plugin: 'timedelta' } } }], 'inline', { catchAll: false }).distill(
      { event_type: 'x.y', message_id: 'm', timestamp: '2020-01-01', payload },
      NOW,
    )!.traits;

  it('is the absolute difference of two dates in seconds, µs exact', () => {
    expect(traits({ created_at: '2024-05-14T08:29:40Z', launched_at: '2024-05-14 08:30:12.387105' })['t']).toBe(32.387105);
    expect(traits({ created_at: '2024-05-14T08:30:12+02:00', launched_at: '2024-05-14T06:29:40Z' })['t']).toBe(32);
    expect(traits({ created_at: '2024-05-14T08:29:40Z', launched_at: '2024-05-14T08:30:12Z' }, 'int')['t']).toBe(32n);
  });

  it.each([
    [{ created_at: '2024-05-14T08:29:40Z' }],
    [{ created_at: '2024-05-14T08:29:40Z', launched_at: '' }],
    [{ created_at: '2024-05-14T08:29:40Z', launched_at: 1715675412 }],
    [{ created_at: 'soon', launched_at: '2024-05-14T08:29:40Z' }],
  ])('omits the trait unless there are exactly two dates: %j', (payload) => {
    expect(traits(payload)).not.toHaveProperty('t');
  });

  it('takes no parameters', () => {
    const defs = [{ event_type: 'x', traits: { t: { fields: 'a', plugin: { name: 'timedelta', parameters: { unit: 's' } } } } }];
    expect(() => Distiller.fromDefinitions(defs, 'inline', { catchAll: false })).toThrow(ConfigError);
    expect(() => Distiller.fromDefinitions(defs, 'inline', { catchAll: false })).toThrow(/parameters\.unit: unknown parameter \(this plugin takes none\)/);
  });
});
