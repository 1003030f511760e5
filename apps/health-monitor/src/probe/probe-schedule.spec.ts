import { connectionIdFor } from '@authpipe/contracts';
import { nextProbeAt, probeOffsetMs } from './probe-schedule';

describe('probe schedule', () => {
  const interval = 60_000;
  const ids = Array.from({ length: 200 }, (_, i) => connectionIdFor('org_acme', 'gmail', `user_${i}`));

  it('gives every connection a stable offset inside the interval', () => {
    for (const id of ids) {
      const offset = probeOffsetMs(id, interval);
      expect(offset).toBe(probeOffsetMs(id, interval));
      expect(offset).toBeGreaterThanOrEqual(0);
      expect(offset).toBeLessThan(interval);
    }
  });

  it('spreads connections over the interval instead of probing them together', () => {
    const buckets = new Array(10).fill(0);
    for (const id of ids) buckets[Math.floor(probeOffsetMs(id, interval) / (interval / 10))]++;
    // 200 connections over 10 tenths of the interval: no tenth holds more than a quarter of them.
    expect(Math.max(...buckets)).toBeLessThan(50);
    expect(new Set(ids.map((id) => probeOffsetMs(id, interval))).size).toBeGreaterThan(150);
  });

  it('probes each connection exactly once per interval, at the same phase whenever the monitor starts', () => {
    const id = ids[7];
    const start = Date.UTC(2026, 0, 1, 12, 0, 0, 123);
    const first = nextProbeAt(id, interval, start);
    expect(first).toBeGreaterThan(start);
    expect(first - start).toBeLessThanOrEqual(interval);
    expect(nextProbeAt(id, interval, first)).toBe(first + interval);
    // A monitor (re)started at any other moment lands on the same slots.
    for (const t of [start + 1, start + 12_345, start + 3 * interval + 59_999]) {
      const next = nextProbeAt(id, interval, t);
      expect(next).toBeGreaterThan(t);
      expect(next - t).toBeLessThanOrEqual(interval);
      expect((next - first) % interval).toBe(0);
    }
    expect(first % interval).toBe(probeOffsetMs(id, interval));
  });
});
