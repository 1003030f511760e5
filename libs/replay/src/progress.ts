/** What a replay reports while it runs (see rebuildReadModels' onProgress). */
export interface ReplayProgress {
  /**
   * - `replaying`: reading the history into fresh collections (or over the live ones, for a replay from a position);
   * - `swapping`: the fresh collections are being swapped in (or merged, for one tenant);
   * - `catching-up`: the events appended while the rebuild ran are applied over the swapped-in collections;
   * - `done`: finished.
   */
  phase: 'replaying' | 'swapping' | 'catching-up' | 'done';
  /** Events read in this phase. */
  events: number;
  /** Of those, events that belonged to the rebuilt tenant (all of them without a tenant). */
  applied: number;
  /** Global position of the last event handled (the start position before the first one). */
  position: bigint;
  /** Exclusive start of this phase. */
  fromPosition: bigint;
  /** The last position when the phase started: it is done once past it. Unknown without a HistoryHead. */
  targetPosition?: bigint;
  /** Events between fromPosition and targetPosition, when positions count events (JetStream). */
  totalEvents?: number;
  /** 0..1, by position; unknown without a target. */
  fraction?: number;
  eventsPerSecond: number;
  /** Estimated from the rate at which positions advance; unknown without a target. */
  secondsLeft?: number;
  elapsedMs: number;
}

/** Counts events of one phase and reports at most every `intervalMs` (always at the phase's end). */
export class ProgressTracker {
  private events = 0;
  private applied = 0;
  private position: bigint;
  private readonly started: number;
  private lastReport = 0;

  constructor(
    private readonly phase: ReplayProgress['phase'],
    private readonly fromPosition: bigint,
    private readonly target: { position?: bigint; contiguous: boolean },
    private readonly report: ((progress: ReplayProgress) => void) | undefined,
    private readonly intervalMs: number,
    private readonly now: () => number = Date.now,
  ) {
    this.position = fromPosition;
    this.started = now();
  }

  /** One event handled; `applied` when it belonged to what is being rebuilt. */
  tick(position: bigint, applied: boolean): void {
    this.events++;
    if (applied) this.applied++;
    this.position = position;
    if (!this.report) return;
    const now = this.now();
    if (now - this.lastReport >= this.intervalMs) {
      this.lastReport = now;
      this.report(this.snapshot(now));
    }
  }

  /** Report now, whatever the interval (start and end of a phase). */
  flush(): void {
    this.report?.(this.snapshot(this.now()));
  }

  get counts(): { events: number; applied: number; position: bigint; elapsedMs: number } {
    return { events: this.events, applied: this.applied, position: this.position, elapsedMs: this.now() - this.started };
  }

  snapshot(now: number = this.now()): ReplayProgress {
    const elapsedMs = Math.max(0, now - this.started);
    const seconds = elapsedMs / 1000;
    const progress: ReplayProgress = {
      phase: this.phase,
      events: this.events,
      applied: this.applied,
      position: this.position,
      fromPosition: this.fromPosition,
      eventsPerSecond: seconds > 0 ? this.events / seconds : 0,
      elapsedMs,
    };
    const target = this.target.position;
    if (target === undefined) return progress;
    progress.targetPosition = target;
    const span = target - this.fromPosition;
    if (this.target.contiguous) progress.totalEvents = Number(span > 0n ? span : 0n);
    if (span <= 0n) {
      progress.fraction = 1;
      progress.secondsLeft = 0;
      return progress;
    }
    const done = this.position - this.fromPosition;
    progress.fraction = Math.min(1, Math.max(0, Number(done) / Number(span)));
    const positionsPerSecond = seconds > 0 ? Number(done) / seconds : 0;
    const left = target - this.position;
    progress.secondsLeft = left <= 0n ? 0 : positionsPerSecond > 0 ? Number(left) / positionsPerSecond : undefined;
    return progress;
  }
}

const PHASE_LABEL: Record<ReplayProgress['phase'], string> = {
  replaying: 'replay',
  swapping: 'swap',
  'catching-up': 'catch-up',
  done: 'done',
};

/** `[#####.....]  42.0%  12,345/29,000 events  8,100 ev/s  ~2 s left` — one line, no newline. */
export function formatProgress(progress: ReplayProgress, width = 30): string {
  const label = PHASE_LABEL[progress.phase].padEnd(8);
  const rate = `${Math.round(progress.eventsPerSecond).toLocaleString('en-US')} ev/s`;
  const count =
    progress.totalEvents !== undefined
      ? `${progress.events.toLocaleString('en-US')}/${progress.totalEvents.toLocaleString('en-US')} events`
      : `${progress.events.toLocaleString('en-US')} events`;
  const tenant = progress.applied !== progress.events ? ` (${progress.applied.toLocaleString('en-US')} of the tenant)` : '';
  if (progress.fraction === undefined) {
    return `${label} ${count}${tenant}  ${rate}  position ${progress.position}`;
  }
  const filled = Math.round(progress.fraction * width);
  const bar = '#'.repeat(filled).padEnd(width, '.');
  const percent = `${(progress.fraction * 100).toFixed(1).padStart(5)}%`;
  const left = progress.secondsLeft === undefined ? '~? left' : `~${formatDuration(progress.secondsLeft)} left`;
  return `${label} [${bar}] ${percent}  ${count}${tenant}  ${rate}  ${left}`;
}

export function formatDuration(seconds: number): string {
  const s = Math.max(0, Math.round(seconds));
  if (s < 60) return `${s} s`;
  if (s < 3600) return `${Math.floor(s / 60)} min ${String(s % 60).padStart(2, '0')} s`;
  return `${Math.floor(s / 3600)} h ${String(Math.floor((s % 3600) / 60)).padStart(2, '0')} min`;
}
