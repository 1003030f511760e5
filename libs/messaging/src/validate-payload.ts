import 'reflect-metadata';
import { plainToInstance } from 'class-transformer';
import { validateSync, ValidationError } from 'class-validator';
import { RpcErrorCodes } from '@authpipe/contracts';
import { unsafePayloadShape } from './payload-shape';
import { RpcError } from './rpc-error';

function flatten(errors: ValidationError[], prefix = ''): string[] {
  return errors.flatMap((e) => {
    const path = prefix ? `${prefix}.${e.property}` : e.property;
    const own = e.constraints ? [`${path} is invalid (${Object.keys(e.constraints).join(', ')})`] : [];
    return [...own, ...flatten(e.children ?? [], path)];
  });
}

/**
 * Validate a message against its contract class; unknown fields are rejected. The error names fields and rules,
 * never values, so a secret in a malformed message is not echoed.
 */
export function validatePayload<T extends object>(cls: new () => T, payload: unknown): T {
  if (typeof payload !== 'object' || payload === null || Array.isArray(payload)) {
    throw new RpcError(RpcErrorCodes.InvalidRequest, 'the message body must be a JSON object');
  }
  const unsafe = unsafePayloadShape(payload);
  if (unsafe) throw new RpcError(RpcErrorCodes.InvalidRequest, `the message body is refused: ${unsafe}`);
  const instance = plainToInstance(cls, payload);
  const errors = validateSync(instance, { whitelist: true, forbidNonWhitelisted: true });
  if (errors.length) throw new RpcError(RpcErrorCodes.InvalidRequest, flatten(errors).join('; '));
  return instance;
}
