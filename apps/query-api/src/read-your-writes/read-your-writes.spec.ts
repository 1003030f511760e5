import { Problem } from '@authpipe/http';
import type { Projector } from '@authpipe/projections';
import type { HistoryHead } from '@authpipe/replay';
import type { QueryApiConfig } from '../query-api.config';
import { ReadYourWrites } from './read-your-writes';

/** A projector at `position` that reaches what it is asked to wait for only if `reaches` says so. */
function setUp(options: { head?: () => Promise<bigint>; reaches?: boolean } = {}) {
  const waits: { position: bigint; timeoutMs: number }[] = [];
  let heads = 0;
  const projector = {
    position: 7n,
    waitFor: async (position: bigint, timeoutMs: number) => (waits.push({ position, timeoutMs }), options.reaches ?? true),
  } as unknown as Projector;
  const head: HistoryHead = { contiguous: true, position: () => (heads++, (options.head ?? (async () => 42n))()) };
  const ryw = new ReadYourWrites(projector, head, { READ_YOUR_WRITES_TIMEOUT_MS: 2_000 } as QueryApiConfig);
  return { ryw, waits, heads: () => heads };
}

/** A lookup answering `answers` in turn. */
const lookups = <T>(...answers: (T | null)[]) => {
  const find = jest.fn(async () => answers.shift() ?? null);
  return find;
};

describe('ReadYourWrites', () => {
  it('answers a hit at once: no head query, no wait', async () => {
    const { ryw, heads, waits } = setUp();
    const find = lookups({ status: 'connected' });
    await expect(ryw.find(find)).resolves.toEqual({ status: 'connected' });
    expect({ finds: find.mock.calls.length, heads: heads(), waits }).toEqual({ finds: 1, heads: 0, waits: [] });
  });

  it('on a miss waits for the projector to reach the head of the history, then looks again', async () => {
    const { ryw, waits } = setUp();
    const find = lookups(null, { status: 'connected' });
    await expect(ryw.find(find)).resolves.toEqual({ status: 'connected' });
    expect(find).toHaveBeenCalledTimes(2);
    expect(waits).toEqual([{ position: 42n, timeoutMs: 2_000 }]);
  });

  it('looks again at what `current` refuses (a connection not connected yet), and returns the second look', async () => {
    const { ryw, waits } = setUp();
    const find = lookups({ status: 'disconnected' }, { status: 'connected' });
    await expect(ryw.find(find, (c) => c.status === 'connected')).resolves.toEqual({ status: 'connected' });
    expect(waits).toHaveLength(1);
    const stillRevoked = lookups({ status: 'revoked' }, { status: 'revoked' });
    await expect(ryw.find(stillRevoked, (c) => c.status === 'connected')).resolves.toEqual({ status: 'revoked' });
  });

  it('a miss that stays a miss once caught up is a miss (the caller answers 404)', async () => {
    const { ryw } = setUp();
    await expect(ryw.find(lookups(null, null))).resolves.toBeNull();
  });

  it('answers 503 UNAVAILABLE, never a miss, when the projector does not reach the head in time', async () => {
    const { ryw } = setUp({ reaches: false });
    const find = lookups(null, null);
    await expect(ryw.find(find)).rejects.toMatchObject({ statusCode: 503, code: 'UNAVAILABLE', detail: expect.stringMatching(/behind/) });
    expect(find).toHaveBeenCalledTimes(1);
  });

  it('answers a known state as it is when the read models cannot be shown current (a revoked connection stays a 409, not a 503)', async () => {
    const behind = setUp({ reaches: false });
    const revoked = lookups({ status: 'revoked' });
    await expect(behind.ryw.find(revoked, (c) => c.status === 'connected')).resolves.toEqual({ status: 'revoked' });
    expect(revoked).toHaveBeenCalledTimes(1);
    const headless = setUp({ head: async () => Promise.reject(new Error('nats down')) });
    await expect(headless.ryw.find(lookups({ status: 'disconnected' }), (c) => c.status === 'connected')).resolves.toEqual({ status: 'disconnected' });
  });

  it('answers 503 UNAVAILABLE when the head of the history cannot be read', async () => {
    const { ryw } = setUp({ head: async () => Promise.reject(new Error('nats down')) });
    const failure = await ryw.find(lookups(null)).catch((err: unknown) => err);
    expect(failure).toBeInstanceOf(Problem);
    expect(failure).toMatchObject({ statusCode: 503, code: 'UNAVAILABLE' });
  });
});
