'use client';
import type { ButtonHTMLAttributes, CSSProperties, ReactNode } from 'react';
import { providerName, useConnect, UseConnectOptions } from './use-connect';

export interface ConnectButtonProps
  extends UseConnectOptions,
    Omit<ButtonHTMLAttributes<HTMLButtonElement>, 'onClick' | 'onError' | 'type' | 'children'> {
  /** The button's content; default "Connect <Provider>" (and "Connecting…" while in flight). */
  children?: ReactNode;
}

const visuallyHidden: CSSProperties = {
  position: 'absolute',
  width: 1,
  height: 1,
  margin: -1,
  padding: 0,
  overflow: 'hidden',
  clip: 'rect(0 0 0 0)',
  whiteSpace: 'nowrap',
  border: 0,
};

/**
 * A button that connects one provider account through Authpipe: a popup to the gateway's connect page, the
 * result taken only from that popup on the gateway's origin, a closed popup reported as a cancel, a blocked popup
 * turned into a full-page redirect. Only the connect session's URL reaches the browser.
 *
 * ```tsx
 * <ConnectButton
 *   provider="gmail"
 *   getSession={() => fetch('/api/connect-session', { method: 'POST' }).then((r) => r.json())}
 *   onSuccess={(connection) => console.log(connection.connectionId)}
 *   onError={(error) => console.warn(error.reason)}
 *   onCancel={() => undefined}
 * />
 * ```
 */
export function ConnectButton(props: ConnectButtonProps) {
  const {
    provider,
    session,
    getSession,
    onSuccess,
    onError,
    onCancel,
    gatewayOrigin,
    redirectFallback,
    popupSize,
    children,
    disabled,
    ...buttonProps
  } = props;
  const { connect, busy, statusText } = useConnect({ provider, session, getSession, onSuccess, onError, onCancel, gatewayOrigin, redirectFallback, popupSize });
  const name = providerName(provider);
  return (
    <>
      <button
        type="button"
        data-provider={provider}
        {...buttonProps}
        // Not `disabled` while busy: a disabled button drops keyboard focus. aria-disabled keeps it.
        disabled={disabled}
        aria-busy={busy}
        aria-disabled={busy || undefined}
        onClick={() => {
          if (!busy && !disabled) connect();
        }}
      >
        {children ?? (busy ? `Connecting ${name}…` : `Connect ${name}`)}
      </button>
      <span role="status" aria-live="polite" style={visuallyHidden}>
        {statusText}
      </span>
    </>
  );
}
