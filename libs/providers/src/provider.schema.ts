import { Type } from 'class-transformer';
import {
  ArrayMinSize,
  IsArray,
  IsBoolean,
  IsIn,
  IsInt,
  IsObject,
  IsOptional,
  IsString,
  IsUrl,
  Matches,
  Max,
  MaxLength,
  Min,
  ValidateNested,
} from 'class-validator';
import { PROVIDER_KEY_PATTERN } from '@authpipe/contracts';

/*
 * The shape of a provider, written once: these classes are both the TypeScript types and the schema the catalog
 * is validated against at load (and in CI by the catalog's unit test). Every provider quirk is a field here, so
 * apps never switch on a provider's name.
 */

const url = { require_tld: false, require_protocol: true, protocols: ['http', 'https'] };

export class ProviderScope {
  @IsString() @MaxLength(256) name: string;
  @IsString() @MaxLength(300) description: string;
  /** Google's classification; drives app verification, shown to teams choosing scopes. */
  @IsOptional() @IsIn(['restricted', 'sensitive', 'basic']) sensitivity?: 'restricted' | 'sensitive' | 'basic';
}

export class RefreshPolicy {
  /** Whether the provider issues refresh tokens at all (Aircall: no, its token is permanent). */
  @IsBoolean() supported: boolean;
  /** The provider returns a new refresh token on every refresh and invalidates the old one (Discord). */
  @IsBoolean() rotatesRefreshToken: boolean;
  /** Refresh this long before the access token expires. */
  @IsInt() @Min(10) @Max(86_400) marginSeconds: number;
  /** Random spread added to the margin so that connections created together do not refresh together. */
  @IsInt() @Min(0) @Max(3_600) jitterSeconds: number;
}

/** An authorization parameter a connect session may set (Discord bot installs: permissions, guild_id). */
export class SessionParam {
  @Matches(/^[a-z][a-z0-9_]{0,39}$/) name: string;
  /** Values must match this regular expression (anchored). */
  @IsString() @MaxLength(200) pattern: string;
  @IsString() @MaxLength(200) description: string;
}

/**
 * Non-secret facts kept on the connection: callback parameters (Discord's guild_id, permissions) and fields of
 * the token response by dotted path (Discord's guild.id).
 */
export class CaptureSettings {
  @IsArray() @Matches(/^[a-z][a-z0-9_]{0,39}$/, { each: true }) callbackParams: string[];
  /** metadata key -> dotted path in the token response */
  @IsObject() tokenResponse: Record<string, string>;
}

export class OAuth2Settings {
  @IsUrl(url) authorizationUrl: string;
  @IsUrl(url) tokenUrl: string;
  @IsOptional() @IsUrl(url) revocationUrl?: string;
  /** Expected `iss` of authorization responses (RFC 9207); checked when the provider sends one. */
  @IsOptional() @IsString() issuer?: string;
  @IsIn(['S256', 'none']) pkce: 'S256' | 'none';
  @IsIn([' ', ',', '+']) scopeSeparator: ' ' | ',' | '+';
  /** Extra authorization request parameters (Google: access_type=offline, prompt=consent). */
  @IsObject() authorizationParams: Record<string, string>;
  @IsIn(['client_secret_post', 'client_secret_basic']) tokenEndpointAuthMethod: 'client_secret_post' | 'client_secret_basic';
  /** Token and revocation endpoints accept application/x-www-form-urlencoded only (Discord). */
  @IsBoolean() formBodiesOnly: boolean;
  /** Scopes requested when a connect session names none. */
  @IsArray() @IsString({ each: true }) defaultScopes: string[];
  @IsArray() @ValidateNested({ each: true }) @Type(() => ProviderScope) scopes: ProviderScope[];
  @ValidateNested() @Type(() => RefreshPolicy) refresh: RefreshPolicy;
  @IsOptional() @IsArray() @ValidateNested({ each: true }) @Type(() => SessionParam) sessionParams?: SessionParam[];
  @IsOptional() @ValidateNested() @Type(() => CaptureSettings) capture?: CaptureSettings;
}

export class ApiKeySettings {
  /** How the key is presented: HTTP Basic `username:api_key` (ClickSend). */
  @IsIn(['basic']) scheme: 'basic';
  @IsBoolean() requiresUsername: boolean;
  /** Checked on connect, before anything is stored. */
  @IsUrl(url) verifyUrl: string;
}

export class ProbeSettings {
  @IsUrl(url) url: string;
  @IsIn(['GET']) method: 'GET';
  /** HTTP statuses that mean the credential is revoked or invalid (terminal), not a transient failure. */
  @IsArray() @ArrayMinSize(1) @IsInt({ each: true }) revokedStatuses: number[];
}

export class ProviderDefinition {
  @Matches(PROVIDER_KEY_PATTERN) key: string;
  @IsString() @MaxLength(80) displayName: string;
  @IsIn(['oauth2', 'api_key']) authModel: 'oauth2' | 'api_key';
  @IsOptional() @ValidateNested() @Type(() => OAuth2Settings) oauth2?: OAuth2Settings;
  @IsOptional() @ValidateNested() @Type(() => ApiKeySettings) apiKey?: ApiKeySettings;
  @ValidateNested() @Type(() => ProbeSettings) probe: ProbeSettings;
  /** Facts not yet confirmed against the provider; kept as configuration so an operator can correct them. */
  @IsOptional() @IsArray() @IsString({ each: true }) unconfirmed?: string[];
  @IsOptional() @IsArray() @IsString({ each: true }) notes?: string[];
}
