import { IsInt, Max, Min } from 'class-validator';
import { PlatformConfig } from '@authpipe/config';
import { withHealthServerSettings, withOperationsSettings } from '@authpipe/platform';

export class HealthMonitorConfig extends withHealthServerSettings(withOperationsSettings(PlatformConfig)) {
  /** Every active connection is probed once per interval, at a stable offset inside it (spread evenly). */
  @IsInt() @Min(1) @Max(86_400) PROBE_INTERVAL_SECONDS: number = 900;
  /** Probes running at once against one provider; the others wait their turn. */
  @IsInt() @Min(1) @Max(256) PROBE_CONCURRENCY_PER_PROVIDER: number = 8;
  /** Transient probe failures (5xx, 429, network, timeout) in a row before a connection is Degraded. */
  @IsInt() @Min(1) @Max(100) PROBE_DEGRADED_AFTER: number = 3;
  /**
   * A refreshable connection whose refresh was still failing this long after its access token expired is revoked
   * as `expired`. Long enough to ride out a provider outage.
   */
  @IsInt() @Min(0) @Max(30 * 86_400) PROBE_EXPIRED_REFRESH_GRACE_SECONDS: number = 86_400;
}
