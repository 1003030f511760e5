import { ArgumentMetadata, ValidationError, ValidationPipe } from '@nestjs/common';
import { unsafePayloadShape } from '@authpipe/messaging';
import { FieldProblem, Problems } from './problem';

function fieldProblems(errors: ValidationError[], prefix = ''): FieldProblem[] {
  return errors.flatMap((e) => {
    const field = prefix ? `${prefix}.${e.property}` : e.property;
    const own = e.constraints ? Object.values(e.constraints).map((message) => ({ field, message: message.replace(/\$value/g, '') })) : [];
    return [...own, ...fieldProblems(e.children ?? [], field)];
  });
}

/**
 * A body or query that would break the transformation before validation (prototype keys, absurd nesting) is refused
 * first, as INVALID_REQUEST: class-transformer throws a TypeError on `{"constructor": {}}` and overflows its stack on
 * a body nested thousands deep, and either would be a 500.
 */
class ProblemValidationPipe extends ValidationPipe {
  override async transform(value: unknown, metadata: ArgumentMetadata): Promise<unknown> {
    if (metadata.type === 'body' || metadata.type === 'query') {
      const unsafe = unsafePayloadShape(value);
      if (unsafe) throw Problems.invalidRequest([{ field: metadata.type, message: unsafe }]);
    }
    return super.transform(value, metadata);
  }
}

/** Body and query validation: unknown fields rejected, every bad field named, values never echoed. */
export function problemValidationPipe(): ValidationPipe {
  return new ProblemValidationPipe({
    whitelist: true,
    forbidNonWhitelisted: true,
    transform: true,
    validationError: { target: false, value: false },
    exceptionFactory: (errors) => Problems.invalidRequest(fieldProblems(errors)),
  });
}
