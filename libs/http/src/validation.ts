import { ValidationError, ValidationPipe } from '@nestjs/common';
import { FieldProblem, Problems } from './problem';

function fieldProblems(errors: ValidationError[], prefix = ''): FieldProblem[] {
  return errors.flatMap((e) => {
    const field = prefix ? `${prefix}.${e.property}` : e.property;
    const own = e.constraints ? Object.values(e.constraints).map((message) => ({ field, message: message.replace(/\$value/g, '') })) : [];
    return [...own, ...fieldProblems(e.children ?? [], field)];
  });
}

/** Body and query validation: unknown fields rejected, every bad field named, values never echoed. */
export function problemValidationPipe(): ValidationPipe {
  return new ValidationPipe({
    whitelist: true,
    forbidNonWhitelisted: true,
    transform: true,
    validationError: { target: false, value: false },
    exceptionFactory: (errors) => Problems.invalidRequest(fieldProblems(errors)),
  });
}
