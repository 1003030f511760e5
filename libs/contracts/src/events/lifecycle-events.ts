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
  /** The last failure: an HTTP status or `network_error`. */
  @Matches(/^(\d{3}|network_error|timeout)$/) lastFailure: string;
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
