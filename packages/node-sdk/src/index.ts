export { Authpipe } from './authpipe';
export {
  AuthpipeError,
  AuthpipeNotConnectedError,
  AuthpipeRequestError,
  AuthpipeRevokedError,
  AuthpipeUnauthorizedError,
  AuthpipeUnavailableError,
} from './errors';
export type { AuthpipeErrorDetails, AuthpipeFieldProblem } from './errors';
export { connectionIdFor } from './connection-id';
export type {
  AuthpipeOptions,
  AuthpipeStreamEvent,
  CachePolicy,
  CacheStats,
  Connection,
  ConnectionFilter,
  ConnectionPage,
  ConnectionStatus,
  ConnectSession,
  ConnectSessionRequest,
  Credential,
  CredentialRequest,
  CredentialResult,
  DisconnectResult,
  EventStreamOptions,
  EventStreamStatus,
} from './types';
