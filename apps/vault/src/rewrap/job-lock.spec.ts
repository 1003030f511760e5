import { JobRecordName, JobStateStore } from '../storage/job-state.port';
import { ConcurrencyError, Revisioned } from '../storage/secret-store.port';
import { JobLock, LockLostError } from './job-lock';

/** JobStateStore in memory, compare-and-set on revisions. */
class MemoryJobs implements JobStateStore {
  private readonly values = new Map<string, Revisioned<unknown>>();
  private revision = 0;
  async read(name: JobRecordName) {
    return this.values.get(name) ?? null;
  }
  async write(name: JobRecordName, value: unknown, expected: number) {
    if ((this.values.get(name)?.revision ?? 0) !== expected) throw new ConcurrencyError(`${name} is no longer at revision ${expected}`);
    this.values.set(name, { record: structuredClone(value), revision: ++this.revision });
    return this.revision;
  }
}

describe('JobLock', () => {
  let now: number;
  const clock = { now: () => new Date(now) };
  beforeEach(() => (now = Date.parse('2026-11-27T00:00:00Z')));
  const lockFor = (jobs: JobStateStore, owner: string) => new JobLock(jobs, 'rewrap.lock', owner, 1_000, clock);

  it('is held by one replica at a time until it expires or is released', async () => {
    const jobs = new MemoryJobs();
    const [a, b] = [lockFor(jobs, 'a'), lockFor(jobs, 'b')];
    expect(await a.acquire()).toEqual({ acquired: true });
    expect(await b.acquire()).toEqual({ acquired: false, owner: 'a', expiresAt: '2026-11-27T00:00:01.000Z' });
    now += 1_001;
    expect(await b.acquire()).toEqual({ acquired: true });
    // a was too slow to renew: it learns so instead of overwriting b.
    await expect(a.renew()).rejects.toBeInstanceOf(LockLostError);
    await b.release();
    expect(await a.acquire()).toEqual({ acquired: true });
  });

  it('lets only one of two simultaneous acquirers win', async () => {
    const jobs = new MemoryJobs();
    const results = await Promise.all([lockFor(jobs, 'a').acquire(), lockFor(jobs, 'b').acquire()]);
    expect(results.filter((r) => r.acquired)).toHaveLength(1);
  });

  it('is renewed by its holder', async () => {
    const jobs = new MemoryJobs();
    const a = lockFor(jobs, 'a');
    await a.acquire();
    now += 900;
    await a.renew();
    now += 900;
    expect(await lockFor(jobs, 'b').acquire()).toMatchObject({ acquired: false, owner: 'a' });
  });
});
