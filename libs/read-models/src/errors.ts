/** An insert or upsert hit an existing _id or unique index value. */
export class DuplicateKeyError extends Error {
  readonly code = 'DUPLICATE_KEY';
  constructor(
    readonly collection: string,
    options?: { cause?: unknown },
  ) {
    super(`duplicate key in read model ${collection}`, options);
    this.name = DuplicateKeyError.name;
  }
}

/** The read-model store could not be reached or failed; safe to retry. */
export class ReadModelUnavailableError extends Error {
  readonly code = 'READ_MODEL_UNAVAILABLE';
  constructor(message: string, options?: { cause?: unknown }) {
    super(message, options);
    this.name = ReadModelUnavailableError.name;
  }
}
