import { decideAcquire, leaseRecord, mustRenew, nextLook, parseLockRecord } from './lock-decisions';

const NOW = 1_000_000;

describe('refresh lock decisions', () => {
  it('takes a key that was never held, expecting it to be absent', () => {
    expect(decideAcquire({ revision: 0, record: null }, NOW)).toEqual({ kind: 'take', expectedRevision: 0 });
  });

  it('takes a released key on the revision of its release', () => {
    expect(decideAcquire({ revision: 42, record: null }, NOW)).toEqual({ kind: 'take', expectedRevision: 42 });
  });

  it('waits for a live holder, whoever it is', () => {
    expect(decideAcquire({ revision: 7, record: leaseRecord('b', NOW - 1_000, 30_000) }, NOW)).toEqual({ kind: 'held', owner: 'b', until: NOW + 29_000 });
  });

  it('supersedes a holder whose lease ran out (it died), compare-and-set on its revision', () => {
    expect(decideAcquire({ revision: 7, record: leaseRecord('b', NOW - 30_000, 30_000) }, NOW)).toEqual({ kind: 'take', expectedRevision: 7, supersedes: 'b' });
  });

  it('reads anything that is not a lock record as free, so garbage cannot block refreshes', () => {
    expect(parseLockRecord({ owner: 'a', expiresAt: 5 })).toEqual({ owner: 'a', expiresAt: 5 });
    expect(parseLockRecord({ owner: 'a' })).toBeNull();
    expect(parseLockRecord('x')).toBeNull();
    expect(parseLockRecord(null)).toBeNull();
  });

  it('renews only when the rest of the lease cannot cover one attempt', () => {
    expect(mustRenew(NOW + 30_000, NOW, 15_000)).toBe(false);
    expect(mustRenew(NOW + 10_000, NOW, 15_000)).toBe(true);
    expect(mustRenew(NOW - 1, NOW, 15_000)).toBe(true);
  });

  it('makes a waiter look again after about the poll interval, never past its deadline', () => {
    expect(nextLook(NOW, NOW + 10_000, 100, 0)).toBe(100);
    expect(nextLook(NOW, NOW + 10_000, 100, 0.999)).toBe(150);
    expect(nextLook(NOW, NOW + 30, 100, 0)).toBe(30);
    expect(nextLook(NOW, NOW, 100, 0)).toBeNull();
  });
});
