import { EventStoreUnavailableError } from './errors';

/** A promise settled from outside: a subscription's `caughtUp` and `closed`. */
export interface Deferred {
  promise: Promise<void>;
  resolve(): void;
  reject(err: unknown): void;
  settled: boolean;
}

/**
 * The no-op catch keeps a rejection nobody awaits from crashing the process; whoever awaits the promise still
 * sees it.
 */
export function deferred(): Deferred {
  const d = { settled: false } as Deferred;
  d.promise = new Promise<void>((resolve, reject) => {
    d.resolve = () => ((d.settled = true), resolve());
    d.reject = (err) => ((d.settled = true), reject(err));
  });
  d.promise.catch(() => undefined);
  return d;
}

/** Wraps an error thrown by a subscriber's handler, to tell it apart from a failure of the store. */
export class HandlerError {
  constructor(readonly error: unknown) {}
}

/**
 * Settle a subscription's `closed` and `caughtUp` from how its loop ended: a stop closes it cleanly; a handler's
 * error or a store failure rejects `closed`; a subscription that ends before catching up rejects `caughtUp` with
 * the same reason. The returned promise never rejects (it is what `stop()` awaits).
 */
export function settleWhenEnded(loop: Promise<void>, stopping: () => boolean, closed: Deferred, caughtUp: Deferred): Promise<void> {
  const ended = loop.then(
    () => {
      if (stopping()) closed.resolve();
      else closed.reject(new EventStoreUnavailableError('event subscription ended unexpectedly'));
    },
    (err: unknown) => {
      closed.reject(
        err instanceof HandlerError ? err.error : new EventStoreUnavailableError(`event subscription failed: ${(err as Error).message}`, { cause: err }),
      );
    },
  );
  ended.finally(() => {
    if (caughtUp.settled) return;
    closed.promise.then(
      () => caughtUp.reject(new Error('event subscription stopped before it caught up')),
      (err: unknown) => caughtUp.reject(err),
    );
  });
  return ended;
}
