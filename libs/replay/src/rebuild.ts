import type { RecordedEvent } from '@authpipe/contracts';
import type { EventStore } from '@authpipe/event-store';
import { CHECKPOINTS, Checkpoint, Projection, ReadModelStreamRevisions, resetStreamCheckpoints, STREAM_CHECKPOINTS, TENANTS } from '@authpipe/projections';
import type { Document, Filter, ReadModelStore } from '@authpipe/read-models';
import type { HistoryHead } from './head';
import { ProgressTracker, ReplayProgress } from './progress';
import { RedirectedReadModelStore } from './redirected-store';

/** The projector whose checkpoint a rebuild sets: query-api's (see apps/query-api/src/query-api.module.ts). */
export const DEFAULT_CHECKPOINT = 'query-api';

export interface RebuildOptions {
  events: EventStore;
  store: ReadModelStore;
  /** The projections whose collections are rebuilt: the same list the live projector runs. */
  projections: Projection[];
  /**
   * Replay only the events after this position, over the live collections, instead of rebuilding from the start
   * into fresh ones. Relies on projection idempotency; see the README ("Operations: replay") for what it can fix.
   */
  fromPosition?: bigint;
  /** Rebuild only this tenant's documents (events whose data.tenantId is this tenant). */
  tenantId?: string;
  /** Where the history ends: turns events handled into a percentage and a time left. Without it, no percentage. */
  head?: HistoryHead;
  onProgress?: (progress: ReplayProgress) => void;
  /** At most one progress report per interval (and one at each phase's end). Default 250 ms. */
  progressIntervalMs?: number;
  /** The projector checkpoint to set after a full rebuild. Default `query-api`. */
  checkpointName?: string;
  /** Rebuild into fresh collections, report, drop them: nothing live changes. Not with fromPosition. */
  dryRun?: boolean;
  /**
   * Called once caught up, right before the swap: an in-process caller stops its live projector here (e.g.
   * `() => projector.stop()`), so nothing writes the live collections while they are replaced.
   */
  beforeSwap?: () => Promise<void>;
  /**
   * Called after the swap and the catch-up, also when they failed (if beforeSwap was called): restart the projector
   * here (`() => projector.start()`); it resumes from the checkpoint the rebuild wrote.
   */
  afterSwap?: () => Promise<void>;
  /** Which documents of a live collection belong to a tenant (tenant rebuilds). Default: see defaultTenantFilter. */
  tenantFilter?: (collection: string, tenantId: string) => Filter;
  /** Aborting stops the replay; before the swap that drops the fresh collections and changes nothing live. */
  signal?: AbortSignal;
  /** Fresh collection names are `<live><suffix>`. Default `__rebuild_<epoch ms>`. */
  suffix?: string;
}

/** How one live collection was replaced. */
export interface CollectionOutcome {
  live: string;
  fresh?: string;
  /** Documents rebuilt (for a tenant: that tenant's documents). */
  documents: number;
  /**
   * - `renamed`: the fresh collection replaced the live one in one renameCollection (dropTarget);
   * - `copied`: the engine cannot rename over a collection (FerretDB 1.x): every rebuilt document was written over the
   *   live collection and documents the rebuild did not produce were deleted; not atomic, see `notes`;
   * - `emptied`: the rebuild produced no document, so the live collection was dropped;
   * - `merged`: tenant rebuild: the tenant's documents were replaced one by one, its stale ones deleted;
   * - `discarded`: dry run: the fresh collection was dropped;
   * - `in place`: replay from a position: the live collection was written directly.
   */
  swap: 'renamed' | 'copied' | 'emptied' | 'merged' | 'discarded' | 'in place';
  /** Live documents deleted because the rebuild did not produce them (copied and merged). */
  deleted?: number;
}

export interface RebuildResult {
  mode: 'full' | 'tenant' | 'from-position';
  tenantId?: string;
  fromPosition?: bigint;
  dryRun: boolean;
  /** Position the rebuilt collections reflected when they were swapped in. */
  rebuiltTo: bigint;
  /** Position after catching up over the swapped-in collections with what was appended meanwhile. */
  position: bigint;
  /** Events read by the replay (before the swap). */
  events: number;
  /** Of those, events of the rebuilt tenant (all of them without a tenant). */
  applied: number;
  /** Events applied over the swapped-in collections afterwards. */
  caughtUpEvents: number;
  /** Replay phase only. */
  eventsPerSecond: number;
  durationMs: number;
  collections: CollectionOutcome[];
  /** The checkpoint as written, or null when this mode leaves it alone. */
  checkpoint: { name: string; position: bigint } | null;
  /** Anything an operator should know about how it went (non-atomic swaps, a checkpoint left alone, ...). */
  notes: string[];
}

/** The rebuild failed after the swap had begun: some collections were replaced, some not. */
export class PartialSwapError extends Error {
  readonly code = 'PARTIAL_SWAP';
  constructor(
    readonly swapped: string[],
    readonly notSwapped: string[],
    options: { cause: unknown },
  ) {
    super(
      `swap failed after replacing [${swapped.join(', ')}]; [${notSwapped.join(', ')}] still hold the old documents: ` +
        `${(options.cause as Error)?.message ?? options.cause}. Run the rebuild again.`,
      options,
    );
    this.name = PartialSwapError.name;
  }
}

/**
 * Which documents of a live collection are a tenant's: the tenant document itself in `tenants` (its _id is the
 * tenant id), documents carrying `tenantId` everywhere else. That is how TenantsProjection and ConnectionsProjection
 * shape their documents; a projection shaped otherwise needs its own `tenantFilter`.
 */
export function defaultTenantFilter(collection: string, tenantId: string): Filter {
  return collection === TENANTS ? { _id: tenantId } : { tenantId };
}

/**
 * Rebuild the read models of `projections` from the event history.
 *
 * - Full (no fromPosition, no tenantId): project the whole history into fresh collections `<name>__rebuild_<ts>`
 *   (the projections write through a store that redirects their collection names), until caught up with the
 *   history as it was at the start; then swap each fresh collection over its live one (renameCollection), set the
 *   checkpoint to the position rebuilt, and apply what was appended meanwhile over the swapped-in collections.
 *   The live collections serve, untouched, until the swap; a failure before it drops the fresh collections.
 * - One tenant (tenantId): the same replay, keeping only that tenant's events; then, per collection, every rebuilt
 *   document replaces its live copy and the tenant's live documents the rebuild did not produce are deleted.
 *   Other tenants' documents and the checkpoint are not touched.
 * - From a position (fromPosition): no fresh collections: the events after the position are applied over the live
 *   collections. Projections are idempotent (applyOnce), so documents that already reflect an event do not move;
 *   this fills in events a document missed, e.g. after restoring a backup taken at that position.
 */
export async function rebuildReadModels(options: RebuildOptions): Promise<RebuildResult> {
  if (options.fromPosition !== undefined) return replayFromPosition(options);
  return rebuildIntoFresh(options);
}

interface Replayed {
  last: bigint;
  events: number;
  applied: number;
  elapsedMs: number;
  /** Per stream, the revision of the last event applied: what the projector's stream checkpoints must say after. */
  revisions: Map<string, bigint>;
}

/** Everything shared by the modes. */
class Run {
  readonly started = Date.now();
  readonly checkpointName: string;
  readonly intervalMs: number;
  readonly belongs: (event: RecordedEvent) => boolean;
  readonly notes: string[] = [];

  constructor(readonly options: RebuildOptions) {
    this.checkpointName = options.checkpointName ?? DEFAULT_CHECKPOINT;
    this.intervalMs = options.progressIntervalMs ?? 250;
    const tenantId = options.tenantId;
    this.belongs = tenantId === undefined ? () => true : (event) => (event.data as { tenantId?: unknown }).tenantId === tenantId;
    if (tenantId !== undefined && tenantId.length === 0) throw new RangeError('tenantId must not be empty');
    if (options.projections.length === 0) throw new RangeError('no projection to rebuild');
  }

  /** Every live collection the projections write, once each. */
  liveCollections(): string[] {
    const names = [...new Set(this.options.projections.flatMap((p) => [...p.collections]))];
    for (const own of [CHECKPOINTS, STREAM_CHECKPOINTS]) {
      if (names.includes(own)) throw new Error(`a projection declares the ${own} collection: it belongs to the projector`);
    }
    return names;
  }

  /**
   * Deliver the events after `from` to `apply` until caught up with the history as it was when the subscription
   * started, then stop. Returns the position of the last event handled.
   */
  async replay(phase: ReplayProgress['phase'], from: bigint | undefined, apply: (event: RecordedEvent) => Promise<void>): Promise<Replayed> {
    const { events, signal, head, onProgress } = this.options;
    if (signal?.aborted) throw aborted(signal);
    const start = from ?? 0n;
    const target = head ? await head.position() : undefined;
    const tracker = new ProgressTracker(phase, start, { position: target, contiguous: head?.contiguous ?? false }, onProgress, this.intervalMs);
    tracker.flush();
    let last = start;
    const revisions = new Map<string, bigint>();
    const subscription = events.subscribeToAll(
      async (event) => {
        const mine = this.belongs(event);
        if (mine) {
          await apply(event);
          if ((revisions.get(event.streamId) ?? -1n) < event.revision) revisions.set(event.streamId, event.revision);
        }
        last = event.position;
        tracker.tick(event.position, mine);
      },
      from === undefined ? {} : { fromPosition: from },
    );
    const stop = () => void subscription.stop();
    signal?.addEventListener('abort', stop, { once: true });
    try {
      await subscription.caughtUp;
    } catch (err) {
      throw signal?.aborted ? aborted(signal) : err;
    } finally {
      signal?.removeEventListener('abort', stop);
      await subscription.stop();
    }
    // A handler that failed between catching up and stopping (an event appended meanwhile) fails the phase too.
    await subscription.closed;
    if (signal?.aborted) throw aborted(signal);
    const counts = tracker.counts;
    if (onProgress) {
      // Caught up at `last`, which may lie past the target (events appended meanwhile): the phase is complete.
      onProgress({
        phase,
        events: counts.events,
        applied: counts.applied,
        position: last,
        fromPosition: start,
        targetPosition: last > start ? last : start,
        ...(head?.contiguous ? { totalEvents: counts.events } : {}),
        fraction: 1,
        eventsPerSecond: rate(counts.events, counts.elapsedMs),
        secondsLeft: 0,
        elapsedMs: counts.elapsedMs,
      });
    }
    return { last, events: counts.events, applied: counts.applied, elapsedMs: counts.elapsedMs, revisions };
  }

  async applyAll(event: RecordedEvent, store: ReadModelStore): Promise<void> {
    for (const projection of this.options.projections) await projection.apply(event, store);
  }

  /** The projector's checkpoint: `$set` moves it anywhere (after a swap), `$max` only forward (like the projector). */
  async writeCheckpoint(position: bigint, how: '$set' | '$max'): Promise<void> {
    const update =
      how === '$set'
        ? { $set: { position: Number(position), updatedAt: now() } }
        : { $max: { position: Number(position) }, $set: { updatedAt: now() } };
    await this.options.store.collection<Checkpoint>(CHECKPOINTS).updateOne({ _id: this.checkpointName }, update, { upsert: true });
  }

  async readCheckpoint(): Promise<bigint | undefined> {
    const checkpoint = await this.options.store.collection<Checkpoint>(CHECKPOINTS).findOne({ _id: this.checkpointName });
    return checkpoint ? BigInt(checkpoint.position) : undefined;
  }
}

async function rebuildIntoFresh(options: RebuildOptions): Promise<RebuildResult> {
  const run = new Run(options);
  const { store, tenantId } = options;
  const mode = tenantId === undefined ? 'full' : 'tenant';
  const live = run.liveCollections();
  const suffix = options.suffix ?? `__rebuild_${Date.now()}`;
  if (!suffix) throw new RangeError('suffix must not be empty');
  const fresh = new Map(live.map((name) => [name, `${name}${suffix}`]));
  const freshNames = [...fresh.values()];
  const dropFresh = async () => {
    for (const name of freshNames) await store.dropCollection(name).catch(() => undefined);
  };

  // 1. Replay into the fresh collections. Nothing live is written; a failure leaves nothing behind.
  let replayed: Replayed;
  const documents = new Map<string, number>();
  try {
    for (const name of freshNames) await store.dropCollection(name); // a leftover of the very same name
    const redirected = new RedirectedReadModelStore(store, fresh);
    replayed = await run.replay('replaying', undefined, (event) => run.applyAll(event, redirected));
    for (const [name, freshName] of fresh) documents.set(name, await store.collection(freshName).countDocuments({}));
  } catch (err) {
    await dropFresh();
    throw err;
  }

  const result: RebuildResult = {
    mode,
    ...(tenantId === undefined ? {} : { tenantId }),
    dryRun: options.dryRun ?? false,
    rebuiltTo: replayed.last,
    position: replayed.last,
    events: replayed.events,
    applied: replayed.applied,
    caughtUpEvents: 0,
    eventsPerSecond: rate(replayed.events, replayed.elapsedMs),
    durationMs: 0,
    collections: [],
    checkpoint: null,
    notes: run.notes,
  };

  if (options.dryRun) {
    await dropFresh();
    result.collections = live.map((name) => ({ live: name, fresh: fresh.get(name), documents: documents.get(name)!, swap: 'discarded' }));
    result.durationMs = Date.now() - run.started;
    return result;
  }

  // 2. Swap (or merge the tenant's documents), set the checkpoint, apply what was appended meanwhile.
  let pausedLive = false;
  try {
    if (options.beforeSwap) {
      pausedLive = true;
      await options.beforeSwap().catch(async (err: unknown) => {
        await dropFresh();
        throw err;
      });
    }
    options.onProgress?.(swapProgress(replayed));
    const swapped: string[] = [];
    try {
      for (const name of live) {
        const freshName = fresh.get(name)!;
        const outcome =
          tenantId === undefined
            ? await swapIn(store, freshName, name, documents.get(name)!, run.notes)
            : await mergeTenant(store, freshName, name, (options.tenantFilter ?? defaultTenantFilter)(name, tenantId));
        result.collections.push({ live: name, fresh: freshName, documents: documents.get(name)!, ...outcome });
        swapped.push(name);
      }
      if (tenantId !== undefined) await dropFresh();
    } catch (err) {
      await dropFresh();
      if (swapped.length === 0) throw err;
      throw new PartialSwapError(swapped, live.filter((name) => !swapped.includes(name)), { cause: err });
    }

    // The projector's per-stream revisions must say what the swapped-in documents reflect: a live projector may have
    // recorded events in the collections the swap replaced.
    await resetStreamCheckpoints(store, run.checkpointName, replayed.revisions, tenantId === undefined ? 'all' : 'listed');
    if (tenantId === undefined) {
      await run.writeCheckpoint(replayed.last, '$set');
      result.checkpoint = { name: run.checkpointName, position: replayed.last };
    } else {
      run.notes.push(`the checkpoint of ${run.checkpointName} is not touched by a tenant rebuild`);
    }

    // Events appended while the rebuild ran were projected by a live projector (if one runs) into the collections
    // the swap just replaced: apply them again over the swapped-in ones. Idempotent, so also harmless.
    const tail = await run.replay('catching-up', replayed.last, (event) => run.applyAll(event, store)).catch((err: unknown) => {
      throw new Error(
        `the rebuilt collections were swapped in at position ${replayed.last}, but applying the events appended since failed: ` +
          `${(err as Error)?.message ?? err}. A projector resumes from the checkpoint; or run "replay rebuild --from ${replayed.last}"`,
        { cause: err },
      );
    });
    await recordStreamRevisions(store, run.checkpointName, tail.revisions);
    result.caughtUpEvents = tail.applied;
    result.position = tail.last;
    if (tenantId === undefined && tail.last > replayed.last) {
      await run.writeCheckpoint(tail.last, '$max');
      result.checkpoint = { name: run.checkpointName, position: tail.last };
    }
  } finally {
    if (pausedLive) await options.afterSwap?.();
  }
  result.durationMs = Date.now() - run.started;
  options.onProgress?.(doneProgress(result, replayed));
  return result;
}

async function replayFromPosition(options: RebuildOptions): Promise<RebuildResult> {
  const run = new Run(options);
  const { store, tenantId } = options;
  const from = options.fromPosition!;
  if (from < 0n) throw new RangeError('fromPosition must not be negative');
  if (options.dryRun) throw new Error('a dry run rebuilds into fresh collections; a replay from a position writes the live ones: not both');
  const live = run.liveCollections();
  const checkpointBefore = tenantId === undefined ? await run.readCheckpoint() : undefined;

  const replayed = await run.replay('replaying', from, (event) => run.applyAll(event, store));
  await recordStreamRevisions(store, run.checkpointName, replayed.revisions);

  const result: RebuildResult = {
    mode: 'from-position',
    ...(tenantId === undefined ? {} : { tenantId }),
    fromPosition: from,
    dryRun: false,
    rebuiltTo: replayed.last,
    position: replayed.last,
    events: replayed.events,
    applied: replayed.applied,
    caughtUpEvents: 0,
    eventsPerSecond: rate(replayed.events, replayed.elapsedMs),
    durationMs: 0,
    collections: live.map((name) => ({ live: name, documents: 0, swap: 'in place' })),
    checkpoint: null,
    notes: run.notes,
  };
  for (const outcome of result.collections) {
    outcome.documents = await store.collection(outcome.live).countDocuments(tenantId === undefined ? {} : (options.tenantFilter ?? defaultTenantFilter)(outcome.live, tenantId));
  }

  if (tenantId !== undefined) {
    run.notes.push(`the checkpoint of ${run.checkpointName} is not touched by a tenant replay`);
  } else if (checkpointBefore !== undefined && checkpointBefore >= from) {
    // The replayed range joins what the checkpoint already covers: the checkpoint may move forward to its end.
    await run.writeCheckpoint(replayed.last, '$max');
    result.checkpoint = { name: run.checkpointName, position: replayed.last > checkpointBefore ? replayed.last : checkpointBefore };
  } else {
    run.notes.push(
      `checkpoint of ${run.checkpointName} left at ${checkpointBefore ?? 'none'}: the events between it and ${from} were not replayed, ` +
        'so moving it past them would skip them',
    );
  }
  result.durationMs = Date.now() - run.started;
  options.onProgress?.(doneProgress(result, replayed));
  return result;
}

/** Events applied over the live collections: the projector's per-stream revisions may move forward to them. */
async function recordStreamRevisions(store: ReadModelStore, projector: string, revisions: ReadonlyMap<string, bigint>): Promise<void> {
  const streamRevisions = new ReadModelStreamRevisions(store, projector);
  for (const [streamId, revision] of revisions) await streamRevisions.save(streamId, revision);
}

/** The error code a MongoDB-compatible server answers for an option it does not implement (FerretDB). */
const NOT_IMPLEMENTED = 238;

function renameNotSupported(err: unknown): boolean {
  const { code, message } = (err ?? {}) as { code?: unknown; message?: unknown };
  return code === NOT_IMPLEMENTED || (typeof message === 'string' && /not implemented/i.test(message));
}

/** Replace `live` with `freshName`: one rename where the engine can, else document by document. */
async function swapIn(
  store: ReadModelStore,
  freshName: string,
  live: string,
  documents: number,
  notes: string[],
): Promise<Omit<CollectionOutcome, 'live' | 'fresh' | 'documents'>> {
  if (documents === 0) {
    // Nothing was projected (renaming a collection that was never created fails): the rebuilt state is empty.
    await store.dropCollection(live);
    await store.dropCollection(freshName);
    return { swap: 'emptied' };
  }
  try {
    await store.renameCollection(freshName, live);
    return { swap: 'renamed' };
  } catch (err) {
    if (!renameNotSupported(err)) throw err;
    notes.push(
      `${live}: the read-model engine cannot rename over a collection (${(err as Error).message}); the rebuilt documents ` +
        'were written over the live ones and the stale ones deleted: readers saw old and new documents side by side meanwhile',
    );
    const { deleted } = await overwrite(store, freshName, live, {});
    await store.dropCollection(freshName);
    return { swap: 'copied', deleted };
  }
}

async function mergeTenant(store: ReadModelStore, freshName: string, live: string, scope: Filter): Promise<Omit<CollectionOutcome, 'live' | 'fresh' | 'documents'>> {
  const { deleted } = await overwrite(store, freshName, live, scope);
  return { swap: 'merged', deleted };
}

/**
 * Write every document of `freshName` over its copy in `live` (each replace is atomic, so a reader sees either
 * version, never none), then delete the documents of `live` within `scope` that the rebuild did not produce.
 */
async function overwrite(store: ReadModelStore, freshName: string, live: string, scope: Filter): Promise<{ deleted: number }> {
  const rebuilt = await store.collection(freshName).find({});
  const target = store.collection(live);
  for (const document of rebuilt) await target.replaceOne({ _id: document._id }, document, { upsert: true });
  const kept = new Set(rebuilt.map((d) => d._id));
  const stale = (await target.find(scope)).map((d: Document) => d._id).filter((id) => !kept.has(id));
  let deleted = 0;
  for (let i = 0; i < stale.length; i += 500) {
    deleted += await target.deleteMany({ _id: { $in: stale.slice(i, i + 500) } });
  }
  return { deleted };
}

function swapProgress(replayed: Replayed): ReplayProgress {
  return {
    phase: 'swapping',
    events: replayed.events,
    applied: replayed.applied,
    position: replayed.last,
    fromPosition: replayed.last,
    targetPosition: replayed.last,
    fraction: 1,
    eventsPerSecond: rate(replayed.events, replayed.elapsedMs),
    secondsLeft: 0,
    elapsedMs: replayed.elapsedMs,
  };
}

function doneProgress(result: RebuildResult, replayed: Replayed): ReplayProgress {
  return { ...swapProgress(replayed), phase: 'done', position: result.position, targetPosition: result.position, elapsedMs: result.durationMs };
}

function rate(events: number, elapsedMs: number): number {
  return elapsedMs > 0 ? (events * 1000) / elapsedMs : 0;
}

function now(): string {
  return new Date().toISOString();
}

function aborted(signal: AbortSignal): Error {
  const reason = signal.reason as unknown;
  return reason instanceof Error ? reason : new Error(`replay aborted${reason === undefined ? '' : `: ${String(reason)}`}`);
}
