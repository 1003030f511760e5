import { randomUUID } from 'node:crypto';
import type { ConsumerDeserializer, IncomingEvent, IncomingRequest } from '@nestjs/microservices';

/**
 * What arrived on a subject in place of a request: the handler never sees it, MalformedRequestGuard answers it as
 * INVALID_REQUEST (through the reply subject, when there is one).
 */
export class MalformedRequest {
  constructor(readonly reason: string) {}
}

const utf8 = new TextDecoder('utf-8', { fatal: true });
const ENVELOPE_KEYS = new Set(['pattern', 'data', 'id']);

/**
 * Reads NATS messages for the apps' RPC listeners. Nest's own deserializer throws on bytes that are not JSON, and
 * that rejection escapes the subscription callback and kills the process (one garbage message stopped vault); a
 * JSON message without an `id` it takes for an event, runs the handler and never answers. Here anything that is not
 * Nest's request envelope `{ pattern, data, id }` for this subject becomes a MalformedRequest with an id, so the
 * requester gets a typed error instead of silence. A message without a reply subject gets no answer either way.
 */
export class RpcRequestDeserializer implements ConsumerDeserializer {
  deserialize(value: Uint8Array, options?: { channel?: string; replyTo?: string }): IncomingRequest | IncomingEvent {
    const channel = options?.channel ?? '';
    let decoded: unknown;
    try {
      decoded = JSON.parse(utf8.decode(value));
    } catch {
      return malformed(channel, undefined, 'the message is not UTF-8 JSON');
    }
    if (typeof decoded !== 'object' || decoded === null || Array.isArray(decoded)) return malformed(channel, undefined, 'the message is not a request envelope { pattern, data, id }');
    // Nest's client sends exactly these three: anything else (a `__proto__` smuggled beside them) is not its envelope.
    if (Object.keys(decoded).some((key) => !ENVELOPE_KEYS.has(key))) return malformed(channel, undefined, 'the request envelope has fields other than pattern, data and id');
    const { pattern, data, id } = decoded as Record<string, unknown>;
    const validId = typeof id === 'string' && id.length > 0 && id.length <= 200 ? id : undefined;
    if (!validId) return malformed(channel, undefined, 'the request envelope has no string id');
    if (pattern !== channel) return malformed(channel, validId, 'the request envelope names another pattern than its subject');
    if (!('data' in (decoded as object))) return malformed(channel, validId, 'the request envelope has no data');
    return { pattern: channel, data, id: validId };
  }
}

function malformed(channel: string, id: string | undefined, reason: string): IncomingRequest {
  return { pattern: channel, data: new MalformedRequest(reason), id: id ?? randomUUID() };
}
