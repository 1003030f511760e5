import type { StreamRevisions } from '@authpipe/event-store';
import { DuplicateKeyError, Filter, ReadModelStore, Update } from '@authpipe/read-models';

/** Per stream, the revision of the last event a projector handled: kept in the read-model store, beside its effects. */
export const STREAM_CHECKPOINTS = 'stream_checkpoints';

export type StreamCheckpoint = {
  /** `<projector>:<streamId>` */
  _id: string;
  projector: string;
  streamId: string;
  revision: number;
};

export const streamCheckpointId = (projector: string, streamId: string): string => `${projector}:${streamId}`;

/**
 * A projector's per-stream revisions in its read-model store. They are written after the projections' documents,
 * not atomically with them: a crash in between makes the projector handle that event again after the restart,
 * which the per-document guards (applyOnce, applyOncePerStream) turn into no change. Saves only move forward.
 */
export class ReadModelStreamRevisions implements StreamRevisions {
  constructor(
    private readonly store: ReadModelStore,
    private readonly projector: string,
  ) {}

  async load(streamId: string): Promise<bigint | undefined> {
    const checkpoint = await this.store.collection<StreamCheckpoint>(STREAM_CHECKPOINTS).findOne({ _id: streamCheckpointId(this.projector, streamId) });
    return checkpoint ? BigInt(checkpoint.revision) : undefined;
  }

  async save(streamId: string, revision: bigint): Promise<void> {
    await upsert(
      this.store,
      { _id: streamCheckpointId(this.projector, streamId) },
      { $max: { revision: toNumber(revision) }, $setOnInsert: { projector: this.projector, streamId } },
    );
  }
}

/**
 * Two upserts of one new _id at once (a live projector and a rebuild's reset) can both try the insert; the loser
 * gets a duplicate key. MongoDB retries that itself for an equality on _id, other stores may not (FerretDB): the
 * document exists now, so the same update once more is an update.
 */
async function upsert(store: ReadModelStore, filter: Filter, update: Update): Promise<void> {
  const checkpoints = store.collection<StreamCheckpoint>(STREAM_CHECKPOINTS);
  try {
    await checkpoints.updateOne(filter, update, { upsert: true });
  } catch (err) {
    if (!(err instanceof DuplicateKeyError)) throw err;
    await checkpoints.updateOne(filter, update, { upsert: true });
  }
}

function toNumber(revision: bigint): number {
  if (revision > BigInt(Number.MAX_SAFE_INTEGER)) throw new RangeError(`revision ${revision} does not fit a read-model number`);
  return Number(revision);
}

/**
 * Set a projector's per-stream revisions to what its read models now reflect (after a rebuild swapped them in):
 * `scope` 'all' also deletes the revisions of streams the rebuild did not see; 'listed' touches only the streams
 * given (a tenant's). Revisions left ahead of the documents would make the projector skip events they lack.
 */
export async function resetStreamCheckpoints(
  store: ReadModelStore,
  projector: string,
  revisions: ReadonlyMap<string, bigint>,
  scope: 'all' | 'listed',
): Promise<void> {
  const checkpoints = store.collection<StreamCheckpoint>(STREAM_CHECKPOINTS);
  if (scope === 'all') await checkpoints.deleteMany({ projector });
  for (const [streamId, revision] of revisions) {
    await upsert(store, { _id: streamCheckpointId(projector, streamId) }, { $set: { projector, streamId, revision: toNumber(revision) } });
  }
}
