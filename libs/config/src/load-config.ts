import 'reflect-metadata';
import { plainToInstance } from 'class-transformer';
import { validateSync, ValidationError } from 'class-validator';

/** A setting is missing or wrong: the message names every bad variable and never echoes its value. */
export class ConfigError extends Error {
  readonly code = 'INVALID_CONFIGURATION';
  constructor(readonly problems: string[]) {
    super(`invalid configuration:\n  - ${problems.join('\n  - ')}`);
    this.name = ConfigError.name;
  }
}

function describe(errors: ValidationError[]): string[] {
  return errors.map((e) => `${e.property}: ${Object.values(e.constraints ?? {}).join('; ').replace(/\$value/g, '')}`);
}

/**
 * Parse the environment into a config class whose property names are the variable names and whose defaults are
 * property initialisers. Values are converted to the declared types (numbers, booleans). Fails fast.
 */
export function loadConfig<T extends object>(schema: new () => T, env: NodeJS.ProcessEnv = process.env): T {
  const defined = Object.fromEntries(Object.entries(env).filter(([, v]) => v !== undefined && v !== ''));
  const config = plainToInstance(schema, defined, { enableImplicitConversion: true, exposeDefaultValues: true });
  const errors = validateSync(config, { whitelist: true, validationError: { target: false, value: false } });
  if (errors.length) throw new ConfigError(describe(errors));
  return config;
}
