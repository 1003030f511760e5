import type { Revisioned } from './secret-store.port';

/**
 * Small records of vault's background jobs (the rewrap's checkpoint and lock), shared by every replica. Writes are
 * compare-and-set, so two replicas cannot both believe they own a job or overwrite each other's progress unseen.
 * Values are plain JSON and never hold key material or secrets.
 */
export interface JobStateStore {
  read(name: JobRecordName): Promise<Revisioned<unknown> | null>;
  /** @throws ConcurrencyError when the stored revision is not `expectedRevision` (0 = must not exist) */
  write(name: JobRecordName, value: unknown, expectedRevision: number): Promise<number>;
}

export type JobRecordName = 'rewrap.checkpoint' | 'rewrap.lock';
