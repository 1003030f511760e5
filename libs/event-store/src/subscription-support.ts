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
