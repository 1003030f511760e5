import { ProviderCallError } from './errors';
import { classifyFailure, ProviderRequest } from './provider-request';

/** What a provider resource (a probe or verify endpoint) answered: its status, and whether its body was a JSON object. */
export type ResourceAnswer = { status: number; json: boolean } | { failed: ProviderCallError };

const LOOPBACK = /^http:\/\/(127\.0\.0\.1|localhost|\[::1\])(:\d+)?\//;

/**
 * GET a provider resource with a credential (a probe, ClickSend's account endpoint), within the provider call
 * bounds. The body is read (bounded) only to tell a JSON answer from garbage, then dropped: it may hold account
 * data and is never kept. Plain http only for loopback stand-ins; redirects are not followed (they could carry
 * the credential elsewhere).
 */
export async function getProviderResource(url: string, authorization: string, timeoutMs: number): Promise<ResourceAnswer> {
  if (!url.startsWith('https://') && !LOOPBACK.test(url)) return { failed: new ProviderCallError('provider_request_failed') };
  const request = new ProviderRequest(timeoutMs);
  try {
    const response = await request.fetch(url, { method: 'GET', headers: { authorization, accept: 'application/json' }, redirect: 'manual' });
    const body = await request.json(response);
    if (request.timedOut || request.tooLarge) return { failed: classifyFailure(undefined, request) };
    return { status: response.status, json: body !== null && typeof body === 'object' && !Array.isArray(body) };
  } catch (err) {
    return { failed: classifyFailure(err, request) };
  }
}
