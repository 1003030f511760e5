/** A connect session created by a tenant's backend for one of its users; the browser only holds its token. */
export interface ConnectSessionRecord {
  tenantId: string;
  provider: string;
  userId: string;
  scopes: string[];
  /** Provider-declared authorization parameters chosen by the tenant's backend. */
  params?: Record<string, string>;
  /** Origin of the page that opened the flow: the result is posted to it and to nothing else. */
  returnOrigin?: string;
  expiresAt: string;
}

/** An authorization request in flight, found again by its `state` at the callback. */
export interface AuthorizationRequestRecord {
  tenantId: string;
  provider: string;
  userId: string;
  scopes: string[];
  redirectUri: string;
  /** PKCE verifier (RFC 7636), kept only for the life of the state. */
  codeVerifier?: string;
  returnOrigin?: string;
  correlationId: string;
  expiresAt: string;
}

/**
 * Short-lived, single-use records of the connect flow, shared by every gateway replica. Records are keyed by a
 * hash of their token, so the store never holds a usable session token or state. `take` returns a record at most
 * once, whatever the number of concurrent callers.
 */
export interface FlowStore {
  putSession(tokenHash: string, record: ConnectSessionRecord): Promise<void>;
  takeSession(tokenHash: string): Promise<ConnectSessionRecord | null>;
  /** Read a session without spending it (to show an API-key form before it is submitted). */
  peekSession(tokenHash: string): Promise<ConnectSessionRecord | null>;
  putAuthorizationRequest(stateHash: string, record: AuthorizationRequestRecord): Promise<void>;
  takeAuthorizationRequest(stateHash: string): Promise<AuthorizationRequestRecord | null>;
}
