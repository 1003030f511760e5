/** How a probe answer is classified: only the provider's "revoked" statuses are terminal. */
export type ProbeOutcome = 'healthy' | 'revoked' | 'transient';

export function classifyProbe(status: number | 'network_error', revokedStatuses: number[]): ProbeOutcome {
  if (status === 'network_error') return 'transient';
  if (revokedStatuses.includes(status)) return 'revoked';
  if (status >= 200 && status < 300) return 'healthy';
  return 'transient';
}

/** Offset of a connection inside the probe interval, stable per connection, so probes do not all fire at once. */
export function probeOffsetMs(connectionId: string, intervalMs: number): number {
  let hash = 0;
  for (const char of connectionId) hash = (hash * 31 + char.charCodeAt(0)) >>> 0;
  return hash % intervalMs;
}
