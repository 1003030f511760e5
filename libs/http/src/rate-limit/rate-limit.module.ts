import { DynamicModule, Module } from '@nestjs/common';
import { ThrottlerModule } from '@nestjs/throttler';
import { RATE_LIMIT_SETTINGS, RateLimitSettings } from './rate-limit.guard';

/**
 * The limits and their in-memory counters. The app registers the guard itself, beside its API_KEY_AUTHENTICATOR:
 * `{ provide: APP_GUARD, useClass: RateLimitGuard }` (global, so it runs before the routes' own guards).
 */
@Module({})
export class RateLimitModule {
  static forRoot(settings: RateLimitSettings): DynamicModule {
    return {
      module: RateLimitModule,
      // blockDuration 0: a sliding window; requests over the limit are refused and not counted.
      imports: [ThrottlerModule.forRoot({ throttlers: [{ name: 'default', ttl: 60_000, limit: settings.perMinute, blockDuration: 0 }] })],
      providers: [{ provide: RATE_LIMIT_SETTINGS, useValue: settings }],
      exports: [RATE_LIMIT_SETTINGS],
    };
  }
}
