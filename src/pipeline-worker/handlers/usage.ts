/**
 * UsageHandler (spec §4.7): Nova usage audit over one instance-day stream. The events are
 * split into blocks, each ending at a `compute.instance.exists`; each `.exists` is checked
 * against its block (usage-checks.ts) and answered with a `.exists.verified` or
 * `.exists.failed` event (a copy of the `.exists` traits), preceded by a `.exists.warnings`
 * event when the checks found something odd. Events after the last `.exists` get a U0
 * failure. The generated events are appended to the returned list (so the worker saves
 * them) and, since notabene publishes what it finds there, to env['usage_notifications'].
 *
 * Upstream bugs fixed (spec §10 item 11), each marked FIX below or in usage-checks.ts /
 * usage-ids.ts: warnings accumulating across blocks, `error: "None"` on verified events,
 * nothing in env['usage_notifications'], random ids for U0 and id-less `.exists` events,
 * KeyError in `_verify_fields`, TypeError when launched_at is absent.
 * The warnings event's id also derives from the `.exists` id (upstream: uuid4), for the same
 * idempotency as the main event.
 */
import { eventValue, type Event, type TraitValue } from '../../shared/event.js';
import type { HandlerContext, HandlerFactory, PipelineEnv } from './types.js';
import { checkExists, UsageError } from './usage-checks.js';
import { idFromOriginal, idFromStream } from './usage-ids.js';

/** The env key the shipped pipelines give notabene as `env_keys`. */
export const USAGE_NOTIFICATIONS_KEY = 'usage_notifications';
const EXISTS_TYPE = 'compute.instance.exists';
const VERIFIED_TYPE = 'compute.instance.exists.verified';
const FAILED_TYPE = 'compute.instance.exists.failed';
const WARNINGS_TYPE = 'compute.instance.exists.warnings';
const PUBLISHER_ID = 'stv3';
const NO_EXISTS_MESSAGE = 'Notifications, but no .exists notification found.';

type Traits = Record<string, TraitValue | null>;

export const createUsageHandler: HandlerFactory = (_params, ctx) => ({
  handleEvents(events: Event[], env: PipelineEnv): Event[] {
    const { streamId } = env;
    const generated: Event[] = [];
    let block: Event[] = [];
    for (const event of events) {
      if (event.eventType === EXISTS_TYPE) {
        generated.push(...processBlock(block, event, streamId, ctx));
        block = [];
      } else {
        block.push(event);
      }
    }
    const [first] = block;
    if (first) generated.push(noExistsFailure(first, streamId, ctx));
    usageNotifications(env).push(...generated);
    return [...events, ...generated];
  },
  commit(): void {},
  rollback(): void {},
});

function processBlock(block: readonly Event[], exists: Event, streamId: number, ctx: HandlerContext): Event[] {
  // FIX (spec §10.11, accumulating warnings): upstream kept one list for the whole stream,
  // so every later block repeated earlier blocks' warnings. Each block starts empty.
  const warnings: string[] = [];
  let failure: UsageError | undefined;
  try {
    checkExists(block, exists, warnings);
  } catch (err) {
    if (!(err instanceof UsageError)) throw err;
    failure = err;
    ctx.log.warn(
      { streamId, code: err.code, instanceId: eventValue(exists, 'instance_id'), existsMessageId: exists.messageId },
      `Usage check failed: ${err.message}`,
    );
  }
  if (!exists.messageId) {
    ctx.log.error({ streamId, instanceId: eventValue(exists, 'instance_id') }, '.exists has no message_id');
  }
  const idFor = (eventType: string): string =>
    exists.messageId
      ? idFromOriginal(exists.messageId, eventType)
      : idFromStream(streamId, eventType, (block[0] ?? exists).messageId);

  const out: Event[] = [];
  if (warnings.length > 0) {
    out.push({
      messageId: idFor(WARNINGS_TYPE),
      eventType: WARNINGS_TYPE,
      timestamp: exists.timestamp,
      traits: {
        publisher_id: PUBLISHER_ID,
        stream_id: BigInt(streamId),
        instance_id: eventValue(exists, 'instance_id') ?? 'n/a',
        warnings: warnings.join(', '),
      },
    });
  }
  const eventType = failure ? FAILED_TYPE : VERIFIED_TYPE;
  // Present values keep their type (bandwidth is text in the sandbox definitions); absent or
  // null ones (null would not be stored) get upstream's defaults.
  const traits: Traits = {
    ...exists.traits,
    bandwidth_in: exists.traits['bandwidth_in'] ?? 0n,
    bandwidth_out: exists.traits['bandwidth_out'] ?? 0n,
    rax_options: exists.traits['rax_options'] ?? '0',
    original_message_id: exists.messageId,
    publisher_id: PUBLISHER_ID,
    stream_id: BigInt(streamId),
  };
  // FIX (spec §10.11, `error: "None"`): upstream wrote str(None) into verified events. A
  // verified event now has neither `error` nor `error_code`.
  if (failure) {
    traits['error'] = failure.message;
    traits['error_code'] = failure.code;
  }
  out.push({ messageId: idFor(eventType), eventType, timestamp: exists.timestamp, traits });
  return out;
}

/** U0: the stream has events after its last `.exists` (or none at all). */
function noExistsFailure(first: Event, streamId: number, ctx: HandlerContext): Event {
  const instanceId = eventValue(first, 'instance_id') ?? null;
  ctx.log.warn({ streamId, code: 'U0', instanceId }, `Usage check failed: ${NO_EXISTS_MESSAGE}`);
  return {
    messageId: idFromStream(streamId, FAILED_TYPE, first.messageId),
    eventType: FAILED_TYPE,
    timestamp: first.timestamp,
    traits: { stream_id: BigInt(streamId), instance_id: instanceId, error: NO_EXISTS_MESSAGE, error_code: 'U0' },
  };
}

/**
 * FIX (spec §10.11, empty usage_notifications): upstream stopped filling this list, so the
 * shipped pipelines' notabene step published nothing. Appends to a list an earlier handler
 * may have started.
 */
function usageNotifications(env: PipelineEnv): Event[] {
  const existing = env[USAGE_NOTIFICATIONS_KEY];
  if (existing === undefined) {
    const created: Event[] = [];
    env[USAGE_NOTIFICATIONS_KEY] = created;
    return created;
  }
  if (!Array.isArray(existing)) throw new TypeError(`env['${USAGE_NOTIFICATIONS_KEY}'] is not a list`);
  return existing as Event[];
}
