/**
 * Exit codes of `stv3` that scripts can trust: 0 done, 1 error, 2 usage, 3 not found.
 * A command throws CliError to end with a message and a code; anything else is an error (1).
 */
export const ExitCode = { ok: 0, error: 1, usage: 2, notFound: 3 } as const;
export type ExitCodeValue = (typeof ExitCode)[keyof typeof ExitCode];

export class CliError extends Error {
  constructor(
    message: string,
    readonly exitCode: ExitCodeValue = ExitCode.error,
  ) {
    super(message);
    this.name = 'CliError';
  }
}
