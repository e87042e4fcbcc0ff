/**
 * yagi.conf and winchester.yaml: upstream's files load unchanged; bad files fail with the file,
 * the key path and the reason (invariant 7); unknown keys give warnings naming them.
 */
import { mkdtempSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join, resolve } from 'node:path';
import { describe, expect, it } from 'vitest';
import { parseDatabaseUrl } from '../../src/shared/config/database-url.js';
import { parseIni } from '../../src/shared/config/ini.js';
import { loadWinchesterConfig, resolveConfigFile } from '../../src/shared/config/winchester-conf.js';
import { loadYagiConfig } from '../../src/shared/config/yagi-conf.js';
import { configError, SANDBOX, UPSTREAM } from '../helpers/configs.js';

function tempFiles(files: Record<string, string>): string {
  const dir = mkdtempSync(join(tmpdir(), 'stv3-config-'));
  for (const [name, text] of Object.entries(files)) writeFileSync(join(dir, name), text);
  return dir;
}

const GOOD_YAGI = `[rabbit_broker]
host = rabbit.example
port = 5673
user = stv3
password = s3cret/!
vhost = /cells

[consumers]
queues = monitor.info3, monitor.error3

[consumer:monitor.info3]
apps = winchester.yagi_handler.WinchesterHandler
exchange = nova
exchange_type = topic
routing_key = monitor.info
durable = True
max_messages = 100

[consumer:monitor.error3]
apps = winchester.yagi_handler.WinchesterHandler, yagi.handler.shoebox_handler.ShoeboxHandler
exchange = nova
exchange_type = topic
routing_key = monitor.error
durable = False
exchange_durable = Default
max_messages = 50

[shoebox]
working_directory = archive

[winchester]
config_file = winchester.yaml
`;
const GOOD_WINCHESTER = `config_path: .
database:
  url: mysql+mysqldb://winchester:testpasswd@db.example:3307/winchester?charset=utf8
distiller_config: event_definitions.yaml
`;

describe('INI reader (Python ConfigParser dialect)', () => {
  it('keeps dotted section names whole, folds option names, joins continuation lines, skips comments', () => {
    const ini = parseIni('[consumer:monitor.info]\nApps = a,\n  b\n# comment\n; other\nkey: value\n', 'x.conf');
    const section = ini.sections.get('consumer:monitor.info')!;
    expect(section.get('apps')!.value).toBe('a,\nb');
    expect(section.get('key')).toEqual({ value: 'value', line: 6 });
  });

  it('rejects an option before any section, naming the line', () => {
    expect(configError(() => parseIni('key = 1\n', 'x.conf')).message).toBe('x.conf: line 1: option before the first [section] header');
  });

  it('rejects an option set twice in one section (Python 3 ConfigParser is strict so), naming both lines', () => {
    expect(configError(() => parseIni('[global]\ncell = a\n\nCell = b\n', 'x.conf')).message).toBe('x.conf: line 4: option "cell" is set twice in this section (also line 2)');
  });
});

describe('yagi.conf', () => {
  it('stops on a misspelt section it would otherwise ignore ([rabbit_brokr] would mean localhost as guest)', () => {
    const dir = tempFiles({ 'yagi-c.conf': GOOD_YAGI.replace('[rabbit_broker]', '[rabbit_brokr]'), 'winchester.yaml': GOOD_WINCHESTER });
    expect(configError(() => loadYagiConfig([join(dir, 'yagi-c.conf')], { env: {} })).message).toMatch(/yagi-c\.conf: \[rabbit_brokr\]: unknown section; did you mean \[rabbit_broker\]\?/);
  });

  it("loads upstream's sandbox files unmodified (yagi.conf.winchester + yagi.conf.common), with its winchester.yaml", () => {
    const cfg = loadYagiConfig([join(SANDBOX, 'yagi.conf.winchester'), join(SANDBOX, 'yagi.conf.common')], { env: {} });
    expect(cfg.consumers).toEqual([
      expect.objectContaining({ queue: 'monitor.info', exchange: 'monitor', exchangeType: 'topic', routingKey: 'monitor.info', durable: true, exchangeDurable: true, maxMessages: 100 }),
    ]);
    expect(cfg.broker.url).toBe('amqp://guest:guest@localhost:5672/%2F');
    expect(cfg.winchesterConfigFile).toBe(join(SANDBOX, 'winchester.yaml'));
    // ShoeboxHandler: the raw archive, from the sandbox's [shoebox] (paths relative to the cwd, as upstream)
    expect(cfg.archive).toEqual({ workingDirectory: resolve('data/events'), destinationFolder: resolve('data/output'), rollSizeBytes: 20 * 1024 * 1024, rollMinutes: 60, queues: new Set(['monitor.info']) });
    expect(cfg.warnings.some((w) => w.includes('[shoebox] roll_manager = shoebox.roll_manager:WritingJSONRollManager is not used'))).toBe(true);
  });

  it('ShoeboxHandler needs [shoebox] working_directory; wrap_payload_with_region is refused', () => {
    const noDir = tempFiles({ 'yagi-c.conf': GOOD_YAGI.replace('working_directory = archive', 'roll_minutes = 5'), 'winchester.yaml': GOOD_WINCHESTER });
    expect(configError(() => loadYagiConfig([join(noDir, 'yagi-c.conf')], { env: {} })).message).toMatch(/\[shoebox\] working_directory: required by yagi\.handler\.shoebox_handler\.ShoeboxHandler/);
    const wrap = tempFiles({ 'yagi-c.conf': GOOD_YAGI.replace('working_directory = archive', 'working_directory = a\nwrap_payload_with_region = True'), 'winchester.yaml': GOOD_WINCHESTER });
    expect(configError(() => loadYagiConfig([join(wrap, 'yagi-c.conf')], { env: {} })).message).toMatch(/yagi-c\.conf:\d+: \[shoebox\] wrap_payload_with_region: True is not supported/);
    const size = tempFiles({ 'yagi-c.conf': GOOD_YAGI.replace('working_directory = archive', 'working_directory = a\nroll_size_mb = lots'), 'winchester.yaml': GOOD_WINCHESTER });
    expect(configError(() => loadYagiConfig([join(size, 'yagi-c.conf')], { env: {} })).message).toMatch(/\[shoebox\] roll_size_mb: expected a non-negative number, got "lots"/);
  });

  it('reads every consumer, the broker URL with escaped credentials, and the cell from the file name', () => {
    const dir = tempFiles({ 'yagi-cell7.conf': GOOD_YAGI, 'winchester.yaml': GOOD_WINCHESTER });
    const cfg = loadYagiConfig([join(dir, 'yagi-cell7.conf')], { env: {}, cwd: '/' });
    expect(cfg.cell).toBe('cell7');
    expect(cfg.broker.url).toBe('amqp://stv3:s3cret%2F!@rabbit.example:5673/%2Fcells');
    expect(cfg.broker.displayUrl).not.toContain('s3cret');
    expect(cfg.consumers.map((c) => [c.queue, c.routingKey, c.durable, c.exchangeDurable, c.maxMessages, c.prefetch])).toEqual([
      ['monitor.info3', 'monitor.info', true, true, 100, 1000],
      ['monitor.error3', 'monitor.error', false, false, 50, 500],
    ]);
    expect(cfg.winchesterConfigFile).toBe(join(dir, 'winchester.yaml'));
    // max_wait unset: reconnects back off to at most 30 s (upstream 600).
    expect(GOOD_YAGI).not.toMatch(/max_wait/);
    expect(cfg.broker.maxReconnectDelayMs).toBe(30_000);
  });

  it('lets STV3_AMQP_URL override the broker and --cell override the name', () => {
    const dir = tempFiles({ 'yagi.conf': GOOD_YAGI, 'winchester.yaml': GOOD_WINCHESTER });
    const cfg = loadYagiConfig([join(dir, 'yagi.conf')], { env: { STV3_AMQP_URL: 'amqp://u:p@other:5672/v' }, cell: 'east' });
    expect(cfg.broker.url).toBe('amqp://u:p@other:5672/v');
    expect(cfg.cell).toBe('east');
  });

  it('warns about unknown keys and sections, naming them', () => {
    const dir = tempFiles({ 'yagi.conf': GOOD_YAGI.replace('durable = True', 'durable = True\nmax_mesages = 5') + '\n[bogus]\nx = 1\n', 'winchester.yaml': GOOD_WINCHESTER });
    const cfg = loadYagiConfig([join(dir, 'yagi.conf')], { env: {} });
    expect(cfg.warnings).toEqual(expect.arrayContaining([expect.stringContaining('[consumer:monitor.info3] unknown keys ignored: max_mesages'), expect.stringContaining('unknown section [bogus]')]));
  });

  const broken: [string, (text: string) => string, RegExp][] = [
    ['a wrong type', (t) => t.replace('max_messages = 100', 'max_messages = lots'), /yagi\.conf:\d+: \[consumer:monitor\.info3\] max_messages: expected an integer, got "lots"/],
    ['a missing required key', (t) => t.replace('max_messages = 50\n', ''), /yagi\.conf: \[consumer:monitor\.error3\] max_messages: required key missing/],
    ['a queue without its section', (t) => t.replace('queues = monitor.info3, monitor.error3', 'queues = monitor.info3, other'), /\[consumer:other\]: section missing for queue "other"/],
    ['no queues', (t) => t.replace('queues = monitor.info3, monitor.error3', 'queues ='), /\[consumers\] queues: required key missing/],
    ['a bad boolean', (t) => t.replace('durable = True', 'durable = maybe'), /\[consumer:monitor\.info3\] durable: expected True or False, got "maybe"/],
    ['a bad exchange type', (t) => t.replace('exchange_type = topic', 'exchange_type = fanfare'), /exchange_type: expected one of topic, direct, fanout, headers/],
    ['no WinchesterHandler', (t) => t.replace('apps = winchester.yagi_handler.WinchesterHandler\n', 'apps = yagi.handler.shoebox_handler.ShoeboxHandler\n'), /\[consumer:monitor\.info3\] apps: must include winchester\.yagi_handler\.WinchesterHandler/],
    ['a missing winchester.yaml', (t) => t.replace('config_file = winchester.yaml', 'config_file = nope.yaml'), /\[winchester\] config_file: nope\.yaml not found/],
    ['a port out of range', (t) => t.replace('port = 5673', 'port = 99999'), /\[rabbit_broker\] port: 99999 is out of range/],
  ];
  it.each(broken)('fails on %s with file, key and reason', (_name, edit, expected) => {
    const dir = tempFiles({ 'yagi.conf': edit(GOOD_YAGI), 'winchester.yaml': GOOD_WINCHESTER });
    const err = configError(() => loadYagiConfig([join(dir, 'yagi.conf')], { env: {}, cwd: '/' }));
    expect(err.message).toMatch(expected);
    expect(err.message).toContain(join(dir, 'yagi.conf'));
  });

  it('fails on a missing file', () => {
    expect(configError(() => loadYagiConfig(['/nonexistent/yagi.conf'])).message).toBe('/nonexistent/yagi.conf: file not found');
  });
});

describe('winchester.yaml', () => {
  it("loads upstream's sandbox and winchester-etc files unmodified, finding the files they name", () => {
    for (const dir of [SANDBOX, join(UPSTREAM, 'winchester-etc')]) {
      const cfg = loadWinchesterConfig(join(dir, 'winchester.yaml'), { env: {}, cwd: '/' });
      expect(cfg.database.display).toBe('winchester@localhost:3306/winchester');
      expect(resolveConfigFile(cfg, 'distiller_config')).toBe(join(dir, 'event_definitions.yaml'));
      expect(resolveConfigFile(cfg, 'trigger_definitions')).toBe(join(dir, 'triggers.yaml'));
      expect(cfg.raw.statistics_period).toBe(10);
    }
    const sandbox = loadWinchesterConfig(join(SANDBOX, 'winchester.yaml'), { env: {} });
    expect(sandbox.raw.purge_completed_streams).toBe(false);
    expect(sandbox.raw.pipeline_handlers['usage']).toBe('winchester.pipeline_handler:UsageHandler');
    expect(sandbox.warnings).toEqual([expect.stringContaining('logging_config (logging.conf) is a Python logging file')]);
  });

  it('parses SQLAlchemy URLs and lets STV3_DATABASE_URL override them', () => {
    const dir = tempFiles({ 'winchester.yaml': GOOD_WINCHESTER });
    const cfg = loadWinchesterConfig(join(dir, 'winchester.yaml'), { env: {} });
    expect(cfg.database.options).toMatchObject({ host: 'db.example', port: 3307, user: 'winchester', password: 'testpasswd', database: 'winchester', charset: 'UTF8MB4_GENERAL_CI' });
    const over = loadWinchesterConfig(join(dir, 'winchester.yaml'), { env: { STV3_DATABASE_URL: 'mysql://root@127.0.0.1/other' } });
    expect(over.database.display).toBe('root@127.0.0.1:3306/other');
    expect(parseDatabaseUrl('mysql://u:p@h/db?unix_socket=/run/mysqld.sock').options.socketPath).toBe('/run/mysqld.sock');
  });

  const broken: [string, string, RegExp][] = [
    ['no database', 'config_path: .\n', /winchester\.yaml: database: /],
    ['no database url', 'database:\n  echo_sql: true\n', /winchester\.yaml: database\.url: /],
    ['a wrong type', 'database:\n  url: mysql://u@h/d\nstatistics_period: ten\n', /winchester\.yaml: statistics_period: .*number/],
    ['a bad database URL', 'database:\n  url: postgres://u@h/d\n', /winchester\.yaml: database\.url: expected mysql:\/\//],
    ['a URL without database', 'database:\n  url: mysql://u:secret@h\n', /winchester\.yaml: database\.url: no database name in "mysql:\/\/u:\*\*\*@h"/],
    ['a list at the top', '- a\n- b\n', /winchester\.yaml: expected a mapping/],
    ['bad YAML', 'database: [\n', /winchester\.yaml: line \d+, column \d+: YAML syntax/],
    // The position is said once, in front; the message ends with the yaml library's reason, not a dangling colon.
    ['a flow map left open', 'database:\n  url: {a: b\n', /winchester\.yaml: line \d+, column \d+: YAML syntax: [^\n]*[^:\n]$/],
    ['Python trait plugins', 'database:\n  url: mysql://u@h/d\ndistiller_trait_plugins:\n  x: a.b:C\n', /distiller_trait_plugins: Python trait plugins cannot be loaded/],
  ];
  it.each(broken)('fails on %s with file, key and reason', (_name, text, expected) => {
    const dir = tempFiles({ 'winchester.yaml': text });
    expect(configError(() => loadWinchesterConfig(join(dir, 'winchester.yaml'), { env: {} })).message).toMatch(expected);
  });

  it('warns about unknown keys and fails when a named file is not on config_path', () => {
    const dir = tempFiles({ 'winchester.yaml': `${GOOD_WINCHESTER}pipeline_workr_delay: 3\n` });
    const cfg = loadWinchesterConfig(join(dir, 'winchester.yaml'), { env: {} });
    expect(cfg.warnings).toEqual([expect.stringContaining('unknown keys ignored: pipeline_workr_delay')]);
    expect(configError(() => resolveConfigFile(cfg, 'distiller_config')).message).toMatch(/distiller_config: event_definitions\.yaml not found in config_path/);
    expect(configError(() => resolveConfigFile(cfg, 'pipeline_config')).message).toMatch(/pipeline_config: required key missing/);
  });
});
