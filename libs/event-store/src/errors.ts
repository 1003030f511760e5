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

/**
 * The eventId of an event being appended is already the id of another event in the store (not a retry of this
 * append): the store drops an event whose id it has seen, so the event could not be stored. Nothing was written;
 * retrying the same append fails the same way: the writer must give the event an id of its own.
 */
export class DuplicateEventIdError extends Error {
  readonly code = 'DUPLICATE_EVENT_ID';
  constructor(
    readonly streamId: string,
    readonly eventId: string,
    /** Where the event that has the id is stored. */
    readonly storedAt: bigint,
  ) {
    super(`append to ${streamId}: event ${eventId} reuses the id of another event, stored at position ${storedAt}`);
    this.name = DuplicateEventIdError.name;
  }
}
