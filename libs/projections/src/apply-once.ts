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

/**
 * For a document that events of many streams update (a tenant's hourly counters): apply the update only if the
 * document has not yet seen this event's stream at this revision or later. The document keeps, per stream, the
 * last revision applied (`revisions.<streamId>`), in the same atomic update, so a redelivered event changes nothing
 * whatever the order in which the streams' events arrive (the projector hands each stream's events in order).
 * @returns whether the document changed.
 */
export async function applyOncePerStream(
  collection: ReadModelCollection,
  id: string,
  event: RecordedEvent,
  update: Update,
  options: { upsert: boolean },
): Promise<boolean> {
  const field = `revisions.${event.streamId}`;
  const revision = Number(event.revision);
  const filter: Filter = { _id: id, $or: [{ [field]: { $lt: revision } }, { [field]: { $exists: false } }] };
  const set = { ...((update.$set as Record<string, unknown>) ?? {}), [field]: revision };
  try {
    const result = await collection.updateOne(filter, { ...update, $set: set }, { upsert: options.upsert });
    return result.modifiedCount + result.upsertedCount > 0;
  } catch (err) {
    if (err instanceof DuplicateKeyError) return false;
    throw err;
  }
}
