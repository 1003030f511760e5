import {
  EraseCredentialRequest,
  EraseReply,
  EraseTenantSecretRequest,
  ReadCredentialReply,
  ReadCredentialRequest,
  ReadTenantSecretReply,
  ReadTenantSecretRequest,
  StoreCredentialReply,
  StoreCredentialRequest,
  StoreTenantSecretReply,
  StoreTenantSecretRequest,
} from './vault.messages';
import {
  EraseTenantReply,
  EraseTenantRequest,
  RewrapStatusReply,
  RewrapStatusRequest,
  RotateTenantKeyReply,
  RotateTenantKeyRequest,
  StartRewrapRequest,
} from './vault-keys.messages';
import { AuthenticateApiKeyReply, AuthenticateApiKeyRequest, GetIntegrationReply, GetIntegrationRequest } from './query.messages';
import { RefreshConnectionReply, RefreshConnectionRequest } from './refresher.messages';

/**
 * Every request/reply subject between apps, with its request class (validated on both ends) and reply type.
 * Subjects start with the app that serves them, so NATS permissions can be granted per app (deploy/).
 */
export const Rpc = {
  vaultStoreCredential: { subject: 'authpipe.vault.credential.store', request: StoreCredentialRequest, reply: {} as StoreCredentialReply },
  vaultReadCredential: { subject: 'authpipe.vault.credential.read', request: ReadCredentialRequest, reply: {} as ReadCredentialReply },
  vaultEraseCredential: { subject: 'authpipe.vault.credential.erase', request: EraseCredentialRequest, reply: {} as EraseReply },
  vaultStoreTenantSecret: { subject: 'authpipe.vault.secret.store', request: StoreTenantSecretRequest, reply: {} as StoreTenantSecretReply },
  vaultReadTenantSecret: { subject: 'authpipe.vault.secret.read', request: ReadTenantSecretRequest, reply: {} as ReadTenantSecretReply },
  vaultEraseTenantSecret: { subject: 'authpipe.vault.secret.erase', request: EraseTenantSecretRequest, reply: {} as EraseReply },
  vaultRotateTenantKey: { subject: 'authpipe.vault.keys.rotate-tenant', request: RotateTenantKeyRequest, reply: {} as RotateTenantKeyReply },
  vaultStartRewrap: { subject: 'authpipe.vault.keys.rewrap.start', request: StartRewrapRequest, reply: {} as RewrapStatusReply },
  vaultRewrapStatus: { subject: 'authpipe.vault.keys.rewrap.status', request: RewrapStatusRequest, reply: {} as RewrapStatusReply },
  vaultEraseTenant: { subject: 'authpipe.vault.tenant.erase', request: EraseTenantRequest, reply: {} as EraseTenantReply },
  queryAuthenticateApiKey: { subject: 'authpipe.query.api-key.authenticate', request: AuthenticateApiKeyRequest, reply: {} as AuthenticateApiKeyReply },
  queryGetIntegration: { subject: 'authpipe.query.integration.get', request: GetIntegrationRequest, reply: {} as GetIntegrationReply },
  refresherRefresh: { subject: 'authpipe.refresher.refresh', request: RefreshConnectionRequest, reply: {} as RefreshConnectionReply },
} as const;

export type RpcName = keyof typeof Rpc;
export type RpcRequestOf<N extends RpcName> = InstanceType<(typeof Rpc)[N]['request']>;
export type RpcReplyOf<N extends RpcName> = (typeof Rpc)[N]['reply'];

/** Each app answers `authpipe.<app>.health` so that start-up scripts and probes can see it is ready. */
export const healthSubject = (app: string): string => `authpipe.${app}.health`;
