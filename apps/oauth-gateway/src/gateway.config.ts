import { IsInt, IsString, IsUrl, Max, Min } from 'class-validator';
import { PlatformConfig } from '@authpipe/config';
import { withOperationsSettings } from '@authpipe/platform';

export class GatewayConfig extends withOperationsSettings(PlatformConfig) {
  @IsInt() @Min(1) @Max(65535) GATEWAY_PORT: number = 3000;
  /** Interface the HTTP server binds to. */
  @IsString() AUTHPIPE_BIND_HOST: string = '127.0.0.1';
  /** Public base URL of the gateway: callback URLs (registered at providers) and connect links derive from it. */
  @IsUrl({ require_tld: false, protocols: ['http', 'https'], require_protocol: true }) AUTHPIPE_PUBLIC_URL: string = 'http://127.0.0.1:3000';
  /** Lifetime of a connect session handed to a browser; at most 10 minutes. */
  @IsInt() @Min(1) @Max(600) CONNECT_SESSION_TTL_SECONDS: number = 600;
  /** Lifetime of an authorization request's state; at most 10 minutes. */
  @IsInt() @Min(1) @Max(600) OAUTH_STATE_TTL_SECONDS: number = 600;
  /** Requests per minute per tenant (API key), per replica. */
  @IsInt() @Min(1) @Max(1_000_000) RATE_LIMIT_PER_MINUTE: number = 600;
  /** Requests per minute per client IP without a valid API key (the browser steps), per replica. */
  @IsInt() @Min(1) @Max(1_000_000) RATE_LIMIT_ANONYMOUS_PER_MINUTE: number = 120;
  /** Reverse proxies in front of the app whose X-Forwarded-For is trusted for the client IP (0: none). */
  @IsInt() @Min(0) @Max(10) AUTHPIPE_TRUST_PROXY_HOPS: number = 0;
}
