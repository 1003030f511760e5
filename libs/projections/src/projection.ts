import type { RecordedEvent } from '@authpipe/contracts';
import type { ReadModelStore } from '@authpipe/read-models';

/**
 * A projection turns lifecycle events into read-model documents. `apply` must be idempotent: applying an event a
 * second time (redelivery, replay) changes nothing. The helpers in apply-once.ts give that guarantee by recording
 * the last applied position on each document.
 */
export interface Projection {
  readonly name: string;
  /** Collections this projection writes (replay rebuilds them). */
  readonly collections: readonly string[];
  apply(event: RecordedEvent, store: ReadModelStore): Promise<void>;
}
