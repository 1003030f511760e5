import { createHash, randomBytes } from 'node:crypto';

/**
 * Acting as the user's browser without a browser: a small cookie jar plus manual redirect following with fetch.
 * Works against the local oauth-server (auto-login, auto-consent) and through any app that only redirects
 * (e.g. the broker's connect endpoint -> provider -> broker callback).
 */

interface StoredCookie {
  name: string;
  value: string;
  path: string;
  /** epoch ms; undefined = session cookie */
  expires?: number;
}

/**
 * Cookies per origin (scheme://host:port). Real browsers share cookies across ports of one host; this jar keeps
 * them apart so several local servers on 127.0.0.1 cannot clobber each other's session cookies.
 * Path matching and expiry (Max-Age / Expires) follow RFC 6265; Domain, Secure and SameSite are ignored.
 */
export class CookieJar {
  private readonly byOrigin = new Map<string, StoredCookie[]>();

  /** Store the Set-Cookie headers of a response received from `url`. */
  storeFrom(url: string | URL, headers: Headers): void {
    const target = new URL(url);
    for (const line of headers.getSetCookie()) this.set(target, line);
  }

  set(url: string | URL, setCookie: string): void {
    const target = new URL(url);
    const [pair, ...attributes] = setCookie.split(';');
    const eq = pair.indexOf('=');
    if (eq <= 0) return;
    const cookie: StoredCookie = { name: pair.slice(0, eq).trim(), value: pair.slice(eq + 1).trim(), path: defaultPath(target) };
    let maxAge: number | undefined;
    for (const attribute of attributes) {
      const i = attribute.indexOf('=');
      const key = (i === -1 ? attribute : attribute.slice(0, i)).trim().toLowerCase();
      const value = i === -1 ? '' : attribute.slice(i + 1).trim();
      if (key === 'path' && value.startsWith('/')) cookie.path = value;
      else if (key === 'expires') {
        const at = Date.parse(value);
        if (!Number.isNaN(at)) cookie.expires = at;
      } else if (key === 'max-age' && /^-?\d+$/.test(value)) maxAge = Number(value);
    }
    if (maxAge !== undefined) cookie.expires = Date.now() + maxAge * 1000;
    const list = (this.byOrigin.get(target.origin) ?? []).filter((c) => !(c.name === cookie.name && c.path === cookie.path));
    if (cookie.expires === undefined || cookie.expires > Date.now()) list.push(cookie);
    this.byOrigin.set(target.origin, list);
  }

  /** The Cookie header value for a request to `url` (undefined if none). */
  header(url: string | URL): string | undefined {
    const target = new URL(url);
    const now = Date.now();
    const matching = (this.byOrigin.get(target.origin) ?? [])
      .filter((c) => (c.expires === undefined || c.expires > now) && pathMatches(target.pathname, c.path))
      .sort((a, b) => b.path.length - a.path.length);
    return matching.length ? matching.map((c) => `${c.name}=${c.value}`).join('; ') : undefined;
  }

  /** name -> value of the cookies that would be sent to `url`. */
  cookiesFor(url: string | URL): Record<string, string> {
    const header = this.header(url);
    if (!header) return {};
    return Object.fromEntries(header.split('; ').map((kv) => [kv.slice(0, kv.indexOf('=')), kv.slice(kv.indexOf('=') + 1)]));
  }

  clear(): void {
    this.byOrigin.clear();
  }
}

function defaultPath(url: URL): string {
  const path = url.pathname;
  if (!path.startsWith('/') || path.lastIndexOf('/') === 0) return '/';
  return path.slice(0, path.lastIndexOf('/'));
}

function pathMatches(requestPath: string, cookiePath: string): boolean {
  if (requestPath === cookiePath) return true;
  if (!requestPath.startsWith(cookiePath)) return false;
  return cookiePath.endsWith('/') || requestPath.charAt(cookiePath.length) === '/';
}

export interface Hop {
  method: string;
  url: string;
  status: number;
  location?: string;
}

export interface BrowseOptions {
  jar?: CookieJar;
  method?: string;
  /** Request body of the first request (form fields are sent urlencoded). */
  form?: Record<string, string>;
  headers?: Record<string, string>;
  /** Stop before requesting a URL for which this returns true (it is returned as `stoppedAt`). */
  stopAt?: (url: URL, method: string) => boolean;
  /** Auto-submit HTML pages that consist of a POST form with hidden inputs (response_mode=form_post, logout confirm). Default true. */
  submitForms?: boolean;
  /** Default 20. */
  maxHops?: number;
  fetch?: typeof fetch;
}

export interface BrowseResult {
  /** Set when stopAt matched: the URL the browser was about to open (not requested). */
  stoppedAt?: URL;
  /** With stoppedAt: the method it would have used and, for a form POST, its fields. */
  stoppedMethod?: string;
  stoppedForm?: URLSearchParams;
  /** The last URL actually requested. */
  url: URL;
  /** The last response (its body already read into `body`). */
  response: Response;
  body: string;
  hops: Hop[];
  jar: CookieJar;
}

const HIDDEN_FORM = /<form\b[^>]*\bmethod=["']?post["']?[^>]*>/i;

/** Follow redirects like a browser (303 -> GET, 307/308 keep the method), keeping cookies in the jar. */
export async function browse(start: string | URL, options: BrowseOptions = {}): Promise<BrowseResult> {
  const jar = options.jar ?? new CookieJar();
  const doFetch = options.fetch ?? fetch;
  const maxHops = options.maxHops ?? 20;
  const hops: Hop[] = [];
  let url = new URL(start);
  let method = (options.method ?? (options.form ? 'POST' : 'GET')).toUpperCase();
  let form: URLSearchParams | undefined = options.form ? new URLSearchParams(options.form) : undefined;
  let extraHeaders = options.headers ?? {};
  let lastResponse: Response | undefined;
  let lastBody = '';

  for (;;) {
    if (hops.length > 0 && options.stopAt?.(url, method)) {
      const last = hops[hops.length - 1];
      return { stoppedAt: url, stoppedMethod: method, stoppedForm: form, url: new URL(last.url), response: lastResponse!, body: lastBody, hops, jar };
    }
    if (hops.length >= maxHops) throw new Error(`more than ${maxHops} hops: ${hops.map((h) => `${h.status} ${h.url}`).join(' -> ')}`);
    const headers: Record<string, string> = { ...extraHeaders };
    const cookie = jar.header(url);
    if (cookie) headers.cookie = cookie;
    if (form) headers['content-type'] = 'application/x-www-form-urlencoded';
    const response = await doFetch(url, { method, headers, body: form?.toString(), redirect: 'manual' });
    jar.storeFrom(url, response.headers);
    const location = response.headers.get('location') ?? undefined;
    hops.push({ method, url: url.href, status: response.status, location });
    lastResponse = response;
    lastBody = '';

    if (response.status >= 300 && response.status < 400 && location) {
      await response.body?.cancel();
      const next = new URL(location, url);
      if (response.status === 307 || response.status === 308) {
        // keep method and body
      } else {
        method = 'GET';
        form = undefined;
      }
      url = next;
      extraHeaders = {};
      continue;
    }

    lastBody = await response.text();
    const type = response.headers.get('content-type') ?? '';
    if ((options.submitForms ?? true) && type.includes('text/html') && HIDDEN_FORM.test(lastBody)) {
      const parsed = parseHiddenForm(lastBody, url);
      if (parsed) {
        url = parsed.action;
        method = 'POST';
        form = parsed.fields;
        extraHeaders = {};
        if (options.stopAt?.(url, method)) {
          return { stoppedAt: url, stoppedMethod: method, stoppedForm: form, url: new URL(hops[hops.length - 1].url), response, body: lastBody, hops, jar };
        }
        continue;
      }
    }
    return { url, response, body: lastBody, hops, jar };
  }
}

function decodeHtml(value: string): string {
  return value
    .replace(/&#x([0-9a-f]+);/gi, (_, hex: string) => String.fromCodePoint(parseInt(hex, 16)))
    .replace(/&#(\d+);/g, (_, dec: string) => String.fromCodePoint(Number(dec)))
    .replace(/&quot;/g, '"')
    .replace(/&#39;|&apos;/g, "'")
    .replace(/&lt;/g, '<')
    .replace(/&gt;/g, '>')
    .replace(/&amp;/g, '&');
}

function attribute(tag: string, name: string): string | undefined {
  const match = new RegExp(`\\b${name}=(?:"([^"]*)"|'([^']*)'|([^\\s>]+))`, 'i').exec(tag);
  if (!match) return undefined;
  return decodeHtml(match[1] ?? match[2] ?? match[3] ?? '');
}

/** The first POST form of a page with its hidden inputs (and a name=value submit button, if any). */
export function parseHiddenForm(html: string, base: URL): { action: URL; fields: URLSearchParams } | undefined {
  const formTag = HIDDEN_FORM.exec(html);
  if (!formTag) return undefined;
  const action = new URL(attribute(formTag[0], 'action') ?? base.href, base);
  const fields = new URLSearchParams();
  for (const input of html.matchAll(/<input\b[^>]*>/gi)) {
    const name = attribute(input[0], 'name');
    if (name && (attribute(input[0], 'type') ?? 'text').toLowerCase() === 'hidden') {
      fields.append(name, attribute(input[0], 'value') ?? '');
    }
  }
  for (const button of html.matchAll(/<button\b[^>]*>/gi)) {
    const name = attribute(button[0], 'name');
    const value = attribute(button[0], 'value');
    if (name && value !== undefined && !fields.has(name)) {
      fields.append(name, value);
      break;
    }
  }
  return { action, fields };
}

export interface AuthorizationCallback {
  /** The redirect_uri request the browser was about to make (query or fragment carries the result). */
  url: URL;
  /** Response parameters (query, fragment or form_post fields). */
  params: URLSearchParams;
  code?: string;
  state?: string;
  iss?: string;
  error?: string;
  errorDescription?: string;
  hops: Hop[];
  jar: CookieJar;
}

function sameEndpoint(url: URL, redirectUri: URL): boolean {
  return url.origin === redirectUri.origin && url.pathname === redirectUri.pathname;
}

/**
 * Open an authorization URL as the user and follow it until the browser would hit `redirectUri`
 * (which is not requested). Throws if the flow ends anywhere else (e.g. an error page of the server).
 */
export async function authorizeInBrowser(
  authorizationUrl: string | URL,
  redirectUri: string,
  options: { jar?: CookieJar; maxHops?: number } = {},
): Promise<AuthorizationCallback> {
  const target = new URL(redirectUri);
  const result = await browse(authorizationUrl, {
    jar: options.jar,
    maxHops: options.maxHops,
    stopAt: (url) => sameEndpoint(url, target),
  });
  if (!result.stoppedAt) {
    throw new Error(
      `authorization did not reach ${redirectUri}; ended at ${result.response.status} ${result.url.href}: ${result.body.slice(0, 500)}`,
    );
  }
  const params = new URLSearchParams(result.stoppedAt.search);
  if (result.stoppedAt.hash.length > 1) {
    for (const [key, value] of new URLSearchParams(result.stoppedAt.hash.slice(1))) params.append(key, value);
  }
  if (result.stoppedForm) for (const [key, value] of result.stoppedForm) params.append(key, value);
  return {
    url: result.stoppedAt,
    params,
    code: params.get('code') ?? undefined,
    state: params.get('state') ?? undefined,
    iss: params.get('iss') ?? undefined,
    error: params.get('error') ?? undefined,
    errorDescription: params.get('error_description') ?? undefined,
    hops: result.hops,
    jar: result.jar,
  };
}

/** A fresh PKCE S256 pair (verifier of 64 chars). */
export function createPkce(): { verifier: string; challenge: string; method: 'S256' } {
  const verifier = randomBytes(48).toString('base64url');
  return { verifier, challenge: createHash('sha256').update(verifier).digest('base64url'), method: 'S256' };
}

export function randomState(): string {
  return randomBytes(16).toString('base64url');
}
