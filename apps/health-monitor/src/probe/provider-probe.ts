import type { CredentialSecret } from '@authpipe/contracts';
import { getProviderResource } from '@authpipe/oauth';
import type { ProbeSettings } from '@authpipe/providers';
import type { ProbeAnswer } from './probe-outcome';

/**
 * One request to the provider's probe endpoint with the connection's credential: HTTP Basic `username:api_key` for
 * API keys (ClickSend), a Bearer access token otherwise, bounded by PROVIDER_TIMEOUT_MS. Only the status is kept,
 * and only when the body is the JSON the provider answers with: a 2xx or a "revoked" status carrying something
 * else (an HTML page, truncated or oversized output) did not come from the provider's API and proves nothing, so it
 * is `invalid_provider_response`, a transient failure, never a revocation.
 */
export async function callProbe(probe: ProbeSettings, credential: CredentialSecret, timeoutMs: number): Promise<ProbeAnswer> {
  const answer = await getProviderResource(probe.url, authorizationFor(credential), timeoutMs);
  if ('failed' in answer) {
    switch (answer.failed.code) {
      case 'provider_timeout':
        return 'timeout';
      case 'provider_unavailable':
        return answer.failed.detail.status ?? 'network_error';
      default:
        return 'invalid_provider_response';
    }
  }
  const meaningful = (answer.status >= 200 && answer.status < 300 && answer.status !== 204) || probe.revokedStatuses.includes(answer.status);
  return meaningful && !answer.json ? 'invalid_provider_response' : answer.status;
}

function authorizationFor(credential: CredentialSecret): string {
  if (credential.apiKey) return `Basic ${Buffer.from(`${credential.username ?? ''}:${credential.apiKey}`).toString('base64')}`;
  if (credential.accessToken) return `Bearer ${credential.accessToken}`;
  // Not the provider's answer: the scheduler reports it as a probe that could not run.
  throw new Error('the stored credential has neither an access token nor an API key');
}
