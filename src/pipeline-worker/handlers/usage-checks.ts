/**
 * The UsageHandler's verification of one `.exists` against the block of events before it
 * (spec §4.7, `_do_checks`). Billing depends on which code a failure gets and on its exact
 * text, so the checks run in upstream's order and raise upstream's codes U1–U8 and messages.
 * U0 (events but no `.exists`) is decided by the handler, which owns the blocks.
 *
 * Two upstream crashes are fixed here (spec §10 item 11; each marked FIX below), so those
 * streams now get a verdict instead of going to `error`.
 */
import { eventValue, type Event } from '../../shared/event.js';
import { DateTime } from '../../shared/time.js';
import { pyCompare, pyEquals, pyStr, pyTruthy, type MaybeValue } from './python-values.js';

export type UsageCode = 'U0' | 'U1' | 'U2' | 'U3' | 'U4' | 'U5' | 'U6' | 'U7' | 'U8';

/** A failed check: becomes a `.exists.failed` event, not a pipeline error. */
export class UsageError extends Error {
  readonly code: UsageCode;

  constructor(code: UsageCode, message: string) {
    super(message);
    this.name = 'UsageError';
    this.code = code;
  }
}

/** Events after which the instance's launched_at, flavor, tenant and image may have changed. */
const OPERATION_END_TYPES: ReadonlySet<string> = new Set([
  'compute.instance.rebuild.end',
  'compute.instance.finish_resize.end',
  'compute.instance.rescue.end',
]);
const OPERATION_FIELDS = ['launched_at', 'instance_flavor_id', 'tenant_id', 'os_architecture', 'os_version', 'os_distro'];
const DELETE_END_TYPE = 'compute.instance.delete.end';
const DELETE_FIELDS = ['launched_at', 'deleted_at'];
const SECONDS_PER_DAY = 86_400;

/**
 * Runs every check on `exists` and the `block` of events before it. Throws UsageError on the
 * first failed check; appends non-fatal findings to `warnings`. Other errors (e.g. a
 * TypeError for a non-datetime audit period) are pipeline errors, as upstream.
 */
export function checkExists(block: readonly Event[], exists: Event, warnings: string[]): void {
  confirmLaunchedAt(block, exists);
  checkLastOperation(block, exists, warnings);
  confirmDelete(exists, block.filter((e) => e.eventType === DELETE_END_TYPE));
}

function confirmLaunchedAt(block: readonly Event[], exists: Event): void {
  if (eventValue(exists, 'state') !== 'active') return;
  const launchedAt = eventValue(exists, 'launched_at');
  if (!pyTruthy(launchedAt)) throw new UsageError('U1', '.exists has no launched_at value.');
  if (block.length === 0 && inAuditPeriod(exists, launchedAt)) {
    throw new UsageError('U8', '.exists launched_at in audit period, but no related events found.');
  }
}

function checkLastOperation(block: readonly Event[], exists: Event, warnings: string[]): void {
  const lastOperation = block.findLast((e) => OPERATION_END_TYPES.has(e.eventType));
  if (lastOperation) {
    verifyFields(lastOperation, exists, OPERATION_FIELDS);
  } else if (isNonEodExists(exists)) {
    warnings.push(`Non-EOD .exists found (msg_id: ${exists.messageId}) with no operation event.`);
  }
}

function confirmDelete(exists: Event, deletes: readonly Event[]): void {
  const deletedAt = eventValue(exists, 'deleted_at');
  if (!pyTruthy(deletedAt)) {
    if (deletes.length > 0) throw new UsageError('U6', '.deleted events found but .exists has no deleted_at value.');
  } else {
    if (eventValue(exists, 'state') !== 'deleted') {
      throw new UsageError('U3', ".exists state not 'deleted' but .exists deleted_at is set.");
    }
    if (deletes.length === 0) {
      // FIX (spec §10.11, TypeError when launched_at is absent): upstream compared
      // deleted_at < None and the stream went to `error`. Without a launched_at there is
      // nothing to order deleted_at against, so U4 is skipped and U5 still applies.
      const launchedAt = eventValue(exists, 'launched_at');
      if (launchedAt !== undefined && launchedAt !== null && pyCompare(deletedAt, launchedAt) < 0) {
        throw new UsageError('U4', '.exists deleted_at < .exists launched_at.');
      }
      if (inAuditPeriod(exists, deletedAt)) {
        throw new UsageError('U5', '.exists deleted_at in audit period, but no matching .delete event found.');
      }
    }
  }
  if (deletes.length > 1) throw new UsageError('U7', 'Multiple .delete.end events');
  const [onlyDelete] = deletes;
  if (onlyDelete) verifyFields(exists, onlyDelete, DELETE_FIELDS);
}

/**
 * U2 unless each field is equal on both sides; a field absent from both is skipped.
 *
 * FIX (spec §10.11, KeyError in `_verify_fields`): upstream raised KeyError, a pipeline
 * error, when a field was present on one side only. An absent field now counts as None, so
 * it conflicts with any value, e.g. "Conflicting 'launched_at' values ('2015-…' != 'None')".
 */
function verifyFields(a: Event, b: Event, fields: readonly string[]): void {
  for (const field of fields) {
    const valueA = eventValue(a, field);
    const valueB = eventValue(b, field);
    if (!pyEquals(valueA, valueB)) {
      throw new UsageError('U2', `Conflicting '${field}' values ('${pyStr(valueA)}' != '${pyStr(valueB)}')`);
    }
  }
}

/** apb ≤ value ≤ ape, when the `.exists` has both audit period bounds. */
function inAuditPeriod(exists: Event, value: MaybeValue): boolean {
  const beginning = eventValue(exists, 'audit_period_beginning');
  const ending = eventValue(exists, 'audit_period_ending');
  if (!pyTruthy(beginning) || !pyTruthy(ending)) return false;
  return pyCompare(beginning, value) <= 0 && pyCompare(value, ending) <= 0;
}

/**
 * An audit period not ending on the calendar day after it began. Only the dates count:
 * 02-27 13:00 → 02-28 09:00 is end-of-day, 02-27 00:00 → 02-27 13:00 is not.
 */
function isNonEodExists(exists: Event): boolean {
  const beginning = eventValue(exists, 'audit_period_beginning');
  const ending = eventValue(exists, 'audit_period_ending');
  if (!pyTruthy(beginning) || !pyTruthy(ending)) return false;
  const dayAfterBeginning = asDateTime(beginning, 'audit_period_beginning').startOfDay().plusSeconds(SECONDS_PER_DAY);
  return !asDateTime(ending, 'audit_period_ending').startOfDay().equals(dayAfterBeginning);
}

function asDateTime(value: MaybeValue, name: string): DateTime {
  if (value instanceof DateTime) return value;
  throw new TypeError(`${name} is not a datetime: ${pyStr(value)}`);
}
