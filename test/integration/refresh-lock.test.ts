import { randomBytes } from 'node:crypto';
import { connect, NatsConnection } from 'nats';
import { InProcessLockTable, InProcessRefreshLock } from '../../apps/refresher/src/lock/in-process/in-process-refresh-lock';
import { JetStreamKvRefreshLock } from '../../apps/refresher/src/lock/jetstream-kv/jetstream-kv-refresh-lock';
import type { RefreshLease, RefreshLock } from '../../apps/refresher/src/lock/refresh-lock.port';

/*
 * The refresh lock's contract, run against both adapters: the JetStream KV lock on the run's real nats-server
 * (each contender with a NATS connection of its own, as replicas have) and the in-process lock.
 */

const NATS_URL = process.env.AUTHPIPE_TEST_NATS_URL!;
const LEASE_MS = 2_000;
const newConnection = () => `con_${randomBytes(16).toString('base64url').slice(0, 22)}`;

interface LockFactory {
  /** A contender: its own owner id (and for KV its own NATS connection) on the shared lock. */
  contender(owner: string): Promise<RefreshLock>;
  close(): Promise<void>;
}

function refreshLockContract(name: string, factory: () => Promise<LockFactory>) {
  describe(`refresh lock: ${name}`, () => {
    let locks: LockFactory;
    let a: RefreshLock;
    let b: RefreshLock;

    beforeAll(async () => {
      locks = await factory();
      a = await locks.contender('replica-a');
      b = await locks.contender('replica-b');
    });
    afterAll(() => locks.close());

    it('excludes: of many concurrent acquirers of one connection exactly one gets it', async () => {
      const contenders = await Promise.all(Array.from({ length: 12 }, (_, i) => locks.contender(`replica-${i}`)));
      const id = newConnection();
      const now = Date.now();
      const results = await Promise.all(contenders.map((c) => c.tryAcquire(id, now)));
      const winners = results.filter((r) => r.acquired);
      expect(winners).toHaveLength(1);
      const winner = (winners[0] as { lease: RefreshLease }).lease;
      for (const r of results.filter((x) => !x.acquired)) expect(r).toMatchObject({ acquired: false, holder: winner.owner });
    });

    it('excludes across many rounds: every round has one holder, and releases let the next one in', async () => {
      const contenders = await Promise.all(Array.from({ length: 5 }, (_, i) => locks.contender(`round-${i}`)));
      const id = newConnection();
      let holders = 0;
      let maxHolders = 0;
      let completed = 0;
      await Promise.all(
        contenders.map(async (c) => {
          for (let done = 0; done < 4; ) {
            const r = await c.tryAcquire(id, Date.now());
            if (!r.acquired) {
              await new Promise((resolve) => setTimeout(resolve, 2 + Math.random() * 5));
              continue;
            }
            holders += 1;
            maxHolders = Math.max(maxHolders, holders);
            await new Promise((resolve) => setTimeout(resolve, 3));
            holders -= 1;
            expect(await c.release(r.lease)).toBe(true);
            done += 1;
            completed += 1;
          }
        }),
      );
      expect(maxHolders).toBe(1);
      expect(completed).toBe(20);
    });

    it('lets a live holder keep the lock, and supersedes a dead one once its lease ran out', async () => {
      const id = newConnection();
      const t0 = Date.now();
      const first = await a.tryAcquire(id, t0);
      expect(first.acquired).toBe(true);
      expect(await b.tryAcquire(id, t0 + LEASE_MS - 1)).toEqual({ acquired: false, holder: 'replica-a', until: t0 + LEASE_MS });
      // a dies without releasing: after its lease, b takes over.
      const second = await b.tryAcquire(id, t0 + LEASE_MS);
      expect(second).toMatchObject({ acquired: true, superseded: 'replica-a' });
    });

    it('supersedes by the real clock too (a holder that stops renewing is gone after the lease)', async () => {
      const id = newConnection();
      expect((await a.tryAcquire(id, Date.now())).acquired).toBe(true);
      expect((await b.tryAcquire(id, Date.now())).acquired).toBe(false);
      await new Promise((resolve) => setTimeout(resolve, LEASE_MS + 100));
      expect(await b.tryAcquire(id, Date.now())).toMatchObject({ acquired: true, superseded: 'replica-a' });
    });

    it('gives increasing fencing tokens: acquire, renew, release and take over each move past the last', async () => {
      const id = newConnection();
      const t0 = Date.now();
      const first = await a.tryAcquire(id, t0);
      if (!first.acquired) throw new Error('expected the lock');
      const renewed = await a.renew(first.lease, t0 + 10);
      expect(renewed!.token).toBeGreaterThan(first.lease.token);
      expect(renewed!.expiresAt).toBe(t0 + 10 + LEASE_MS);
      expect(await a.release(renewed!)).toBe(true);
      const second = await b.tryAcquire(id, t0 + 20);
      if (!second.acquired) throw new Error('expected the lock');
      expect(second.lease.token).toBeGreaterThan(renewed!.token);
      const third = await a.tryAcquire(id, t0 + 20 + LEASE_MS);
      if (!third.acquired) throw new Error('expected a takeover');
      expect(third.lease.token).toBeGreaterThan(second.lease.token);
    });

    it('is released only by its owner: a superseded holder can neither release nor renew', async () => {
      const id = newConnection();
      const t0 = Date.now();
      const stale = await a.tryAcquire(id, t0);
      if (!stale.acquired) throw new Error('expected the lock');
      const current = await b.tryAcquire(id, t0 + LEASE_MS + 1);
      if (!current.acquired) throw new Error('expected a takeover');
      expect(await a.release(stale.lease)).toBe(false);
      expect(await a.renew(stale.lease, t0 + LEASE_MS + 2)).toBeNull();
      // b still holds it.
      expect(await a.tryAcquire(id, t0 + LEASE_MS + 3)).toMatchObject({ acquired: false, holder: 'replica-b' });
      // Nor can anyone release with a token that is not the current one.
      expect(await a.release({ ...current.lease, owner: 'replica-a', token: current.lease.token - 1 })).toBe(false);
      expect(await b.release(current.lease)).toBe(true);
      expect((await a.tryAcquire(id, t0 + LEASE_MS + 4)).acquired).toBe(true);
    });

    it('keeps a renewed lease past its first expiry, and extends it by extra time for a backoff pause', async () => {
      const id = newConnection();
      const t0 = Date.now();
      const held = await a.tryAcquire(id, t0);
      if (!held.acquired) throw new Error('expected the lock');
      const renewed = await a.renew(held.lease, t0 + LEASE_MS - 10, 5_000);
      expect(renewed!.expiresAt).toBe(t0 + 2 * LEASE_MS - 10 + 5_000);
      expect((await b.tryAcquire(id, t0 + LEASE_MS + 5_000)).acquired).toBe(false);
      expect((await b.tryAcquire(id, renewed!.expiresAt)).acquired).toBe(true);
    });

    it('hands a note on: kept through renewals, a release and a holder that died, until a holder drops it', async () => {
      const id = newConnection();
      const t0 = Date.now();
      const intent = { version: 2, expiresAt: new Date(t0 + 3_600_000).toISOString(), rotated: true, at: t0 };
      const held = await a.tryAcquire(id, t0);
      if (!held.acquired) throw new Error('expected the lock');
      expect(held.lease.intent).toBeUndefined();
      const noted = await a.writeIntent(held.lease, intent, t0 + 1);
      expect(noted).toMatchObject({ intent, expiresAt: t0 + 1 + LEASE_MS });
      expect(noted!.token).toBeGreaterThan(held.lease.token);
      const renewed = await a.renew(noted!, t0 + 2);
      // a dies holding it: b takes over after the lease and gets the note.
      const takeover = await b.tryAcquire(id, renewed!.expiresAt);
      expect(takeover).toMatchObject({ acquired: true, superseded: 'replica-a', lease: { intent } });
      if (!takeover.acquired) throw new Error('expected a takeover');
      // A superseded holder can no longer write a note.
      expect(await a.writeIntent(renewed!, { ...intent, version: 3 }, renewed!.expiresAt + 1)).toBeNull();
      // b releases without dealing with it: the key is free, and the note is there for the next holder.
      expect(await b.release(takeover.lease)).toBe(true);
      const next = await a.tryAcquire(id, renewed!.expiresAt + 2);
      expect(next).toMatchObject({ acquired: true, lease: { intent } });
      if (!next.acquired) throw new Error('expected the lock');
      expect(next.superseded).toBeUndefined();
      // a drops it (recorded): gone for good.
      expect(await a.release({ ...next.lease, intent: undefined })).toBe(true);
      const last = await b.tryAcquire(id, renewed!.expiresAt + 3);
      if (!last.acquired) throw new Error('expected the lock');
      expect(last.lease.intent).toBeUndefined();
    });

    it('keeps locks of different connections apart', async () => {
      const [x, y] = [newConnection(), newConnection()];
      const now = Date.now();
      expect((await a.tryAcquire(x, now)).acquired).toBe(true);
      expect((await b.tryAcquire(y, now)).acquired).toBe(true);
    });
  });
}

refreshLockContract('JetStream KV', async () => {
  const bucket = `refresh_locks_test_${randomBytes(4).toString('hex')}`;
  const connections: NatsConnection[] = [];
  return {
    async contender(owner) {
      const nats = await connect({ servers: NATS_URL, name: owner });
      connections.push(nats);
      return JetStreamKvRefreshLock.open(nats, { bucket, replicas: 1, leaseMs: LEASE_MS, owner });
    },
    async close() {
      if (connections[0]) await connections[0].jetstream().views.kv(bucket).then((kv) => kv.destroy());
      await Promise.all(connections.map((c) => c.close()));
    },
  };
});

refreshLockContract('in-process', async () => {
  // One process, one table: contenders are owners sharing it.
  const table = new InProcessLockTable();
  return {
    contender: async (owner) => new InProcessRefreshLock(owner, LEASE_MS, table),
    close: async () => undefined,
  };
});
