/**
 * Message ids of the events the UsageHandler generates (spec §4.7). They are name-based
 * (uuid5), so a rerun of the same stream yields the same ids and the repeats are dropped as
 * duplicates when saved, instead of being billed twice.
 */
import { v5 as uuidv5 } from 'uuid';

/**
 * FIX (spec §10.11, uuid4 ids): upstream gave U0 events, and events of an `.exists` with an
 * empty message_id, random uuid4 ids, so a retried stream produced them again under new
 * ids. They now derive from this fixed namespace (see idFromStream).
 */
export const USAGE_ID_NAMESPACE = uuidv5('stacktach-ts/usage', uuidv5.URL);

/**
 * uuid5(namespace = UUID(originalMessageId), name = eventType), as upstream. Throws a
 * TypeError when the original id is not a UUID (a pipeline error, as upstream).
 */
export function idFromOriginal(originalMessageId: string, eventType: string): string {
  return uuidv5(eventType, pythonUuidBytes(originalMessageId));
}

/** uuid5(USAGE_ID_NAMESPACE, "<stream id>/<event type>/<first message_id of the block>"). */
export function idFromStream(streamId: number, eventType: string, firstMessageId: string): string {
  return uuidv5(`${streamId}/${eventType}/${firstMessageId}`, USAGE_ID_NAMESPACE);
}

/**
 * The 16 bytes of Python's `uuid.UUID(text)`: any 32 hex digits, hyphens, braces and a
 * `urn:uuid:` prefix allowed. The uuid package's own parser would also demand RFC 4122
 * version and variant bits, rejecting ids such as 11111111-2222-3333-4444-555555555555.
 */
function pythonUuidBytes(text: string): Uint8Array {
  const hex = text
    .replaceAll('urn:', '')
    .replaceAll('uuid:', '')
    .replace(/^[{}]+|[{}]+$/g, '')
    .replaceAll('-', '');
  if (!/^[0-9a-f]{32}$/i.test(hex)) {
    throw new TypeError(`badly formed hexadecimal UUID string: ${JSON.stringify(text)}`);
  }
  return Buffer.from(hex, 'hex');
}
