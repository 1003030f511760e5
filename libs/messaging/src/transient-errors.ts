import { ErrorCode, NatsError } from 'nats';

/**
 * NATS failures that say the bus (or a JetStream stream behind it) is not reachable right now: the connection is
 * down, reconnecting or closing, nobody answered in time, or nobody listens yet (a stream still loading after a
 * nats-server restart). The same request may succeed later, unchanged.
 */
const TRANSIENT_NATS_CODES: ReadonlySet<string> = new Set([
  ErrorCode.ConnectionClosed,
  ErrorCode.ConnectionDraining,
  ErrorCode.ConnectionRefused,
  ErrorCode.ConnectionTimeout,
  ErrorCode.Disconnect,
  ErrorCode.Timeout,
  ErrorCode.NoResponders,
  ErrorCode.JetStream408RequestTimeout,
]);

/** Nest's NATS client rejects every request with this text while its connection is down (until it reconnects). */
const NEST_CONNECTION_LOST = 'Connection lost';

/** A NATS error, or Nest's NATS client refusing to send while disconnected: retry later. */
export function isNatsUnavailable(err: unknown): boolean {
  if (err instanceof NatsError) return !err.api_error && TRANSIENT_NATS_CODES.has(err.code);
  return typeof err === 'string' && err.includes(NEST_CONNECTION_LOST);
}

/**
 * Stores behind the bus that report themselves unavailable (EventStoreUnavailableError, ReadModelUnavailableError):
 * matched by their stable code, so this library needs neither adapter.
 */
const UNAVAILABLE_STORE_CODES: ReadonlySet<string> = new Set(['EVENT_STORE_UNAVAILABLE', 'READ_MODEL_UNAVAILABLE']);

/**
 * The platform could not reach a dependency (NATS, a JetStream stream, the event store, the read models) and the
 * same request may succeed later: answered as UNAVAILABLE over NATS and 503 with Retry-After over HTTP, not as an
 * internal error.
 */
export function isTransientFailure(err: unknown): boolean {
  if (isNatsUnavailable(err)) return true;
  const code = (err as { code?: unknown } | null)?.code;
  return err instanceof Error && typeof code === 'string' && UNAVAILABLE_STORE_CODES.has(code);
}
