import {
  ArrayMaxSize,
  IsArray,
  IsBoolean,
  IsIn,
  IsInt,
  IsISO8601,
  IsOptional,
  IsString,
  Matches,
  MaxLength,
  Min,
} from 'class-validator';
import { IsFactMap } from './string-map.validator';
import { CONNECTION_ID_PATTERN, PROVIDER_KEY_PATTERN, TENANT_ID_PATTERN, USER_ID_PATTERN } from '../ids';

/*
 * The lifecycle events, one class per event type: the class is both the TypeScript type and the validation
 * schema (class-validator), so the contract is written once. Events are facts in past tense and carry no secret
 * material: tokens, refresh tokens, API keys and client secrets live only in vault.
 * A change to a data class that is not backwards compatible gets a new schemaVersion in EVENT_SCHEMAS.
 */

const SCOPE = /^[\x21\x23-\x5B\x5D-\x7E]{1,256}$/; // RFC 6749 s3.3 scope-token

export class TenantCreated {
  @Matches(TENANT_ID_PATTERN) tenantId: string;
  @IsString() @MaxLength(200) name: string;
}

/** The tenant's data keys were destroyed (crypto-shredding): its secrets are unreadable, its connections erased. */
export class TenantErased {
  @Matches(TENANT_ID_PATTERN) tenantId: string;
}

export class ApiKeyIssued {
  @Matches(TENANT_ID_PATTERN) tenantId: string;
  @Matches(/^[A-Za-z0-9]{8,32}$/) keyId: string;
  /** SHA-256 (hex) of the key's secret part; the key itself is shown once to the operator and never stored. */
  @Matches(/^[a-f0-9]{64}$/) keyHash: string;
  @IsString() @MaxLength(100) label: string;
}

export class ApiKeyRevoked {
  @Matches(TENANT_ID_PATTERN) tenantId: string;
  @Matches(/^[A-Za-z0-9]{8,32}$/) keyId: string;
}

export class IntegrationRegistered {
  @Matches(TENANT_ID_PATTERN) tenantId: string;
  @Matches(PROVIDER_KEY_PATTERN) provider: string;
  /** The OAuth client id is public (it appears in authorize URLs); the client secret stays in vault. */
  @IsString() @MaxLength(512) clientId: string;
  @IsArray() @ArrayMaxSize(100) @Matches(SCOPE, { each: true }) scopes: string[];
  /** Version of the client secret kept in vault. */
  @IsInt() @Min(1) vaultVersion: number;
}

export class IntegrationRemoved {
  @Matches(TENANT_ID_PATTERN) tenantId: string;
  @Matches(PROVIDER_KEY_PATTERN) provider: string;
}

export class Connected {
  @Matches(CONNECTION_ID_PATTERN) connectionId: string;
  @Matches(TENANT_ID_PATTERN) tenantId: string;
  @Matches(PROVIDER_KEY_PATTERN) provider: string;
  @Matches(USER_ID_PATTERN) userId: string;
  @IsArray() @ArrayMaxSize(100) @Matches(SCOPE, { each: true }) scopes: string[];
  /** null for credentials that do not expire (API keys, permanent tokens). */
  @IsOptional() @IsISO8601() expiresAt: string | null;
  @IsBoolean() refreshable: boolean;
  @IsInt() @Min(1) credentialVersion: number;
  /** Non-secret facts the provider returned (Discord bot installs: guild_id, permissions). */
  @IsOptional() @IsFactMap() metadata?: Record<string, string>;
}

/**
 * Why a call to a provider failed, as a stable code (libs/oauth classifies every answer into one). Never the
 * provider's own text or body, which could carry tokens.
 * - provider_timeout: no complete answer within PROVIDER_TIMEOUT_MS (retryable);
 * - provider_unavailable: 5xx, `temporarily_unavailable`, or the connection failed (retryable);
 * - provider_rate_limited: 429 / `slow_down` (retryable, after its Retry-After);
 * - invalid_provider_response: an answer that is not what the protocol says (HTML, truncated or wrong-shaped JSON,
 *   a 200 without access_token, an empty or oversized body): never taken as a revocation;
 * - invalid_grant: the grant is gone (RFC 6749 s5.2), the only code that can revoke a connection;
 * - invalid_client: the tenant's OAuth app is misconfigured;
 * - provider_rejected: another well-formed OAuth error (invalid_request, invalid_scope, ...);
 * - provider_request_failed: the request could not be made at all (a refused plain-http URL): our side.
 */
export const PROVIDER_FAILURE_CODES = [
  'provider_timeout',
  'provider_unavailable',
  'provider_rate_limited',
  'invalid_provider_response',
  'invalid_grant',
  'invalid_client',
  'provider_rejected',
  'provider_request_failed',
] as const;
export type ProviderFailureCode = (typeof PROVIDER_FAILURE_CODES)[number];

export const CONNECT_FAILURE_REASONS = [
  'access_denied',
  'provider_error',
  'exchange_failed',
  'invalid_state',
  'state_expired',
  'issuer_mismatch',
  'scope_not_allowed',
  'verification_failed',
] as const;

export class ConnectFailed {
  @Matches(TENANT_ID_PATTERN) tenantId: string;
  @Matches(PROVIDER_KEY_PATTERN) provider: string;
  @Matches(USER_ID_PATTERN) userId: string;
  @Matches(CONNECTION_ID_PATTERN) connectionId: string;
  @IsIn(CONNECT_FAILURE_REASONS) reason: (typeof CONNECT_FAILURE_REASONS)[number];
  /** The provider's error code (RFC 6749 s4.1.2.1), never its free-text description. */
  @IsOptional() @Matches(/^[\x20-\x21\x23-\x5B\x5D-\x7E]{1,100}$/) providerError?: string;
  /** exchange_failed and verification_failed: how the provider call failed. */
  @IsOptional() @IsIn(PROVIDER_FAILURE_CODES) code?: ProviderFailureCode;
}

export class Refreshed {
  @Matches(CONNECTION_ID_PATTERN) connectionId: string;
  @Matches(TENANT_ID_PATTERN) tenantId: string;
  @Matches(PROVIDER_KEY_PATTERN) provider: string;
  @IsOptional() @IsISO8601() expiresAt: string | null;
  @IsInt() @Min(1) credentialVersion: number;
  /** Whether the provider rotated the refresh token in this refresh. */
  @IsBoolean() rotated: boolean;
}

export const REFRESH_FAILURE_CLASSES = ['transient', 'invalid_client', 'invalid_grant', 'unexpected'] as const;

export class RefreshFailed {
  @Matches(CONNECTION_ID_PATTERN) connectionId: string;
  @Matches(TENANT_ID_PATTERN) tenantId: string;
  @Matches(PROVIDER_KEY_PATTERN) provider: string;
  @IsIn(REFRESH_FAILURE_CLASSES) failure: (typeof REFRESH_FAILURE_CLASSES)[number];
  @IsBoolean() willRetry: boolean;
  @IsInt() @Min(1) attempt: number;
  /** How the token endpoint call failed (absent in events written before the code existed). */
  @IsOptional() @IsIn(PROVIDER_FAILURE_CODES) code?: ProviderFailureCode;
}

export const REVOCATION_REASONS = ['invalid_grant', 'probe_unauthorized', 'provider_revoked', 'expired', 'erased'] as const;

export class Revoked {
  @Matches(CONNECTION_ID_PATTERN) connectionId: string;
  @Matches(TENANT_ID_PATTERN) tenantId: string;
  @Matches(PROVIDER_KEY_PATTERN) provider: string;
  @IsIn(REVOCATION_REASONS) reason: (typeof REVOCATION_REASONS)[number];
  @IsIn(['refresher', 'health-monitor', 'query-api', 'vault']) detectedBy: string;
}

/** Probes failed transiently this many times in a row: the connection may not work for now. */
export class Degraded {
  @Matches(CONNECTION_ID_PATTERN) connectionId: string;
  @Matches(TENANT_ID_PATTERN) tenantId: string;
  @Matches(PROVIDER_KEY_PATTERN) provider: string;
  @IsInt() @Min(1) consecutiveFailures: number;
  /** The last failure: an HTTP status, `network_error`, `timeout`, or `invalid_provider_response` (a 2xx we cannot read). */
  @Matches(/^(\d{3}|network_error|timeout|invalid_provider_response)$/) lastFailure: string;
}

/** A degraded connection answered a probe successfully again. */
export class Recovered {
  @Matches(CONNECTION_ID_PATTERN) connectionId: string;
  @Matches(TENANT_ID_PATTERN) tenantId: string;
  @Matches(PROVIDER_KEY_PATTERN) provider: string;
}

export class Disconnected {
  @Matches(CONNECTION_ID_PATTERN) connectionId: string;
  @Matches(TENANT_ID_PATTERN) tenantId: string;
  @Matches(PROVIDER_KEY_PATTERN) provider: string;
}

/** Every event type with its current schema version and its data class: the single registry of contracts. */
export const EVENT_SCHEMAS = {
  TenantCreated: { schemaVersion: 1, data: TenantCreated },
  TenantErased: { schemaVersion: 1, data: TenantErased },
  ApiKeyIssued: { schemaVersion: 1, data: ApiKeyIssued },
  ApiKeyRevoked: { schemaVersion: 1, data: ApiKeyRevoked },
  IntegrationRegistered: { schemaVersion: 1, data: IntegrationRegistered },
  IntegrationRemoved: { schemaVersion: 1, data: IntegrationRemoved },
  Connected: { schemaVersion: 1, data: Connected },
  ConnectFailed: { schemaVersion: 1, data: ConnectFailed },
  Refreshed: { schemaVersion: 1, data: Refreshed },
  RefreshFailed: { schemaVersion: 1, data: RefreshFailed },
  Revoked: { schemaVersion: 1, data: Revoked },
  Degraded: { schemaVersion: 1, data: Degraded },
  Recovered: { schemaVersion: 1, data: Recovered },
  Disconnected: { schemaVersion: 1, data: Disconnected },
} as const;

export type EventType = keyof typeof EVENT_SCHEMAS;
export type EventDataOf<T extends EventType> = InstanceType<(typeof EVENT_SCHEMAS)[T]['data']>;

/** A lifecycle event as plain data: `{ type: 'Connected', data: {...} }`, a union keyed on `type`. */
export type AuthpipeEvent = { [T in EventType]: { type: T; data: EventDataOf<T> } }[EventType];

export function isEventType(type: string): type is EventType {
  return Object.prototype.hasOwnProperty.call(EVENT_SCHEMAS, type);
}
