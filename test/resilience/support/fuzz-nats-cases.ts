import { randomUUID } from 'node:crypto';
import { getMetadataStorage } from 'class-validator';
import fc from 'fast-check';
import { validatePayload } from '@authpipe/messaging';
import { badUtf8, deeplyNested, hostileObject, hostileString, malformedJson, wrongValue } from './fuzz-inputs';

/*
 * Messages for one RPC subject: bytes that are not a request at all (not JSON, not UTF-8, not Nest's request
 * envelope `{ pattern, data, id }`), and envelopes whose data breaks the subject's contract class (wrong types,
 * required fields missing, unknown and prototype keys, hostile strings, huge or deeply nested). Every case is
 * invalid: its data fails the contract's own validation (checked here before it is sent), so no case may write.
 */

export interface NatsCase {
  bytes: Uint8Array;
  /** How the message is bad (for the failure message). */
  fault: string;
}

const encoder = new TextEncoder();

/** The fields of a contract class and which of them are required, from its class-validator decorators. */
export function contractFields(cls: new () => object): { name: string; required: boolean }[] {
  const metadata = getMetadataStorage().getTargetValidationMetadatas(cls, '', true, false);
  const names = [...new Set(metadata.map((m) => m.propertyName))];
  return names.map((name) => ({ name, required: !metadata.some((m) => m.propertyName === name && m.type === 'conditionalValidation') }));
}

/** Nest's request envelope around data already serialized (a deeply nested value is built as text: stringifying it would overflow the stack). */
const envelope = (subject: string, dataJson: string): string => `{"pattern":${JSON.stringify(subject)},"id":"${randomUUID()}","data":${dataJson}}`;

const described = (c: NatsCase): NatsCase =>
  Object.assign(c, { [fc.toStringMethod]: () => `${c.fault}: ${Buffer.from(c.bytes.subarray(0, 200)).toString('latin1')}${c.bytes.length > 200 ? `... (${c.bytes.length} bytes)` : ''}` });

/** Data shaped like the contract but invalid for it; checked with the contract's own validation. */
function invalidData(cls: new () => object): fc.Arbitrary<{ json: string; fault: string }> {
  const fields = contractFields(cls);
  const anyValue = fc.oneof(hostileString(), wrongValue(), hostileObject());
  const shaped = fc
    .tuple(
      fc.record(Object.fromEntries(fields.map((f) => [f.name, fc.option(anyValue, { nil: undefined })]))),
      fc.option(fc.tuple(fc.oneof(fc.constantFrom('__proto__', 'constructor', 'prototype', '$where', '$set', 'isAdmin'), fc.string({ minLength: 1, maxLength: 10 })), anyValue), { nil: undefined }),
    )
    .map(([record, extra]) => {
      const data: Record<string, unknown> = Object.fromEntries(Object.entries(record).filter(([, v]) => v !== undefined));
      if (extra) Object.defineProperty(data, extra[0], { value: extra[1], enumerable: true, writable: true, configurable: true });
      return { json: JSON.stringify(data), fault: `contract-shaped data${extra ? ` with key ${JSON.stringify(extra[0])}` : ''}` };
    });
  return fc
    .oneof(
      shaped,
      wrongValue().map((data) => ({ json: JSON.stringify(data) ?? 'null', fault: 'data of another type' })),
      fc.jsonValue({ maxDepth: 3 }).map((data) => ({ json: JSON.stringify(data), fault: 'random JSON data' })),
      fc.constant({ json: `{"huge":"${'x'.repeat(900_000)}"}`, fault: 'data of 900 KB' }),
      fc.constant({ json: deeplyNested(5_000), fault: 'data nested 5000 deep' }),
    )
    .filter(({ json }) => {
      try {
        validatePayload(cls, JSON.parse(json));
        return false;
      } catch {
        return true;
      }
    });
}

/** Bytes that are not a request envelope at all. */
export function malformedMessages(subject: string): fc.Arbitrary<NatsCase> {
  return fc
    .oneof(
      fc.uint8Array({ minLength: 0, maxLength: 64 }).map((bytes) => ({ bytes, fault: 'random bytes' })),
      badUtf8().map((bytes) => ({ bytes: new Uint8Array(bytes), fault: 'bytes that are not UTF-8' })),
      malformedJson().map((s) => ({ bytes: encoder.encode(s), fault: 'malformed JSON' })),
      fc.jsonValue({ maxDepth: 3 }).map((v) => ({ bytes: encoder.encode(JSON.stringify(v)), fault: 'JSON that is not an envelope' })),
      fc.constantFrom<[unknown, string]>(
        [{ pattern: subject, data: {} }, 'an envelope without id'],
        [{ pattern: subject, data: {}, id: 42 }, 'an envelope with a numeric id'],
        [{ pattern: subject, data: {}, id: { $gt: '' } }, 'an envelope with an object id'],
        [{ pattern: 'authpipe.vault.credential.read', data: {}, id: 'x' }, 'an envelope with another pattern'],
        [{ pattern: subject, id: 'x' }, 'an envelope without data'],
        [JSON.parse(`{"pattern":${JSON.stringify(subject)},"data":{},"id":"x","__proto__":{"polluted":true}}`), 'an envelope with __proto__'],
      ).map(([value, fault]) => ({ bytes: encoder.encode(JSON.stringify(value)), fault })),
    )
    .map(described);
}

/** Envelopes whose data breaks the subject's contract. */
export function invalidRequests(subject: string, cls: new () => object): fc.Arbitrary<NatsCase> {
  return invalidData(cls).map(({ json, fault }) => described({ bytes: encoder.encode(envelope(subject, json)), fault }));
}

/** Any bad message for a subject: half malformed, half contract-breaking. */
export function natsCases(subject: string, cls?: new () => object): fc.Arbitrary<NatsCase> {
  return cls ? fc.oneof(malformedMessages(subject), invalidRequests(subject, cls)) : malformedMessages(subject);
}
