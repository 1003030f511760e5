export { ConnectButton } from './connect-button';
export type { ConnectButtonProps } from './connect-button';
export { useConnect, providerName } from './use-connect';
export type { ConnectState, UseConnect, UseConnectOptions } from './use-connect';
export { ConnectError, connectUrlOf, isConnectResult, openBlankPopup, outcomeOf, watchPopup } from './connect-popup';
export type { ConnectedConnection, ConnectOutcome, ConnectResultMessage, ConnectSessionLike, PopupSize, WatchOptions } from './connect-popup';
