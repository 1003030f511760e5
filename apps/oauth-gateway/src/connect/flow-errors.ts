import type { CONNECT_FAILURE_REASONS } from '@authpipe/contracts';

type FailureReason = (typeof CONNECT_FAILURE_REASONS)[number];

/** Why a browser step of the connect flow stopped; rendered as a page and posted to the opener. */
export class ConnectFlowError extends Error {
  readonly code = 'CONNECT_FLOW_ERROR';
  /** Where to post the failure, when the flow got far enough to know. */
  readonly returnOrigin?: string;
  constructor(
    readonly reason: FailureReason | 'invalid_session' | 'integration_missing',
    readonly status: number,
    readonly userMessage: string,
    options?: { cause?: unknown; returnOrigin?: string },
  ) {
    super(`connect flow failed: ${reason}`, options);
    this.returnOrigin = options?.returnOrigin;
    this.name = ConnectFlowError.name;
  }
}
