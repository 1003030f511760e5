/**
 * At most `limit` tasks running at once per key (here: per provider, so that one provider's probes never hit it with
 * more than that many requests at a time). Tasks beyond the limit wait in order of arrival; a finished task hands its
 * slot straight to the next waiting one.
 */
export class KeyedConcurrencyLimiter {
  private readonly lanes = new Map<string, { running: number; waiting: (() => void)[] }>();

  constructor(private readonly limit: number) {
    if (!Number.isInteger(limit) || limit < 1) throw new RangeError(`concurrency limit must be a positive integer, got ${limit}`);
  }

  async run<T>(key: string, task: () => Promise<T>): Promise<T> {
    await this.acquire(key);
    try {
      return await task();
    } finally {
      this.release(key);
    }
  }

  /** Tasks of `key` running now. */
  running(key: string): number {
    return this.lanes.get(key)?.running ?? 0;
  }

  /** Tasks of `key` waiting for a slot. */
  waiting(key: string): number {
    return this.lanes.get(key)?.waiting.length ?? 0;
  }

  private acquire(key: string): Promise<void> {
    let lane = this.lanes.get(key);
    if (!lane) this.lanes.set(key, (lane = { running: 0, waiting: [] }));
    if (lane.running < this.limit) {
      lane.running++;
      return Promise.resolve();
    }
    return new Promise<void>((resolve) => lane.waiting.push(resolve));
  }

  private release(key: string): void {
    const lane = this.lanes.get(key)!;
    const next = lane.waiting.shift();
    if (next) return next();
    if (--lane.running === 0) this.lanes.delete(key);
  }
}
