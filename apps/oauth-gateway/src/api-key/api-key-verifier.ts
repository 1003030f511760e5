import type { ProviderDefinition } from '@authpipe/providers';

export type VerificationOutcome = 'valid' | 'rejected' | 'unavailable';

const LOOPBACK = /^http:\/\/(127\.0\.0\.1|localhost|\[::1\])(:\d+)?\//;

/**
 * Check an API key against the provider's verify endpoint before anything is stored (ClickSend: GET /v3/account
 * with HTTP Basic username:api_key). The provider's "revoked" statuses mean the key is wrong; anything else that is
 * not a success means we could not tell.
 */
export async function verifyApiKey(
  provider: ProviderDefinition,
  credential: { username?: string; apiKey: string },
  timeoutMs: number,
): Promise<VerificationOutcome> {
  const settings = provider.apiKey!;
  if (!settings.verifyUrl.startsWith('https://') && !LOOPBACK.test(settings.verifyUrl)) return 'unavailable';
  const basic = Buffer.from(`${credential.username ?? ''}:${credential.apiKey}`).toString('base64');
  try {
    const response = await fetch(settings.verifyUrl, {
      method: 'GET',
      headers: { authorization: `Basic ${basic}`, accept: 'application/json' },
      redirect: 'error',
      signal: AbortSignal.timeout(timeoutMs),
    });
    await response.body?.cancel();
    if (response.ok) return 'valid';
    return provider.probe.revokedStatuses.includes(response.status) ? 'rejected' : 'unavailable';
  } catch {
    return 'unavailable';
  }
}
