/*
 * The connect flow in the browser, without React: a popup opened on the click, pointed at the gateway's connectUrl,
 * and the result taken only from a message that the gateway's result page posts from that popup.
 */

/** What the gateway's result page posts to `window.opener` (apps/oauth-gateway/src/connect/result-page.ts). */
export type ConnectResultMessage =
  | { type: 'authpipe:connect'; status: 'success'; connectionId: string; provider: string; userId: string; scopes: string[]; metadata?: Record<string, string> }
  | { type: 'authpipe:connect'; status: 'error'; reason: string; message: string; provider?: string };

/** A connection the user just made. Ids and scopes only: no credential ever reaches the browser. */
export interface ConnectedConnection {
  connectionId: string;
  provider: string;
  userId: string;
  scopes: string[];
  /** Non-secret facts from the provider (Discord bot installs: guild_id, permissions). */
  metadata: Record<string, string>;
}

/**
 * Why a connect did not succeed. `reason` is the gateway's (`access_denied`, `invalid_state`, `state_expired`,
 * `exchange_failed`, `verification_failed`, `provider_unavailable`, ...) or the button's own: `session_failed`
 * (getSession threw), `invalid_session` (no usable connectUrl), `popup_blocked` (and no redirect fallback).
 */
export class ConnectError extends Error {
  constructor(
    readonly reason: string,
    message: string,
    readonly provider?: string,
    options?: { cause?: unknown },
  ) {
    super(message, options);
    this.name = 'ConnectError';
  }
}

export type ConnectOutcome =
  | { status: 'success'; connection: ConnectedConnection }
  | { status: 'error'; error: ConnectError }
  | { status: 'cancelled' };

/** A connect session as the tenant's backend got it from Authpipe, or just its connectUrl. */
export type ConnectSessionLike = string | { connectUrl: string };

/** The connectUrl of a session, checked to be an absolute http(s) URL (and of the pinned origin, when given). */
export function connectUrlOf(session: ConnectSessionLike, pinnedOrigin?: string): URL {
  const raw = typeof session === 'string' ? session : session?.connectUrl;
  let url: URL;
  try {
    url = new URL(String(raw));
  } catch {
    throw new ConnectError('invalid_session', 'The connect session has no valid connectUrl.');
  }
  if (url.protocol !== 'https:' && url.protocol !== 'http:') throw new ConnectError('invalid_session', 'The connectUrl must be an http(s) URL.');
  if (pinnedOrigin !== undefined && url.origin !== pinnedOrigin) {
    throw new ConnectError('invalid_session', `The connectUrl is not on the expected gateway origin ${pinnedOrigin}.`);
  }
  return url;
}

/**
 * Whether a message event is the result of this flow: sent by the popup we opened (`source`), from the gateway's
 * origin (`origin`, which the browser sets and a page cannot forge), and shaped like the result page's message.
 * Anything else (another window, another origin, a look-alike payload) is ignored.
 */
export function isConnectResult(event: Pick<MessageEvent, 'origin' | 'source' | 'data'>, gatewayOrigin: string, popup: unknown): event is MessageEvent<ConnectResultMessage> {
  if (!popup || event.source !== popup || event.origin !== gatewayOrigin) return false;
  const data = event.data as Partial<Record<string, unknown>> | null;
  if (!data || typeof data !== 'object' || data.type !== 'authpipe:connect') return false;
  if (data.status === 'success') return typeof data.connectionId === 'string' && typeof data.provider === 'string' && typeof data.userId === 'string';
  return data.status === 'error' && typeof data.reason === 'string';
}

/** The outcome a result message stands for. */
export function outcomeOf(message: ConnectResultMessage): ConnectOutcome {
  if (message.status === 'success') {
    return {
      status: 'success',
      connection: {
        connectionId: message.connectionId,
        provider: message.provider,
        userId: message.userId,
        scopes: Array.isArray(message.scopes) ? message.scopes.filter((s): s is string => typeof s === 'string') : [],
        metadata: message.metadata && typeof message.metadata === 'object' ? { ...message.metadata } : {},
      },
    };
  }
  const text = typeof message.message === 'string' && message.message ? message.message : 'The account was not connected.';
  return { status: 'error', error: new ConnectError(message.reason, text, typeof message.provider === 'string' ? message.provider : undefined) };
}

export interface PopupSize {
  width: number;
  height: number;
}

/**
 * Opens an empty popup. Call it synchronously in the click handler, before any await: browsers allow popups only
 * during a user gesture. Returns null when the popup was blocked. No `noopener`: the result page needs `opener`.
 */
export function openBlankPopup(win: Window, title: string, size: PopupSize = { width: 520, height: 720 }): Window | null {
  const left = Math.max(0, Math.round(win.screenX + (win.outerWidth - size.width) / 2));
  const top = Math.max(0, Math.round(win.screenY + (win.outerHeight - size.height) / 2));
  let popup: Window | null = null;
  try {
    popup = win.open('', `authpipe-connect-${Date.now()}`, `popup=yes,width=${size.width},height=${size.height},left=${left},top=${top}`);
  } catch {
    popup = null;
  }
  if (!popup) return null;
  try {
    // Same-origin about:blank until it navigates: say what is happening while the session is fetched.
    popup.document.title = title;
    popup.document.body.style.cssText = 'font:16px system-ui,sans-serif;display:grid;place-items:center;min-height:90vh;color:#1d2330';
    popup.document.body.textContent = title;
  } catch {
    // A browser that gives a cross-origin popup: nothing to write.
  }
  return popup;
}

export interface WatchOptions {
  win: Window;
  popup: Window;
  gatewayOrigin: string;
  onOutcome: (outcome: ConnectOutcome) => void;
  /** How often `popup.closed` is checked (default 250 ms). */
  pollMs?: number;
  /**
   * After the popup is seen closed, how long a result message may still arrive (default 1000 ms): the result page
   * posts and closes at once, and the two can reach this window in either order.
   */
  closeGraceMs?: number;
}

/**
 * Waits for the popup's result message or its closing (a cancel). Calls `onOutcome` once. Returns a function that
 * stops watching without an outcome (on unmount).
 */
export function watchPopup(options: WatchOptions): () => void {
  const { win, popup, gatewayOrigin, onOutcome } = options;
  let done = false;
  let graceTimer: ReturnType<typeof setTimeout> | undefined;
  const stop = () => {
    done = true;
    win.removeEventListener('message', onMessage);
    clearInterval(poll);
    clearTimeout(graceTimer);
  };
  const finish = (outcome: ConnectOutcome) => {
    if (done) return;
    stop();
    onOutcome(outcome);
  };
  function onMessage(event: MessageEvent) {
    if (!isConnectResult(event, gatewayOrigin, popup)) return;
    finish(outcomeOf(event.data));
  }
  win.addEventListener('message', onMessage);
  const poll = setInterval(() => {
    if (done || graceTimer !== undefined || !popup.closed) return;
    graceTimer = setTimeout(() => finish({ status: 'cancelled' }), options.closeGraceMs ?? 1000);
  }, options.pollMs ?? 250);
  return stop;
}
