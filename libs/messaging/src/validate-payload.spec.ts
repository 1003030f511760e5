import { EraseCredentialRequest, RpcErrorCodes, StoreCredentialRequest } from '@authpipe/contracts';
import { RpcError } from './rpc-error';
import { validatePayload } from './validate-payload';

const store = { tenantId: 'org_acme', connectionId: 'con_AAAAAAAAAAAAAAAAAAAAAA', provider: 'gmail', credential: { type: 'oauth2', accessToken: 'at' } };

function refusal(cls: new () => object, payload: unknown): RpcError {
  try {
    validatePayload(cls, payload);
  } catch (err) {
    return err as RpcError;
  }
  throw new Error('the payload was accepted');
}

describe('validatePayload', () => {
  it('accepts a valid request', () => {
    expect(validatePayload(StoreCredentialRequest, store)).toBeInstanceOf(StoreCredentialRequest);
  });

  // Found by the fuzz suite: class-transformer takes a nested object's `constructor` key for its class and threw a
  // TypeError, which the handler answered as INTERNAL.
  it.each([
    ['a constructor key', { ...store, credential: JSON.parse('{"type":"oauth2","constructor":{"prototype":{"x":1}}}') }],
    ['a __proto__ key', JSON.parse('{"tenantId":"org_acme","connectionId":"con_AAAAAAAAAAAAAAAAAAAAAA","__proto__":{"polluted":true}}')],
    ['a prototype key', { ...store, prototype: 1 }],
  ])('refuses %s as INVALID_REQUEST', (_name, payload) => {
    const err = refusal(StoreCredentialRequest, payload);
    expect(err).toBeInstanceOf(RpcError);
    expect(err.code).toBe(RpcErrorCodes.InvalidRequest);
    expect(({} as Record<string, unknown>).polluted).toBeUndefined();
  });

  // Found by the fuzz suite: a payload nested thousands deep overflowed class-transformer's stack (RangeError).
  it('refuses absurd nesting as INVALID_REQUEST without recursing', () => {
    const deep = JSON.parse(`{"tenantId":"org_acme","connectionId":"con_AAAAAAAAAAAAAAAAAAAAAA","x":${'['.repeat(20_000)}${']'.repeat(20_000)}}`);
    expect(refusal(EraseCredentialRequest, deep).code).toBe(RpcErrorCodes.InvalidRequest);
  });

  it('refuses a nested contract sent as an array', () => {
    expect(refusal(StoreCredentialRequest, { ...store, credential: [store.credential] }).code).toBe(RpcErrorCodes.InvalidRequest);
  });
});
