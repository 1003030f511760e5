import { RpcErrorCodes } from '@authpipe/contracts';
import { DecryptFailedError, TenantErasedError, UnknownKeyVersionError } from './crypto/crypto.errors';
import { ConcurrencyError, CorruptRecordError } from './storage/secret-store.port';
import { toRpcError } from './vault.controller';
import { AuditUnavailableError } from './audit/audit.errors';
import { InvalidCredentialError, NoDataKeyError } from './vault.errors';

const TARGET = 'credential of connection con_AAAAAAAAAAAAAAAAAAAAAA (tenant org_acme)';

describe('toRpcError', () => {
  it.each([
    [new DecryptFailedError('access_token'), RpcErrorCodes.DecryptFailed, /^credential of connection con_A+ \(tenant org_acme\): cannot decrypt access_token/],
    [new CorruptRecordError('credential.org_acme.con_x', 7), RpcErrorCodes.DecryptFailed, /con_A+ .*: the stored record is corrupt/],
    [new UnknownKeyVersionError('master key', 'v1', ['v2']), RpcErrorCodes.UnknownKeyVersion, /con_A+ .*: unknown master key version v1 \(known: v2\)/],
    [new TenantErasedError('org_acme', '2026-02-01T00:00:00.000Z'), RpcErrorCodes.TenantErased, /tenant org_acme was erased at 2026-02-01/],
    [new ConcurrencyError('credential of connection con_x is at version 2, not 1'), RpcErrorCodes.Conflict, /is at version 2, not 1/],
    [new InvalidCredentialError('credential.apiKey is required when credential.type is api_key'), RpcErrorCodes.InvalidRequest, /credential\.apiKey/],
    [new NoDataKeyError('org_acme'), RpcErrorCodes.NotFound, /tenant org_acme has no data key yet/],
    [new AuditUnavailableError('no stream captures authpipe.audit.reads.org_acme'), RpcErrorCodes.Unavailable, /con_A+ .*: the audit of reads cannot be written \(no stream/],
  ])('maps %p', (error, code, message) => {
    const rpcError = toRpcError(error, TARGET)!;
    expect(rpcError.code).toBe(code);
    expect(rpcError.message).toMatch(message);
  });

  it('leaves unknown errors to the global filter (INTERNAL, message withheld)', () => {
    expect(toRpcError(new Error('driver said something'), TARGET)).toBeNull();
  });
});
