import { IsInt, Max, Min } from 'class-validator';
import { PlatformConfig } from '@authpipe/config';

export class RefresherConfig extends PlatformConfig {
  /** Timeout of calls to providers' token endpoints. */
  @IsInt() @Min(500) @Max(60_000) PROVIDER_TIMEOUT_MS: number = 10_000;
}
