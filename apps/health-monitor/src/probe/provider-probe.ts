import type { CredentialSecret } from '@authpipe/contracts';
import type { ProbeSettings } from '@authpipe/providers';
import type { ProbeAnswer } from './probe-outcome';

/**
 * One request to the provider's probe endpoint with the connection's credential: HTTP Basic `username:api_key` for
 * API keys (ClickSend), a Bearer access token otherwise. Only the status is kept; the body is discarded unread.
 */
export async function callProbe(probe: ProbeSettings, credential: CredentialSecret, timeoutMs: number): Promise<ProbeAnswer> {
  const authorization = authorizationFor(credential);
  try {
    const response = await fetch(probe.url, {
      method: probe.method,
      headers: { authorization, accept: 'application/json' },
      signal: AbortSignal.timeout(timeoutMs),
    });
    await response.body?.cancel().catch(() => undefined);
    return response.status;
  } catch (err) {
    return (err as Error).name === 'TimeoutError' ? 'timeout' : 'network_error';
  }
}

function authorizationFor(credential: CredentialSecret): string {
  if (credential.apiKey) return `Basic ${Buffer.from(`${credential.username ?? ''}:${credential.apiKey}`).toString('base64')}`;
  if (credential.accessToken) return `Bearer ${credential.accessToken}`;
  // Not the provider's answer: the scheduler reports it as a probe that could not run.
  throw new Error('the stored credential has neither an access token nor an API key');
}
