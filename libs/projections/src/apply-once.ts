import type { RecordedEvent } from '@authpipe/contracts';
import { DuplicateKeyError, Filter, ReadModelCollection, Update } from '@authpipe/read-models';

/**
 * Apply an update to one document only if the event is newer than the last event applied to it.
 * The guard is part of the filter, so the check and the write are one atomic operation in MongoDB and in the
 * in-memory store. With upsert, an already-applied event makes the upsert collide with the existing _id, which
 * the store reports as DuplicateKeyError: that is the "already applied" answer, not a failure.
 * @returns whether the document changed.
 */
export async function applyOnce(
  collection: ReadModelCollection,
  id: string,
  event: RecordedEvent,
  update: Update,
  options: { upsert: boolean },
): Promise<boolean> {
  const position = Number(event.position);
  const filter: Filter = { _id: id, $or: [{ lastPosition: { $lt: position } }, { lastPosition: { $exists: false } }] };
  const set = { ...((update.$set as Record<string, unknown>) ?? {}), lastPosition: position, lastEventId: event.eventId };
  try {
    const result = await collection.updateOne(filter, { ...update, $set: set }, { upsert: options.upsert });
    return result.modifiedCount + result.upsertedCount > 0;
  } catch (err) {
    if (err instanceof DuplicateKeyError) return false;
    throw err;
  }
}
