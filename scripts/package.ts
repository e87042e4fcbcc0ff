/**
 * `npm run package [-- --out DIR] [-- --deploy --inventory FILE [--run] [--check]]`: builds the
 * self-contained release tarball `dist/stv3-<version>.tar.gz` (the seed's `build.sh -p`, spec §9)
 * and, with `--deploy`, prints (with `--run`, runs) the ansible-playbook commands that deploy it
 * (`build.sh -p -d`).
 *
 * The tarball holds one directory `stv3-<version>/` with everything a host with only Node.js
 * (≥ 20.19) needs: the compiled `dist/`, production `node_modules` only (pm2 among them, so
 * `node_modules/.bin/pm2` is there), `package.json`, `ecosystem.config.js`, `migrations/`, the
 * default configs (`etc/`, and `fixtures/stacktach-upstream/`, whose sandbox files the defaults
 * and the Ansible templates use, with notigen's templates), `deploy/ansible/` (so the playbooks
 * can run from the unpacked tarball too), and a `VERSION` file (`version=`, `commit=`,
 * `commit_date=`).
 *
 * Reproducible: the same commit gives the same bytes. Every entry's mtime is the commit time
 * (never the wall clock), entries are sorted by name, owner and group are 0 (numeric), modes are
 * normalised, atime/ctime are left out of the pax headers and gzip stores no name or time (GNU tar
 * and gzip -n). `<version>` is package.json's version and the short commit (`0.1.0-g1a2b3c4`), with
 * `-dirty` when the work tree has uncommitted changes.
 *
 * Speed: the compiled output and the production node_modules are cached under
 * node_modules/.cache/stv3-package/, keyed by a hash of what makes them (src/ and the tsconfigs;
 * package-lock.json), so a second run only copies and archives.
 */
import { execFileSync, spawnSync } from 'node:child_process';
import { createHash } from 'node:crypto';
import { cpSync, existsSync, mkdirSync, readdirSync, readFileSync, renameSync, rmSync, statSync, writeFileSync } from 'node:fs';
import { dirname, join, relative, resolve } from 'node:path';
import { fileURLToPath } from 'node:url';
import { parseArgs } from 'node:util';

const ROOT = resolve(dirname(fileURLToPath(import.meta.url)), '..');
const CACHE = join(ROOT, 'node_modules/.cache/stv3-package');
/** Shipped as they are (relative to the repository root). */
const COPIED = ['package.json', 'package-lock.json', 'ecosystem.config.js', 'README.md', 'migrations', 'etc', 'fixtures/stacktach-upstream', 'deploy'];
/** The playbooks `--deploy` prints, in the order they run (the seed's three, spec §9). */
const PLAYBOOKS = ['db.yml', 'workers.yml', 'api.yml'];

export interface PackageResult {
  readonly version: string;
  readonly tarball: string;
  readonly commit: string;
  readonly commitDate: string;
}

function git(...args: string[]): string {
  return execFileSync('git', args, { cwd: ROOT, encoding: 'utf8' }).trim();
}

function run(cmd: string, args: string[], cwd: string): void {
  const r = spawnSync(cmd, args, { cwd, stdio: ['ignore', 'inherit', 'inherit'] });
  if (r.status !== 0) throw new Error(`${cmd} ${args.join(' ')} (in ${cwd}) failed with ${r.error ? r.error.message : `exit ${r.status}`}`);
}

/** sha256 over the names and contents of the given files and directories (recursively, sorted). */
function hashOf(paths: readonly string[]): string {
  const h = createHash('sha256');
  const walk = (p: string): void => {
    if (statSync(p).isDirectory()) {
      for (const name of readdirSync(p).sort()) walk(join(p, name));
    } else {
      h.update(relative(ROOT, p)).update('\0').update(readFileSync(p)).update('\0');
    }
  };
  for (const p of paths) walk(join(ROOT, p));
  return h.digest('hex').slice(0, 16);
}

/** Makes `dir` by `make(tmp)` once: later calls reuse it (atomic rename, so a cut-short run leaves no half cache). */
function cached(dir: string, make: (tmp: string) => void): string {
  if (existsSync(dir)) return dir;
  const tmp = `${dir}.tmp-${process.pid}`;
  rmSync(tmp, { recursive: true, force: true });
  mkdirSync(tmp, { recursive: true });
  make(tmp);
  try {
    renameSync(tmp, dir);
  } catch (err) {
    // Another run (a test file in parallel) made the same cache first: use it.
    if (!existsSync(dir)) throw err;
    rmSync(tmp, { recursive: true, force: true });
  }
  return dir;
}

/** Compiled src/ (no source maps: the sources are not shipped). */
function compiled(): string {
  return cached(join(CACHE, `dist-${hashOf(['src', 'tsconfig.json', 'tsconfig.build.json', 'package-lock.json'])}`), (tmp) => {
    process.stdout.write('package: compiling src/\n');
    run(process.execPath, [join(ROOT, 'node_modules/typescript/bin/tsc'), '-p', 'tsconfig.build.json', '--outDir', tmp, '--sourceMap', 'false'], ROOT);
  });
}

/** `npm ci --omit=dev` of this package-lock.json, without install scripts (no dependency needs one). */
function productionModules(): string {
  return cached(join(CACHE, `modules-${hashOf(['package.json', 'package-lock.json'])}`), (tmp) => {
    process.stdout.write('package: installing production dependencies\n');
    cpSync(join(ROOT, 'package.json'), join(tmp, 'package.json'));
    cpSync(join(ROOT, 'package-lock.json'), join(tmp, 'package-lock.json'));
    run('npm', ['ci', '--omit=dev', '--ignore-scripts', '--prefer-offline', '--no-audit', '--no-fund', '--loglevel=error'], tmp);
  });
}

/**
 * Builds the tarball into `outDir` (default dist/); returns its path and version.
 * Errors: git, tsc, npm or tar failing (the message names the command).
 */
export function buildPackage(outDir = join(ROOT, 'dist')): PackageResult {
  const pkg = JSON.parse(readFileSync(join(ROOT, 'package.json'), 'utf8')) as { version: string };
  const commit = git('rev-parse', 'HEAD');
  const commitTime = Number(git('log', '-1', '--format=%ct', 'HEAD'));
  const commitDate = git('log', '-1', '--format=%cI', 'HEAD');
  const dirty = git('status', '--porcelain', '--untracked-files=no') !== '';
  const version = `${pkg.version}-g${commit.slice(0, 7)}${dirty ? '-dirty' : ''}`;
  const name = `stv3-${version}`;

  const dist = compiled();
  const modules = productionModules();
  const stage = join(CACHE, `stage-${process.pid}`);
  rmSync(stage, { recursive: true, force: true });
  const top = join(stage, name);
  mkdirSync(top, { recursive: true });
  cpSync(dist, join(top, 'dist'), { recursive: true });
  cpSync(join(modules, 'node_modules'), join(top, 'node_modules'), { recursive: true, verbatimSymlinks: true });
  for (const p of COPIED) cpSync(join(ROOT, p), join(top, p), { recursive: true });
  writeFileSync(join(top, 'VERSION'), `version=${version}\ncommit=${commit}${dirty ? ' (with uncommitted changes)' : ''}\ncommit_date=${commitDate}\n`);

  mkdirSync(outDir, { recursive: true });
  const tarball = join(outDir, `${name}.tar.gz`);
  const tar = [
    'tar', '--sort=name', `--mtime=@${commitTime}`, '--owner=0', '--group=0', '--numeric-owner',
    '--mode=u+rwX,go+rX,go-w', '--pax-option=exthdr.name=%d/PaxHeaders/%f,delete=atime,delete=ctime',
    '--format=posix', '-cf', '-', '-C', stage, name,
  ].map((a) => `'${a}'`).join(' ');
  run('bash', ['-o', 'pipefail', '-c', `${tar} | gzip -n -9 > '${tarball}.tmp' && mv '${tarball}.tmp' '${tarball}'`], ROOT);
  rmSync(stage, { recursive: true, force: true });
  return { version, tarball, commit, commitDate };
}

/** The ansible-playbook command lines that deploy `tarball` to the inventory's hosts. */
export function deployCommands(tarball: string, inventory: string, check = false): string[][] {
  return PLAYBOOKS.map((playbook) => [
    'ansible-playbook', '-i', resolve(inventory), join(ROOT, 'deploy/ansible', playbook), '-e', `stv3_tarball=${resolve(tarball)}`, ...(check ? ['--check', '--diff'] : []),
  ]);
}

const shellQuote = (a: string): string => (/^[\w@%+=:,./-]+$/.test(a) ? a : `'${a.replace(/'/g, `'\\''`)}'`);

function main(): void {
  const { values } = parseArgs({
    options: {
      out: { type: 'string' },
      deploy: { type: 'boolean', default: false },
      inventory: { type: 'string' },
      run: { type: 'boolean', default: false },
      check: { type: 'boolean', default: false },
    },
  });
  if (values.deploy && !values.inventory) throw new Error('--deploy needs --inventory FILE');
  if (values.inventory && !existsSync(values.inventory)) throw new Error(`--inventory: ${values.inventory} not found`);
  const result = buildPackage(values.out ? resolve(values.out) : undefined);
  process.stdout.write(`package: ${result.tarball} (${(statSync(result.tarball).size / 1048576).toFixed(1)} MiB, commit ${result.commit} of ${result.commitDate})\n`);
  if (!values.deploy) return;
  for (const cmd of deployCommands(result.tarball, values.inventory!, values.check)) {
    process.stdout.write(`${cmd.map(shellQuote).join(' ')}\n`);
    if (values.run) run(cmd[0]!, cmd.slice(1), ROOT);
  }
}

if (process.argv[1] && resolve(process.argv[1]) === fileURLToPath(import.meta.url)) {
  try {
    main();
  } catch (err) {
    process.stderr.write(`package: ${err instanceof Error ? err.message : String(err)}\n`);
    process.exitCode = 1;
  }
}
