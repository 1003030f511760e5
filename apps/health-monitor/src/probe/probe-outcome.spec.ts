import { classifyProbe, probeOffsetMs } from './probe-outcome';

describe('probe classification', () => {
  it('treats the provider revoked statuses as revoked', () => {
    expect(classifyProbe(401, [401])).toBe('revoked');
    expect(classifyProbe(200, [401])).toBe('healthy');
    expect(classifyProbe(503, [401])).toBe('transient');
    expect(classifyProbe(429, [401])).toBe('transient');
    expect(classifyProbe('network_error', [401])).toBe('transient');
  });

  it('spreads connections over the interval, stably', () => {
    const offsets = ['con_a', 'con_b', 'con_c', 'con_d'].map((id) => probeOffsetMs(id, 60_000));
    expect(new Set(offsets).size).toBe(4);
    expect(probeOffsetMs('con_a', 60_000)).toBe(offsets[0]);
    offsets.forEach((o) => expect(o).toBeLessThan(60_000));
  });
});
