/**
 * The few error classes the workers switch on. Everything unknown goes through toError()
 * before anyone reads `.message`.
 */

/**
 * Bad configuration (invariant 7): names the file, the key path inside it and the reason.
 * Processes print it and exit 1 before opening any connection.
 */
export class ConfigError extends Error {
  readonly file: string;
  readonly keyPath: string;
  readonly reason: string;

  constructor(file: string, keyPath: string, reason: string) {
    super(`${file}: ${keyPath ? `${keyPath}: ` : ''}${reason}`);
    this.name = 'ConfigError';
    this.file = file;
    this.keyPath = keyPath;
    this.reason = reason;
  }
}

/**
 * Several problems of one configuration file, reported together: the message has one line per
 * problem, each with its key path and reason, so that an operator fixes them in one pass.
 */
export class ConfigErrors extends ConfigError {
  readonly errors: readonly ConfigError[];

  constructor(errors: readonly ConfigError[]) {
    super(errors[0]!.file, errors[0]!.keyPath, errors[0]!.reason);
    this.name = 'ConfigError';
    this.errors = errors;
    this.message = `${errors.length} problems:\n${errors.map((e) => `  ${e.message}`).join('\n')}`;
  }
}

/**
 * `items` mapped by `fn`, every item tried: the ConfigErrors of all items are thrown together
 * (one ConfigError as it is, several as ConfigErrors). Any other error is thrown at once.
 */
export function mapEachConfigured<T, R>(items: readonly T[], fn: (item: T, index: number) => R): R[] {
  const errors: ConfigError[] = [];
  const results: R[] = [];
  items.forEach((item, index) => {
    try {
      results.push(fn(item, index));
    } catch (err) {
      if (!(err instanceof ConfigError)) throw err;
      errors.push(...(err instanceof ConfigErrors ? err.errors : [err]));
    }
  });
  if (errors.length === 1) throw errors[0]!;
  if (errors.length > 1) throw new ConfigErrors(errors);
  return results;
}

/**
 * A message that can never be stored (invariant 6): bad JSON, unknown envelope, missing
 * event_type/message_id, a trait conversion that fails, too large. It goes to quarantine.
 */
export class PoisonMessageError extends Error {
  constructor(message: string, options?: { cause?: unknown }) {
    super(message, options);
    this.name = 'PoisonMessageError';
  }
}

export function toError(value: unknown): Error {
  if (value instanceof Error) return value;
  return new Error(typeof value === 'string' ? value : JSON.stringify(value));
}

/** Joins a key path as `a.b[2].c` for messages. */
export function formatKeyPath(path: readonly (string | number)[]): string {
  let out = '';
  for (const part of path) {
    if (typeof part === 'number') out += `[${part}]`;
    else out += out ? `.${part}` : part;
  }
  return out;
}
