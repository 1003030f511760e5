import { HttpException } from '@nestjs/common';
import { PROVIDER_KEY_PATTERN } from '@authpipe/contracts';

/** One invalid field of a request. */
export interface FieldProblem {
  field: string;
  message: string;
}

/**
 * An RFC 9457 problem with a stable machine-readable `code`. `detail` is written for people and never contains a
 * secret or echoes request values.
 */
export class Problem extends HttpException {
  constructor(
    readonly statusCode: number,
    readonly code: string,
    readonly title: string,
    readonly detail?: string,
    readonly errors?: FieldProblem[],
    readonly headers: Record<string, string> = {},
  ) {
    super({ code, title, detail }, statusCode);
    this.name = Problem.name;
  }

  body(instance: string): Record<string, unknown> {
    return {
      type: `https://authpipe.dev/problems/${this.code.toLowerCase().replace(/_/g, '-')}`,
      title: this.title,
      status: this.statusCode,
      code: this.code,
      ...(this.detail ? { detail: this.detail } : {}),
      ...(this.errors?.length ? { errors: this.errors } : {}),
      instance,
    };
  }
}

export const Problems = {
  invalidRequest: (errors: FieldProblem[]) =>
    new Problem(400, 'INVALID_REQUEST', 'The request is invalid', errors.map((e) => `${e.field}: ${e.message}`).join('; '), errors),
  unauthorized: (detail = 'a valid API key is required: Authorization: Bearer <key>') =>
    new Problem(401, 'UNAUTHORIZED', 'Authentication required', detail, undefined, { 'WWW-Authenticate': 'Bearer realm="authpipe"' }),
  forbidden: (detail: string) => new Problem(403, 'FORBIDDEN', 'Not allowed', detail),
  notFound: (code: string, detail: string) => new Problem(404, code, 'Not found', detail),
  conflict: (code: string, detail: string) => new Problem(409, code, 'Conflict', detail),
  /** The key is quoted only when it is shaped like one: a detail never carries arbitrary input (a script tag, say). */
  unknownProvider: (key: string) =>
    new Problem(404, 'UNKNOWN_PROVIDER', 'Not found', `no provider ${PROVIDER_KEY_PATTERN.test(key) ? `"${key}"` : 'by that name'}; GET /v1/providers lists them`),
  unavailable: (detail: string) => new Problem(503, 'UNAVAILABLE', 'Temporarily unavailable', detail, undefined, { 'Retry-After': '1' }),
};
