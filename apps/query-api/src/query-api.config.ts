import { IsIn, IsInt, IsString, Max, Min, MinLength } from 'class-validator';
import { ReadModelConfig } from '@authpipe/config';
import { withOperationsSettings } from '@authpipe/platform';

export class QueryApiConfig extends withOperationsSettings(ReadModelConfig) {
  @IsInt() @Min(1) @Max(65535) QUERY_API_PORT: number = 3001;
  @IsString() AUTHPIPE_BIND_HOST: string = '127.0.0.1';
  /** The operator's credential for /v1/admin (creating tenants and their API keys). Separate from tenant keys. */
  @IsString() @MinLength(32, { message: 'must be at least 32 characters (e.g. openssl rand -base64 32)' }) AUTHPIPE_ADMIN_TOKEN: string;
  /**
   * How long query-api waits for its projector to reach a position: a command for its own event, so that the caller
   * reads its write; a read that would answer "not found" (a connection, a credential) for the history's head, so
   * that it sees what other apps just wrote (a Connected). A read still behind after it answers 503 UNAVAILABLE.
   */
  @IsInt() @Min(0) @Max(30_000) READ_YOUR_WRITES_TIMEOUT_MS: number = 3_000;
  /** Requests per minute per tenant (API key) or for the operator (admin token), per replica. */
  @IsInt() @Min(1) @Max(1_000_000) RATE_LIMIT_PER_MINUTE: number = 600;
  /** Requests per minute per client IP without a valid API key or admin token, per replica. */
  @IsInt() @Min(1) @Max(1_000_000) RATE_LIMIT_ANONYMOUS_PER_MINUTE: number = 120;
  /** Reverse proxies in front of the app whose X-Forwarded-For is trusted for the client IP (0: none). */
  @IsInt() @Min(0) @Max(10) AUTHPIPE_TRUST_PROXY_HOPS: number = 0;
  /** Interval of the comment line that keeps an idle event stream open through proxies. */
  @IsInt() @Min(1) @Max(300) EVENT_STREAM_HEARTBEAT_SECONDS: number = 15;
  /** Relay connection lifecycle events to the JetStream stream AUTHPIPE_INTEGRATION for outside subscribers. */
  @IsIn(['on', 'off']) INTEGRATION_RELAY: 'on' | 'off' = 'on';
  /** How long AUTHPIPE_INTEGRATION keeps an event (0 = no limit); applies when the relay creates the stream. */
  @IsInt() @Min(0) @Max(87_600) INTEGRATION_STREAM_MAX_AGE_HOURS: number = 168;
}
