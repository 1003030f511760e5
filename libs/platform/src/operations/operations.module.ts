import { DynamicModule, Global, Module } from '@nestjs/common';
import { TerminusModule } from '@nestjs/terminus';
import type { PlatformConfig } from '@authpipe/config';
import { Operations, OPERATIONS_OPTIONS } from './operations';
import type { OperationsSettings } from './operations.settings';

/**
 * Health checks (terminus), metrics registration points and the shutdown order of an app. Imported once by every
 * app module. Global: app providers inject Operations to register their checks, drains and closers, and Nest shuts
 * global modules down after the app's own, so connections close after everything else has stopped.
 * It declares no controller: the endpoints are served before Nest's router (operations-http.ts).
 */
@Global()
@Module({})
export class OperationsModule {
  static forApp(app: string, config: PlatformConfig & Partial<OperationsSettings>): DynamicModule {
    return {
      module: OperationsModule,
      global: true,
      imports: [TerminusModule.forRoot({ errorLogStyle: 'json' })],
      providers: [{ provide: OPERATIONS_OPTIONS, useValue: { app, shutdownTimeoutMs: config.AUTHPIPE_SHUTDOWN_TIMEOUT_MS ?? 25_000 } }, Operations],
      exports: [Operations],
    };
  }
}
