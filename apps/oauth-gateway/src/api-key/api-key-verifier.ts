import type { ProviderFailureCode } from '@authpipe/contracts';
import { getProviderResource } from '@authpipe/oauth';
import type { ProviderDefinition } from '@authpipe/providers';

export type VerificationOutcome = { outcome: 'valid' } | { outcome: 'rejected' } | { outcome: 'unavailable'; code: ProviderFailureCode };

/**
 * Check an API key against the provider's verify endpoint before anything is stored (ClickSend: GET /v3/account
 * with HTTP Basic username:api_key), bounded by PROVIDER_TIMEOUT_MS. Only a JSON answer counts: a 2xx means valid,
 * one of the provider's "revoked" statuses means the key is wrong. Anything else (a timeout, a 5xx, an HTML page,
 * a truncated or oversized body) means we could not tell, and says why.
 */
export async function verifyApiKey(
  provider: ProviderDefinition,
  credential: { username?: string; apiKey: string },
  timeoutMs: number,
): Promise<VerificationOutcome> {
  const basic = Buffer.from(`${credential.username ?? ''}:${credential.apiKey}`).toString('base64');
  const answer = await getProviderResource(provider.apiKey!.verifyUrl, `Basic ${basic}`, timeoutMs);
  if ('failed' in answer) return { outcome: 'unavailable', code: answer.failed.code };
  const { status, json } = answer;
  if (status >= 500) return { outcome: 'unavailable', code: 'provider_unavailable' };
  if (status === 429) return { outcome: 'unavailable', code: 'provider_rate_limited' };
  if (!json) return { outcome: 'unavailable', code: 'invalid_provider_response' };
  if (status >= 200 && status < 300) return { outcome: 'valid' };
  if (provider.probe.revokedStatuses.includes(status)) return { outcome: 'rejected' };
  return { outcome: 'unavailable', code: 'invalid_provider_response' };
}
