import { ValidateBy, ValidationOptions } from 'class-validator';

const KEY = /^[a-z][a-z0-9_]{0,39}$/;
const VALUE = /^[\x20-\x7E]{0,200}$/;

/**
 * A small map of non-secret facts: at most 20 entries, keys like `guild_id`, printable values up to 200
 * characters, and no key that looks like a secret.
 */
export function IsFactMap(options?: ValidationOptions): PropertyDecorator {
  return ValidateBy(
    {
      name: 'isFactMap',
      validator: {
        validate: (value: unknown) => {
          if (typeof value !== 'object' || value === null || Array.isArray(value)) return false;
          const entries = Object.entries(value);
          return (
            entries.length <= 20 &&
            entries.every(([k, v]) => KEY.test(k) && !/token|secret|password|key|code/i.test(k) && typeof v === 'string' && VALUE.test(v))
          );
        },
        defaultMessage: () => '$property must map up to 20 keys like guild_id to printable strings (no secret-like keys)',
      },
    },
    options,
  );
}
