import { RewrapStatusReply } from '@authpipe/contracts';

export const REWRAP_CHECKPOINT_FORMAT = 1;

/**
 * The rewrap's progress as persisted after every batch (`_job.rewrap.checkpoint` beside the data keys): enough to
 * resume after a crash or a restart where the job stopped, instead of from zero. Ids and counters only.
 */
export interface RewrapCheckpoint {
  format: number;
  jobId: string;
  /** running: in progress, or interrupted (resumed by the next vault to start, or by vaultStartRewrap). */
  state: 'running' | 'done' | 'failed';
  /** The master key version this run moves data keys to. */
  masterKeyVersion: string;
  /** Data key records first, then secret records. */
  phase: 'data_keys' | 'secrets' | 'finished';
  /** The last record key completed in the phase, in listing order; the job continues after it. */
  lastKey: string | null;
  processed: number;
  total: number;
  rewrapped: number;
  failed: number;
  /** The replica that last ran it. */
  owner: string;
  startedAt: string;
  updatedAt: string;
  finishedAt?: string;
  error?: string;
}

/** A stored checkpoint of the current format, or null for anything else (it is then overwritten by the next run). */
export function parseCheckpoint(value: unknown): RewrapCheckpoint | null {
  const v = value as Partial<RewrapCheckpoint> | null;
  const counters = [v?.processed, v?.total, v?.rewrapped, v?.failed].every((n) => Number.isInteger(n) && (n as number) >= 0);
  return v?.format === REWRAP_CHECKPOINT_FORMAT &&
    typeof v.jobId === 'string' &&
    ['running', 'done', 'failed'].includes(v.state as string) &&
    typeof v.masterKeyVersion === 'string' &&
    ['data_keys', 'secrets', 'finished'].includes(v.phase as string) &&
    (v.lastKey === null || typeof v.lastKey === 'string') &&
    counters &&
    typeof v.startedAt === 'string'
    ? (v as RewrapCheckpoint)
    : null;
}

export function toStatus(checkpoint: RewrapCheckpoint): RewrapStatusReply {
  const { state, masterKeyVersion, startedAt, finishedAt, processed, total, rewrapped, failed, error } = checkpoint;
  return {
    state,
    masterKeyVersion,
    startedAt,
    ...(finishedAt ? { finishedAt } : {}),
    processed,
    total: Math.max(total, processed),
    rewrapped,
    failed,
    ...(error ? { error } : {}),
  };
}

export const idleStatus = (masterKeyVersion: string): RewrapStatusReply => ({ state: 'idle', masterKeyVersion, processed: 0, total: 0, rewrapped: 0, failed: 0 });
