import { ArgumentMetadata, Injectable, PipeTransform } from '@nestjs/common';
import { validatePayload } from './validate-payload';

/** Validates `@Payload()` against its declared contract class; failures are INVALID_REQUEST RpcErrors. */
@Injectable()
export class RpcPayloadPipe implements PipeTransform {
  transform(value: unknown, metadata: ArgumentMetadata): unknown {
    const cls = metadata.metatype;
    if (!cls || cls === Object || metadata.type !== 'body') return value;
    return validatePayload(cls as new () => object, value);
  }
}
