/** Argument parsing shared by the verbs: values that are wrong are usage errors (exit 2). */
import { CliError, ExitCode } from './errors.js';

/** A positive integer id. */
export function parseId(text: string, what: string): number {
  if (!/^\d+$/.test(text) || Number(text) <= 0 || !Number.isSafeInteger(Number(text))) throw new CliError(`${what} must be a positive integer, got "${text}"`, ExitCode.usage);
  return Number(text);
}
