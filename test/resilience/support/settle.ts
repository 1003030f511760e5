import type { RecordedEvent } from '@authpipe/contracts';
import { eventually } from '../../support/test-platform';
import { LoadPlatform, readHistory } from './load-platform';

/**
 * After a load: make the provider issue hour-long tokens and wait until every connection still connected has been
 * refreshed onto one (or connected with one). From then on nothing is due, no refresh is in flight, and the
 * history, the read models, vault and the locks can be compared at rest. Returns the history at that point.
 */
export async function settle(lp: LoadPlatform, timeoutMs = 60_000): Promise<RecordedEvent[]> {
  await lp.provider.settings({ accessTokenTtlSeconds: 3600 });
  const longAfter = Date.now() + 30 * 60_000;
  const history = await eventually(
    async () => {
      const events = await readHistory(lp.platform.nats.url);
      const expiry = new Map<string, string | null | undefined>();
      for (const e of events) {
        const data = e.data as { connectionId?: string; expiresAt?: string | null };
        if (!data.connectionId) continue;
        if (e.type === 'Connected' || e.type === 'Refreshed') expiry.set(data.connectionId, data.expiresAt);
        if (e.type === 'Revoked' || e.type === 'Disconnected') expiry.set(data.connectionId, null);
      }
      const short = [...expiry.values()].filter((at) => at && Date.parse(at) < longAfter);
      return short.length ? undefined : events;
    },
    timeoutMs,
    'every connection on an hour-long token',
  );
  // A flight that just appended its Refreshed releases its lock right after.
  await new Promise((r) => setTimeout(r, 1_000));
  return history;
}
