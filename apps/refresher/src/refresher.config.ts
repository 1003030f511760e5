import { IsIn, IsInt, Matches, Max, Min, Validate, ValidationArguments, ValidatorConstraint, ValidatorConstraintInterface } from 'class-validator';
import { PlatformConfig } from '@authpipe/config';
import { withHealthServerSettings, withOperationsSettings } from '@authpipe/platform';

/** A lease must outlive one attempt (the provider call and the store), or a live holder would be superseded. */
@ValidatorConstraint({ name: 'leaseCoversAttempt' })
class LeaseCoversAttempt implements ValidatorConstraintInterface {
  validate(lease: number, args: ValidationArguments): boolean {
    const config = args.object as RefresherConfig;
    return lease >= config.PROVIDER_TIMEOUT_MS + config.AUTHPIPE_RPC_TIMEOUT_MS;
  }
  defaultMessage(): string {
    return 'must be at least PROVIDER_TIMEOUT_MS + AUTHPIPE_RPC_TIMEOUT_MS (one attempt: the provider call, then the store)';
  }
}

export class RefresherConfig extends withHealthServerSettings(withOperationsSettings(PlatformConfig)) {
  /**
   * Where the single-flight lock lives: `jetstream-kv` (shared by every replica; the default) or `in-process`
   * (one replica only: no other process is excluded).
   */
  @IsIn(['jetstream-kv', 'in-process']) REFRESH_LOCK: 'jetstream-kv' | 'in-process' = 'jetstream-kv';
  /** JetStream KV bucket of the refresh locks. */
  @Matches(/^[A-Za-z0-9_-]{1,64}$/) REFRESH_LOCK_BUCKET: string = 'authpipe_refresh_locks';
  /** JetStream replicas of the lock bucket (1 on one server, 3 in a cluster). Applies when the bucket is created. */
  @IsInt() @Min(1) @Max(5) REFRESH_LOCK_KV_REPLICAS: number = 1;
  /** A holder that stops renewing (it died) is superseded after this long. Renewed before every attempt. */
  @IsInt() @Min(1_000) @Max(600_000) @Validate(LeaseCoversAttempt) REFRESH_LOCK_LEASE_MS: number = 30_000;
  /** How often a waiting on-demand request looks at a lock held by another worker. */
  @IsInt() @Min(10) @Max(5_000) REFRESH_LOCK_POLL_MS: number = 100;
  /**
   * How long an on-demand refresh waits (for another worker's lock, and for its own flight) before answering
   * UNAVAILABLE; below query-api's 15 s request timeout. The flight itself goes on.
   */
  @IsInt() @Min(100) @Max(60_000) REFRESH_ON_DEMAND_WAIT_MS: number = 10_000;

  /** Attempts of one refresh flight on transient failures (5xx, 429, network), the first included. */
  @IsInt() @Min(1) @Max(20) REFRESH_MAX_ATTEMPTS: number = 4;
  /** Exponential backoff between attempts: base x 2^(attempt-1), with jitter, capped at the maximum. */
  @IsInt() @Min(10) @Max(60_000) REFRESH_BACKOFF_BASE_MS: number = 1_000;
  /** Cap of one backoff delay; a Retry-After longer than this ends the flight instead of holding the lock. */
  @IsInt() @Min(10) @Max(300_000) REFRESH_BACKOFF_MAX_MS: number = 30_000;
  /** After a flight that failed for good (attempts exhausted, invalid_client, unexpected), the next one waits this long. */
  @IsInt() @Min(1) @Max(86_400) REFRESH_FAILURE_COOLDOWN_SECONDS: number = 300;

  /** How often the scheduler looks for due connections. */
  @IsInt() @Min(50) @Max(60_000) REFRESH_SCAN_INTERVAL_MS: number = 1_000;
  /** Scheduled refreshes in flight at once in this replica. */
  @IsInt() @Min(1) @Max(1_000) REFRESH_CONCURRENCY: number = 32;
}
