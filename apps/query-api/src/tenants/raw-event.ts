import type { RecordedEvent } from '@authpipe/contracts';

/** A stored event as ops read it: positions as strings (JSON has no bigint), everything else as stored. */
export const rawEvent = (e: RecordedEvent) => ({
  position: e.position.toString(),
  revision: e.revision.toString(),
  streamId: e.streamId,
  eventId: e.eventId,
  type: e.type,
  data: e.data,
  metadata: e.metadata,
});
