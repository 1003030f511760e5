import { MalformedRequest, RpcRequestDeserializer } from './rpc-request.deserializer';

const subject = 'authpipe.vault.credential.read';
const read = (bytes: Uint8Array | string, replyTo = '_INBOX.x') =>
  new RpcRequestDeserializer().deserialize(typeof bytes === 'string' ? new TextEncoder().encode(bytes) : bytes, { channel: subject, replyTo });

describe('RpcRequestDeserializer', () => {
  it("passes Nest's request envelope through", () => {
    expect(read(JSON.stringify({ pattern: subject, data: { a: 1 }, id: 'r1' }))).toEqual({ pattern: subject, data: { a: 1 }, id: 'r1' });
  });

  // Found by the fuzz suite: Nest's deserializer threw on these, the rejection escaped the subscription callback and
  // the process died (one message on a vault subject stopped vault).
  it.each([
    ['bytes that are not JSON', new Uint8Array([0xf8, 0xbb, 0x55, 0x68])],
    ['bytes that are not UTF-8', new Uint8Array([0x7b, 0x22, 0x78, 0x22, 0x3a, 0x22, 0xff, 0x22, 0x7d])],
    ['malformed JSON', '{"pattern":'],
    ['an empty message', ''],
  ])('turns %s into a MalformedRequest that has an id, so it is answered', (_name, bytes) => {
    const packet = read(bytes);
    expect(packet.data).toBeInstanceOf(MalformedRequest);
    expect((packet as { id?: string }).id).toEqual(expect.any(String));
  });

  // Found by the fuzz suite: without an id Nest took a request for an event, ran the handler and never answered.
  it.each([
    ['JSON that is not an envelope', '{"tenantId":"org_acme"}'],
    ['an envelope without id', JSON.stringify({ pattern: subject, data: {} })],
    ['an envelope with a numeric id', JSON.stringify({ pattern: subject, data: {}, id: 7 })],
    ['an envelope for another subject', JSON.stringify({ pattern: 'authpipe.vault.credential.store', data: {}, id: 'r1' })],
    ['an envelope without data', JSON.stringify({ pattern: subject, id: 'r1' })],
    ['an array', '[1,2]'],
    ['an envelope with a __proto__ beside its fields', `{"pattern":"${subject}","data":{},"id":"r1","__proto__":{"polluted":true}}`],
  ])('refuses %s', (_name, text) => {
    const packet = read(text);
    expect(packet.data).toBeInstanceOf(MalformedRequest);
    expect((packet as { id?: string }).id).toEqual(expect.any(String));
  });
});
