'use client';
import { useCallback, useEffect, useRef, useState } from 'react';
import {
  ConnectedConnection,
  ConnectError,
  ConnectOutcome,
  ConnectSessionLike,
  connectUrlOf,
  openBlankPopup,
  PopupSize,
  watchPopup,
} from './connect-popup';

export interface UseConnectOptions {
  /** Provider key (`gmail`), for messages and the popup title. */
  provider: string;
  /**
   * A connect session created by your backend (`authpipe.createConnectSession`) or its connectUrl. Sessions are
   * single use: give a new one after each attempt, or use `getSession`.
   */
  session?: ConnectSessionLike;
  /** Asks your backend for a new connect session on each click (preferred: sessions are single use). */
  getSession?: () => Promise<ConnectSessionLike>;
  onSuccess?: (connection: ConnectedConnection) => void;
  onError?: (error: ConnectError) => void;
  /** The user closed the popup without finishing. */
  onCancel?: () => void;
  /** The gateway's origin; when given, a connectUrl on any other origin is refused. Default: the connectUrl's origin. */
  gatewayOrigin?: string;
  /** When the browser blocks the popup, go to the connect page in this window (default true). */
  redirectFallback?: boolean;
  popupSize?: PopupSize;
}

export type ConnectState = 'idle' | 'connecting' | 'connected' | 'error' | 'cancelled' | 'redirecting';

export interface UseConnect {
  /** Start a connect. Call it from a click (or key) handler: the popup must open during the user's gesture. */
  connect: () => void;
  state: ConnectState;
  busy: boolean;
  /** A short text for a live region. */
  statusText: string;
}

const NAMES: Record<string, string> = { gmail: 'Gmail', discord: 'Discord', clicksend: 'ClickSend', dialpad: 'Dialpad', aircall: 'Aircall' };
export const providerName = (provider: string): string => NAMES[provider] ?? provider.charAt(0).toUpperCase() + provider.slice(1);

/** The connect flow as a hook, for a button of your own; `<ConnectButton>` is built on it. */
export function useConnect(options: UseConnectOptions): UseConnect {
  const [state, setState] = useState<ConnectState>('idle');
  const [statusText, setStatusText] = useState('');
  const latest = useRef(options);
  latest.current = options;
  const running = useRef(false);
  const stopWatching = useRef<(() => void) | undefined>(undefined);
  const mounted = useRef(true);

  useEffect(() => {
    mounted.current = true;
    return () => {
      mounted.current = false;
      stopWatching.current?.();
    };
  }, []);

  const settle = useCallback((outcome: ConnectOutcome) => {
    running.current = false;
    stopWatching.current = undefined;
    if (!mounted.current) return;
    const name = providerName(latest.current.provider);
    if (outcome.status === 'success') {
      setState('connected');
      setStatusText(`${name} connected.`);
      latest.current.onSuccess?.(outcome.connection);
    } else if (outcome.status === 'error') {
      setState('error');
      setStatusText(`${name} was not connected: ${outcome.error.message}`);
      latest.current.onError?.(outcome.error);
    } else {
      setState('cancelled');
      setStatusText(`Connecting ${name} was cancelled.`);
      latest.current.onCancel?.();
    }
  }, []);

  const connect = useCallback(() => {
    if (running.current) return;
    running.current = true;
    const opts = latest.current;
    const name = providerName(opts.provider);
    // Opened now, inside the gesture; pointed at the gateway once the session is known.
    const popup = openBlankPopup(window, `Connecting ${name}…`, opts.popupSize);
    setState('connecting');
    setStatusText(`Connecting ${name}…`);
    void (async () => {
      let url: URL;
      try {
        const session = opts.getSession ? await opts.getSession() : opts.session;
        if (session === undefined) throw new ConnectError('invalid_session', 'No connect session: pass session or getSession.');
        url = connectUrlOf(session, opts.gatewayOrigin);
      } catch (err) {
        popup?.close();
        const error = err instanceof ConnectError ? err : new ConnectError('session_failed', 'Could not start connecting. Try again.', opts.provider, { cause: err });
        return settle({ status: 'error', error });
      }
      if (popup?.closed) return settle({ status: 'cancelled' });
      if (!popup) {
        if (opts.redirectFallback === false) {
          return settle({ status: 'error', error: new ConnectError('popup_blocked', 'The browser blocked the connect window. Allow popups and try again.', opts.provider) });
        }
        if (mounted.current) {
          setState('redirecting');
          setStatusText(`Opening ${name}…`);
        }
        window.location.assign(url.href);
        return;
      }
      stopWatching.current = watchPopup({ win: window, popup, gatewayOrigin: url.origin, onOutcome: settle });
      popup.location.replace(url.href);
      popup.focus();
    })();
  }, [settle]);

  return { connect, state, busy: state === 'connecting' || state === 'redirecting', statusText };
}
