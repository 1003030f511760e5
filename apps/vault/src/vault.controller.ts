import { Logger } from '@nestjs/common';
import { MessagePattern, Payload } from '@nestjs/microservices';
import {
  EraseCredentialRequest,
  EraseReply,
  EraseTenantSecretRequest,
  ReadCredentialReply,
  ReadCredentialRequest,
  ReadTenantSecretReply,
  ReadTenantSecretRequest,
  Rpc,
  RpcErrorCodes,
  StoreCredentialReply,
  StoreCredentialRequest,
  StoreTenantSecretReply,
  StoreTenantSecretRequest,
} from '@authpipe/contracts';
import { RpcError, RpcController } from '@authpipe/messaging';
import { AuditUnavailableError } from './audit/audit.errors';
import { DecryptFailedError, TenantErasedError, UnknownKeyVersionError } from './crypto/crypto.errors';
import { ConcurrencyError, CorruptRecordError } from './storage/secret-store.port';
import { InvalidCredentialError, NoDataKeyError } from './vault.errors';
import { VaultService } from './vault.service';

/**
 * Vault's only entrance: NATS request/reply (never HTTP). Payloads are validated against their contract classes by
 * the global RpcPayloadPipe; nothing here logs a payload.
 */
@RpcController()
export class VaultController {
  private readonly logger = new Logger('Vault');

  constructor(private readonly vault: VaultService) {}

  @MessagePattern(Rpc.vaultStoreCredential.subject)
  async storeCredential(@Payload() request: StoreCredentialRequest): Promise<StoreCredentialReply> {
    return this.answer(credentialOf(request), () => this.vault.storeCredential(request));
  }

  @MessagePattern(Rpc.vaultReadCredential.subject)
  async readCredential(@Payload() request: ReadCredentialRequest): Promise<ReadCredentialReply> {
    const reply = await this.answer(credentialOf(request), () => this.vault.readCredential(request));
    if (!reply) throw new RpcError(RpcErrorCodes.NotFound, `no credential is stored for ${credentialOf(request)}`);
    return reply;
  }

  @MessagePattern(Rpc.vaultEraseCredential.subject)
  eraseCredential(@Payload() request: EraseCredentialRequest): Promise<EraseReply> {
    return this.answer(credentialOf(request), () => this.vault.eraseCredential(request));
  }

  @MessagePattern(Rpc.vaultEraseTenantSecret.subject)
  eraseTenantSecret(@Payload() request: EraseTenantSecretRequest): Promise<EraseReply> {
    return this.answer(tenantSecretOf(request), () => this.vault.eraseTenantSecret(request));
  }

  @MessagePattern(Rpc.vaultStoreTenantSecret.subject)
  async storeTenantSecret(@Payload() request: StoreTenantSecretRequest): Promise<StoreTenantSecretReply> {
    return this.answer(tenantSecretOf(request), () => this.vault.storeTenantSecret(request));
  }

  @MessagePattern(Rpc.vaultReadTenantSecret.subject)
  async readTenantSecret(@Payload() request: ReadTenantSecretRequest): Promise<ReadTenantSecretReply> {
    const reply = await this.answer(tenantSecretOf(request), () => this.vault.readTenantSecret(request));
    if (!reply) throw new RpcError(RpcErrorCodes.NotFound, `no ${tenantSecretOf(request)} is stored`);
    return reply;
  }

  private async answer<T>(target: string, work: () => Promise<T>): Promise<T> {
    try {
      return await work();
    } catch (err) {
      const rpcError = toRpcError(err, target);
      // Failed decryption may be tampering: worth a warning. The message names ids and fields, never values.
      if (rpcError?.code === RpcErrorCodes.DecryptFailed || rpcError?.code === RpcErrorCodes.UnknownKeyVersion) {
        this.logger.warn(rpcError.message);
      }
      throw rpcError ?? err;
    }
  }
}

const credentialOf = (r: { tenantId: string; connectionId: string }) => `credential of connection ${r.connectionId} (tenant ${r.tenantId})`;
const tenantSecretOf = (r: { tenantId: string; ownerId: string; field: string }) => `${r.field} of ${r.ownerId} (tenant ${r.tenantId})`;

/**
 * Vault's typed errors as RPC error codes, with the record they concern (`target`). Anything else is left to the
 * global RpcErrorFilter, which answers INTERNAL without the message.
 */
export function toRpcError(err: unknown, target: string): RpcError | null {
  if (err instanceof DecryptFailedError) return new RpcError(RpcErrorCodes.DecryptFailed, `${target}: ${err.message}`);
  if (err instanceof CorruptRecordError) return new RpcError(RpcErrorCodes.DecryptFailed, `${target}: the stored record is corrupt`);
  if (err instanceof UnknownKeyVersionError) return new RpcError(RpcErrorCodes.UnknownKeyVersion, `${target}: ${err.message}`);
  if (err instanceof TenantErasedError) return new RpcError(RpcErrorCodes.TenantErased, err.message);
  if (err instanceof ConcurrencyError) return new RpcError(RpcErrorCodes.Conflict, err.message);
  if (err instanceof InvalidCredentialError) return new RpcError(RpcErrorCodes.InvalidRequest, err.message);
  if (err instanceof NoDataKeyError) return new RpcError(RpcErrorCodes.NotFound, err.message);
  // Retryable: the secret was not handed out because its read could not be audited.
  if (err instanceof AuditUnavailableError) return new RpcError(RpcErrorCodes.Unavailable, `${target}: ${err.message}`);
  return null;
}
