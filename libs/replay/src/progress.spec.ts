import { formatDuration, formatProgress, ProgressTracker, ReplayProgress } from './progress';

describe('ProgressTracker', () => {
  it('reports percent by position, events per second and time left, at most once per interval', () => {
    let now = 1_000;
    const reports: ReplayProgress[] = [];
    const tracker = new ProgressTracker('replaying', 100n, { position: 300n, contiguous: true }, (p) => reports.push(p), 500, () => now);
    tracker.flush();
    for (let position = 101n; position <= 150n; position++) {
      now += 20; // 50 events/s
      tracker.tick(position, position % 2n === 0n);
    }
    expect(reports.length).toBe(3); // the flush, then one per 500 ms of the 1 s
    const last = tracker.snapshot();
    expect(last).toMatchObject({ phase: 'replaying', events: 50, applied: 25, position: 150n, totalEvents: 200, targetPosition: 300n });
    expect(last.fraction).toBeCloseTo(0.25);
    expect(last.eventsPerSecond).toBeCloseTo(50);
    expect(last.secondsLeft).toBeCloseTo(3); // 150 positions left at 50 per second
  });

  it('without a target there is no percent, only a count and a rate', () => {
    const tracker = new ProgressTracker('replaying', 0n, { contiguous: false }, undefined, 0);
    tracker.tick(7n, true);
    const snapshot = tracker.snapshot();
    expect(snapshot.fraction).toBeUndefined();
    expect(snapshot.secondsLeft).toBeUndefined();
    expect(snapshot.totalEvents).toBeUndefined();
    expect(formatProgress(snapshot)).toMatch(/^replay\s+1 events\s+[\d,]+ ev\/s\s+position 7$/);
  });

  it('an empty range is complete at once; positions past the target stay at 100 %', () => {
    expect(new ProgressTracker('replaying', 5n, { position: 5n, contiguous: true }, undefined, 0).snapshot()).toMatchObject({ fraction: 1, secondsLeft: 0, totalEvents: 0 });
    const tracker = new ProgressTracker('replaying', 0n, { position: 10n, contiguous: false }, undefined, 0);
    tracker.tick(12n, true);
    expect(tracker.snapshot()).toMatchObject({ fraction: 1, secondsLeft: 0 });
  });
});

describe('formatProgress', () => {
  it('draws a bar with percent, counts, rate and time left', () => {
    const line = formatProgress({
      phase: 'replaying',
      events: 250_000,
      applied: 250_000,
      position: 250_000n,
      fromPosition: 0n,
      targetPosition: 1_000_000n,
      totalEvents: 1_000_000,
      fraction: 0.25,
      eventsPerSecond: 50_000,
      secondsLeft: 15,
      elapsedMs: 5_000,
    });
    expect(line).toBe('replay   [########......................]  25.0%  250,000/1,000,000 events  50,000 ev/s  ~15 s left');
  });

  it('says how many events were the tenant\'s', () => {
    const line = formatProgress({ phase: 'catching-up', events: 10, applied: 3, position: 10n, fromPosition: 0n, eventsPerSecond: 1, elapsedMs: 1 });
    expect(line).toContain('10 events (3 of the tenant)');
  });

  it('durations read as seconds, minutes or hours', () => {
    expect(formatDuration(4.4)).toBe('4 s');
    expect(formatDuration(125)).toBe('2 min 05 s');
    expect(formatDuration(7_380)).toBe('2 h 03 min');
  });
});
