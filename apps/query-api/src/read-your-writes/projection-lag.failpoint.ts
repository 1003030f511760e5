import type { Projection } from '@authpipe/projections';
import { failpoint } from '@authpipe/platform';

/**
 * Not a read model: the first "projection" of query-api's projector, the failpoint `projection.before-apply`.
 * Inert unless AUTHPIPE_FAILPOINTS arms it; with `sleep(<ms>)` every event reaches the read models that much later,
 * so a test can make the read models lag the history deterministically.
 */
export class ProjectionLagFailpoint implements Projection {
  readonly name = 'failpoint';
  readonly collections: readonly string[] = [];

  async apply(): Promise<void> {
    await failpoint('projection.before-apply');
  }
}
