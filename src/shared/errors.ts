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
