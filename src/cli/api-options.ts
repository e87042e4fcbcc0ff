/**
 * What every API verb of `stv3` shares: where the API is (`--url`, else STV3_API_URL, else
 * http://127.0.0.1:8000), the token for changes (`--token`, else STV3_API_TOKEN), `--json`, and
 * turning the API's errors into exit codes (400 → 2 usage, 404 → 3 not found, others → 1).
 */
import type { Command } from 'commander';
import { ApiClient, ApiClientError } from './client.js';
import { CliError, ExitCode } from './errors.js';

export interface ApiOptions {
  url?: string;
  token?: string;
  json?: boolean;
}

export const DEFAULT_API_URL = 'http://127.0.0.1:8000';

/** Adds --url, --token and --json to `cmd`. */
export function withApiOptions(cmd: Command): Command {
  return cmd
    .option('--url <url>', `API base URL (default: $STV3_API_URL, else ${DEFAULT_API_URL})`)
    .option('--token <token>', 'API token for changes (default: $STV3_API_TOKEN)')
    .option('--json', 'print JSON for scripts instead of tables');
}

export function clientFor(opts: ApiOptions): ApiClient {
  const url = opts.url ?? process.env['STV3_API_URL'] ?? DEFAULT_API_URL;
  if (!/^https?:\/\/[^/]+/.test(url)) throw new CliError(`--url: expected http://host:port, got ${JSON.stringify(url)}`, ExitCode.usage);
  return new ApiClient(url, { token: opts.token ?? process.env['STV3_API_TOKEN'] });
}

/** Runs an API call, turning its failure into a CliError with the right exit code. */
export async function call<T>(what: Promise<T>): Promise<T> {
  try {
    return await what;
  } catch (err) {
    throw cliErrorOf(err);
  }
}

export function cliErrorOf(err: unknown): Error {
  if (!(err instanceof ApiClientError)) return err as Error;
  if (err.notTheApi) return new CliError(err.message);
  if (err.status === 400) return new CliError(inFlagTerms(err.message), ExitCode.usage);
  if (err.status === 404) return new CliError(err.message, ExitCode.notFound);
  if (err.status === 401) return new CliError(`${err.message} (give --token or set STV3_API_TOKEN)`);
  return new CliError(err.message);
}

/** The API's query parameters and the stv3 flags that set them (client.ts). */
const FLAG_OF_PARAMETER: Readonly<Record<string, string>> = {
  younger_than: '--from',
  older_than: '--to',
  from_datetime: '--from',
  to_datetime: '--to',
  trigger_name: '--name',
  event_name: '--name',
  'q.field': '--traits',
  'q.op': '--traits',
  'q.type': '--traits',
  'q.value': '--traits',
};
const PARAMETER_NAMES = new RegExp(`(?<![\\w.])(${Object.keys(FLAG_OF_PARAMETER).map((k) => k.replace('.', '\\.')).join('|')})(?![\\w.])`, 'g');

/** An API 400 message in the terms of the command line: `younger_than: …` becomes `--from: …`. */
export function inFlagTerms(message: string): string {
  return message.replace(PARAMETER_NAMES, (name) => FLAG_OF_PARAMETER[name]!);
}
