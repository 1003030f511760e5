import { needsRefresh } from './refresh-policy';

describe('needsRefresh', () => {
  const now = new Date('2026-11-27T10:00:00Z');
  it('refreshes inside the margin', () => {
    expect(needsRefresh('2026-11-27T10:04:00Z', true, 300, now)).toBe(true);
    expect(needsRefresh('2026-11-27T09:00:00Z', true, 300, now)).toBe(true);
  });
  it('leaves fresh, permanent and unrefreshable credentials alone', () => {
    expect(needsRefresh('2026-11-27T10:06:00Z', true, 300, now)).toBe(false);
    expect(needsRefresh(null, true, 300, now)).toBe(false);
    expect(needsRefresh('2026-11-27T10:01:00Z', false, 300, now)).toBe(false);
  });
});
