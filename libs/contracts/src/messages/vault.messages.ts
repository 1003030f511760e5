import { Type } from 'class-transformer';
import { IsIn, IsInt, IsISO8601, IsObject, IsOptional, IsString, Matches, MaxLength, Min, ValidateNested, IsArray, ArrayMaxSize } from 'class-validator';
import { CONNECTION_ID_PATTERN, PROVIDER_KEY_PATTERN, TENANT_ID_PATTERN } from '../ids';
import { RpcRequest } from './common';

/*
 * Requests to vault. These are the only messages that carry secrets in plaintext; they travel over NATS
 * between authenticated apps whose permissions allow only their own subjects (deploy/).
 */

export class CredentialSecret {
  @IsIn(['oauth2', 'api_key']) type: 'oauth2' | 'api_key';
  @IsOptional() @IsString() @MaxLength(8192) accessToken?: string;
  @IsOptional() @IsString() @MaxLength(8192) refreshToken?: string;
  @IsOptional() @IsString() @MaxLength(4096) apiKey?: string;
  /** Account name for HTTP Basic API keys (ClickSend: username). Not secret, kept with the secret for convenience. */
  @IsOptional() @IsString() @MaxLength(512) username?: string;
  @IsOptional() @IsString() @MaxLength(64) tokenType?: string;
  @IsOptional() @IsISO8601() expiresAt?: string | null;
  @IsOptional() @IsArray() @ArrayMaxSize(100) @IsString({ each: true }) scopes?: string[];
}

export class StoreCredentialRequest extends RpcRequest {
  @Matches(TENANT_ID_PATTERN) tenantId: string;
  @Matches(CONNECTION_ID_PATTERN) connectionId: string;
  @Matches(PROVIDER_KEY_PATTERN) provider: string;
  /** IsObject: ValidateNested alone validates each element of an array, so `[credential]` would pass and be stored. */
  @IsObject() @ValidateNested() @Type(() => CredentialSecret) credential: CredentialSecret;
  /**
   * Optimistic concurrency: the version the caller read (0 = must not exist). Omit to replace whatever is stored
   * (a reconnect). A refresher passes the version it refreshed, so a stale worker cannot overwrite a newer credential.
   */
  @IsOptional() @IsInt() @Min(0) expectedVersion?: number;
}
export interface StoreCredentialReply {
  version: number;
}

export class ReadCredentialRequest extends RpcRequest {
  @Matches(TENANT_ID_PATTERN) tenantId: string;
  @Matches(CONNECTION_ID_PATTERN) connectionId: string;
  /** Who reads, for the audit of reads. */
  @Matches(/^[a-z][a-z0-9-]{1,40}(:[A-Za-z0-9_.-]{1,64})?$/) caller: string;
}
export interface ReadCredentialReply {
  version: number;
  provider: string;
  credential: CredentialSecret;
}

/** Secrets of a tenant that are not a connection's credential: OAuth client secrets, webhook secrets. */
export class StoreTenantSecretRequest extends RpcRequest {
  @Matches(TENANT_ID_PATTERN) tenantId: string;
  /** e.g. `integration-gmail` */
  @Matches(/^[a-z][a-z0-9-]{1,63}$/) ownerId: string;
  @IsIn(['client_secret', 'webhook_secret']) field: 'client_secret' | 'webhook_secret';
  @IsString() @MaxLength(4096) value: string;
}
export interface StoreTenantSecretReply {
  version: number;
}

export class ReadTenantSecretRequest extends RpcRequest {
  @Matches(TENANT_ID_PATTERN) tenantId: string;
  @Matches(/^[a-z][a-z0-9-]{1,63}$/) ownerId: string;
  @IsIn(['client_secret', 'webhook_secret']) field: 'client_secret' | 'webhook_secret';
  @Matches(/^[a-z][a-z0-9-]{1,40}(:[A-Za-z0-9_.-]{1,64})?$/) caller: string;
}
export interface ReadTenantSecretReply {
  version: number;
  value: string;
}

/** Erase a connection's credential (disconnect): every stored version is purged. */
export class EraseCredentialRequest extends RpcRequest {
  @Matches(TENANT_ID_PATTERN) tenantId: string;
  @Matches(CONNECTION_ID_PATTERN) connectionId: string;
}

/** Erase a tenant secret (an integration removed): every stored version is purged. */
export class EraseTenantSecretRequest extends RpcRequest {
  @Matches(TENANT_ID_PATTERN) tenantId: string;
  @Matches(/^[a-z][a-z0-9-]{1,63}$/) ownerId: string;
  @IsIn(['client_secret', 'webhook_secret']) field: 'client_secret' | 'webhook_secret';
}

export interface EraseReply {
  /** false when nothing was stored */
  erased: boolean;
}
