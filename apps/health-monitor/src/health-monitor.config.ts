import { IsInt, Max, Min } from 'class-validator';
import { PlatformConfig } from '@authpipe/config';

export class HealthMonitorConfig extends PlatformConfig {
  /** Every active connection is probed once per interval, spread evenly over it. */
  @IsInt() @Min(5) @Max(86_400) PROBE_INTERVAL_SECONDS: number = 900;
  /** Timeout of one probe request. */
  @IsInt() @Min(500) @Max(60_000) PROBE_TIMEOUT_MS: number = 10_000;
}
