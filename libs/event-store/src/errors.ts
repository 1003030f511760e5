/** A stale expected revision: someone else appended first. Nothing was written. */
export class WrongExpectedRevisionError extends Error {
  readonly code = 'WRONG_EXPECTED_REVISION';
  constructor(
    readonly streamId: string,
    readonly expected: string,
    options?: { cause?: unknown },
  ) {
    super(`stream ${streamId} is not at the expected revision ${expected}`, options);
    this.name = WrongExpectedRevisionError.name;
  }
}

/** The store could not be reached or failed; safe to retry. */
export class EventStoreUnavailableError extends Error {
  readonly code = 'EVENT_STORE_UNAVAILABLE';
  constructor(message: string, options?: { cause?: unknown }) {
    super(message, options);
    this.name = EventStoreUnavailableError.name;
  }
}
