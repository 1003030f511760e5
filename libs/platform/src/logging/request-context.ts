import { AsyncLocalStorage } from 'node:async_hooks';

/** What a log line knows about the work it is part of. */
export interface RequestContext {
  /** The X-Request-Id of an HTTP request, the correlationId of an RPC request, or the metadata.correlationId of an event. */
  correlationId?: string;
}

const storage = new AsyncLocalStorage<RequestContext>();

/**
 * Run `work` (and everything it starts, synchronously or not) with this correlation id: the platform logger adds it
 * to every line, and RPC requests sent meanwhile carry it. Set once per unit of work by the HTTP middleware, the
 * RPC interceptor and the event subscription wrapper.
 */
export function runWithCorrelationId<T>(correlationId: string | undefined, work: () => T): T {
  return storage.run({ correlationId }, work);
}

/** The correlation id of the work running now, if any. */
export function currentCorrelationId(): string | undefined {
  return storage.getStore()?.correlationId;
}
