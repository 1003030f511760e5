/*
 * When each connection is probed: once per interval, at an offset inside the interval that is derived from its id.
 * The slots are aligned to the epoch, so they do not move when the monitor restarts and connections stay spread
 * over the interval (no thundering herd at start-up or at the top of each interval).
 */

/** Offset of a connection inside the probe interval, stable per connection. */
export function probeOffsetMs(connectionId: string, intervalMs: number): number {
  let hash = 0;
  for (const char of connectionId) hash = (hash * 31 + char.charCodeAt(0)) >>> 0;
  return hash % intervalMs;
}

/** The connection's first probe slot strictly after `afterMs` (epoch milliseconds). */
export function nextProbeAt(connectionId: string, intervalMs: number, afterMs: number): number {
  const offset = probeOffsetMs(connectionId, intervalMs);
  return (Math.floor((afterMs - offset) / intervalMs) + 1) * intervalMs + offset;
}
