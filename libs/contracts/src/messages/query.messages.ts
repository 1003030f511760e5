import { Matches } from 'class-validator';
import { PROVIDER_KEY_PATTERN, TENANT_ID_PATTERN } from '../ids';
import { RpcRequest } from './common';

/** Ask query-api which tenant an API key belongs to. Only the key id and the hash of its secret travel. */
export class AuthenticateApiKeyRequest extends RpcRequest {
  @Matches(/^[A-Za-z0-9]{8,32}$/) keyId: string;
  @Matches(/^[a-f0-9]{64}$/) keyHash: string;
}
export interface AuthenticateApiKeyReply {
  tenantId: string;
  keyId: string;
}

export class GetIntegrationRequest extends RpcRequest {
  @Matches(TENANT_ID_PATTERN) tenantId: string;
  @Matches(PROVIDER_KEY_PATTERN) provider: string;
}
export interface GetIntegrationReply {
  tenantId: string;
  provider: string;
  clientId: string;
  scopes: string[];
  vaultVersion: number;
}
