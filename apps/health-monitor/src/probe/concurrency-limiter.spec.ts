import { KeyedConcurrencyLimiter } from './concurrency-limiter';

/** A task that runs until released, recording how many ran at once. */
function gate() {
  let release!: () => void;
  const done = new Promise<void>((resolve) => (release = resolve));
  return { done, release };
}
const tick = () => new Promise((resolve) => setImmediate(resolve));

describe('KeyedConcurrencyLimiter', () => {
  it('runs at most `limit` tasks at once per key, the rest in order of arrival', async () => {
    const limiter = new KeyedConcurrencyLimiter(2);
    const gates = Array.from({ length: 5 }, gate);
    const started: number[] = [];
    const runs = gates.map((g, i) => limiter.run('gmail', async () => (started.push(i), await g.done, i)));
    await tick();
    expect(started).toEqual([0, 1]);
    expect(limiter.running('gmail')).toBe(2);
    expect(limiter.waiting('gmail')).toBe(3);

    gates[1].release();
    await tick();
    expect(started).toEqual([0, 1, 2]);
    gates[0].release();
    await tick();
    expect(started).toEqual([0, 1, 2, 3]);
    expect(limiter.running('gmail')).toBe(2);

    gates.forEach((g) => g.release());
    expect(await Promise.all(runs)).toEqual([0, 1, 2, 3, 4]);
    expect(limiter.running('gmail')).toBe(0);
    expect(limiter.waiting('gmail')).toBe(0);
  });

  it('keeps keys independent: a busy provider does not hold up another', async () => {
    const limiter = new KeyedConcurrencyLimiter(1);
    const slow = gate();
    const busy = limiter.run('discord', () => slow.done);
    const queued = limiter.run('discord', async () => 'second');
    const other = await limiter.run('gmail', async () => 'gmail ran');
    expect(other).toBe('gmail ran');
    expect(limiter.waiting('discord')).toBe(1);
    slow.release();
    await busy;
    expect(await queued).toBe('second');
  });

  it('frees the slot when a task fails', async () => {
    const limiter = new KeyedConcurrencyLimiter(1);
    await expect(limiter.run('k', async () => Promise.reject(new Error('boom')))).rejects.toThrow('boom');
    await expect(
      limiter.run('k', () => {
        throw new Error('sync');
      }),
    ).rejects.toThrow('sync');
    expect(await limiter.run('k', async () => 'next')).toBe('next');
    expect(limiter.running('k')).toBe(0);
  });

  it('never exceeds the limit under many concurrent tasks', async () => {
    const limiter = new KeyedConcurrencyLimiter(8);
    let running = 0;
    let peak = 0;
    await Promise.all(
      Array.from({ length: 100 }, (_, i) =>
        limiter.run('clicksend', async () => {
          peak = Math.max(peak, ++running);
          await new Promise((resolve) => setTimeout(resolve, i % 3));
          running--;
        }),
      ),
    );
    expect(peak).toBe(8);
  });

  it('refuses a limit that is not a positive integer', () => {
    expect(() => new KeyedConcurrencyLimiter(0)).toThrow(RangeError);
    expect(() => new KeyedConcurrencyLimiter(1.5)).toThrow(RangeError);
  });
});
