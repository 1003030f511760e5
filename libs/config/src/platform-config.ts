import { IsIn, IsInt, IsOptional, IsString, Matches, Max, Min, ValidateIf } from 'class-validator';

/** Settings every app reads. Defaults are the embedded, one-machine setup. */
export class PlatformConfig {
  /** Comma-separated NATS server URLs. */
  @Matches(/^(nats|tls|ws|wss):\/\/[^,\s]+(,(nats|tls|ws|wss):\/\/[^,\s]+)*$/, { message: 'must be nats://host:port[,nats://...]' })
  NATS_URL: string = 'nats://127.0.0.1:4222';

  /** Per-app NATS credentials (deploy/ gives each app its own user and subject permissions). */
  @IsOptional() @IsString() NATS_USER?: string;
  @IsOptional() @IsString() NATS_PASSWORD?: string;

  /** Where lifecycle events are kept: NATS JetStream (embedded) or EventStoreDB (production). */
  @IsIn(['jetstream', 'eventstoredb']) AUTHPIPE_EVENT_STORE: 'jetstream' | 'eventstoredb' = 'jetstream';
  @ValidateIf((c: PlatformConfig) => c.AUTHPIPE_EVENT_STORE === 'eventstoredb')
  @Matches(/^esdb(\+discover)?:\/\//, { message: 'must be an esdb:// connection string when AUTHPIPE_EVENT_STORE=eventstoredb' })
  EVENTSTORE_URL?: string;
  /** JetStream stream that holds the events (embedded event store). */
  @Matches(/^[A-Za-z0-9_-]{1,64}$/) AUTHPIPE_EVENT_STREAM: string = 'AUTHPIPE_EVENTS';

  /** JSON overlay over the built-in provider catalog: tests point providers at local servers, operators at sandboxes. */
  @IsOptional() @IsString() AUTHPIPE_PROVIDERS_FILE?: string;

  @IsIn(['debug', 'log', 'warn', 'error']) AUTHPIPE_LOG_LEVEL: 'debug' | 'log' | 'warn' | 'error' = 'log';

  /** On SIGTERM, how long in-flight NATS requests get to finish after the app stops taking new ones. */
  @IsInt() @Min(0) @Max(60_000) AUTHPIPE_SHUTDOWN_GRACE_MS: number = 2_000;

  /**
   * Bound of one call to a provider (token, revocation, probe and API-key verify endpoints), its answer's body
   * included; a call that takes longer fails as provider_timeout. Well above a healthy provider's latency (well under
   * a second), well below what a caller waiting on an on-demand refresh or a connect page will sit through.
   */
  @IsInt() @Min(500) @Max(60_000) PROVIDER_TIMEOUT_MS: number = 5_000;

  /** Timeout of NATS requests between apps. */
  @IsInt() @Min(100) @Max(120_000) AUTHPIPE_RPC_TIMEOUT_MS: number = 5_000;
}

/** Settings of the apps that keep read models. */
export class ReadModelConfig extends PlatformConfig {
  @IsIn(['memory', 'mongodb']) AUTHPIPE_READ_MODELS: 'memory' | 'mongodb' = 'memory';
  @ValidateIf((c: ReadModelConfig) => c.AUTHPIPE_READ_MODELS === 'mongodb')
  @Matches(/^mongodb(\+srv)?:\/\//, { message: 'must be a mongodb:// URL when AUTHPIPE_READ_MODELS=mongodb' })
  MONGODB_URL?: string;
  @Matches(/^[A-Za-z0-9_-]{1,64}$/) MONGODB_DB: string = 'authpipe';
}
