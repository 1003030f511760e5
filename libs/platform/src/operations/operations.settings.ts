import { IsIn, IsInt, IsOptional, IsString, Max, Min, Validate, ValidationArguments, ValidatorConstraint, ValidatorConstraintInterface } from 'class-validator';
import type { PlatformConfig } from '@authpipe/config';
import { LOG_FORMATS, LogFormat } from '../logging/platform-logger';

// Mixins, so that each app's one config class (the schema deploy/k8s is checked against) holds these settings
// whatever it extends (PlatformConfig, ReadModelConfig).
// eslint-disable-next-line @typescript-eslint/no-explicit-any
type ConfigClass<T = PlatformConfig> = new (...args: any[]) => T;

/** Logs, shutdown: every app. */
export interface OperationsSettings {
  AUTHPIPE_LOG_FORMAT?: LogFormat;
  AUTHPIPE_SHUTDOWN_TIMEOUT_MS: number;
}

/** The health and metrics server of an app without an HTTP port of its own. */
export interface HealthServerSettings {
  HEALTH_PORT: number;
  AUTHPIPE_BIND_HOST: string;
}

@ValidatorConstraint({ name: 'shutdownCoversGrace' })
class ShutdownCoversGrace implements ValidatorConstraintInterface {
  validate(timeout: number, args: ValidationArguments): boolean {
    return timeout >= (args.object as PlatformConfig).AUTHPIPE_SHUTDOWN_GRACE_MS + 1_000;
  }
  defaultMessage(): string {
    return 'must be at least AUTHPIPE_SHUTDOWN_GRACE_MS + 1000 (the NATS grace period is part of the shutdown)';
  }
}

/** Adds AUTHPIPE_LOG_FORMAT and AUTHPIPE_SHUTDOWN_TIMEOUT_MS to an app's config class. */
export function withOperationsSettings<TBase extends ConfigClass>(Base: TBase) {
  class WithOperationsSettings extends Base implements OperationsSettings {
    /** `json` (one object per line) or `pretty`; unset: pretty on a terminal, json anywhere else. */
    @IsOptional() @IsIn(LOG_FORMATS) AUTHPIPE_LOG_FORMAT?: LogFormat;
    /**
     * The whole shutdown on SIGTERM, the NATS grace period included: in-flight work (refresh flights...) still
     * running after it is abandoned and the app exits 1. Keep it below the orchestrator's kill delay (Kubernetes:
     * terminationGracePeriodSeconds, 30 s).
     */
    @IsInt() @Min(1_000) @Max(600_000) @Validate(ShutdownCoversGrace) AUTHPIPE_SHUTDOWN_TIMEOUT_MS: number = 25_000;
  }
  return WithOperationsSettings;
}

/** Adds HEALTH_PORT and AUTHPIPE_BIND_HOST (the health server's interface) to a NATS-only app's config class. */
export function withHealthServerSettings<TBase extends ConfigClass>(Base: TBase) {
  class WithHealthServerSettings extends Base implements HealthServerSettings {
    /** Port of GET /health/live, /health/ready and /metrics; 0 = no health server (several apps on one machine). */
    @IsInt() @Min(0) @Max(65535) HEALTH_PORT: number = 9000;
    /** Interface the health server binds to (0.0.0.0 in a container, for the kubelet's probes and Prometheus). */
    @IsString() AUTHPIPE_BIND_HOST: string = '127.0.0.1';
  }
  return WithHealthServerSettings;
}
