import { Inject, Injectable, Logger } from '@nestjs/common';
import { Problems } from '@authpipe/http';
import { Projector } from '@authpipe/projections';
import { CONFIG } from '@authpipe/platform';
import type { HistoryHead } from '@authpipe/replay';
import { QueryApiConfig } from '../query-api.config';
import { HISTORY_HEAD, PROJECTOR } from '../query-api.tokens';

/**
 * Read-your-writes for reads that would answer "not found": a tenant's backend asks for a credential the moment its
 * user's connect flow succeeded, but the gateway appended Connected to the event store, and this replica's read
 * models learn of it a little later (milliseconds; more under load, and each replica projects on its own). So
 * before a miss becomes a 404, the projector is made to catch up with the history as it is now (its head), and the
 * read models are looked at again. A hit costs nothing; a miss costs one head query, plus the lag if there is one.
 *
 * When the read models cannot be shown current (the head cannot be read, or the projector does not reach it within
 * READ_YOUR_WRITES_TIMEOUT_MS) a miss is answered 503 UNAVAILABLE, retryable: a 404 then could tell a backend that
 * a connected user is not connected. A document that was found but not `current` is answered as it is.
 */
@Injectable()
export class ReadYourWrites {
  private readonly logger = new Logger(ReadYourWrites.name);

  constructor(
    @Inject(PROJECTOR) private readonly projector: Projector,
    @Inject(HISTORY_HEAD) private readonly head: HistoryHead,
    @Inject(CONFIG) private readonly config: QueryApiConfig,
  ) {}

  /**
   * `find()` in the read models; when it finds nothing, or something `current` refuses (e.g. a connection not
   * connected, which a newer Connected may change), once more after catching up with the history.
   */
  async find<T>(find: () => Promise<T | null>, current: (found: T) => boolean = () => true): Promise<T | null> {
    const found = await find();
    if (found !== null && current(found)) return found;
    try {
      await this.catchUp();
    } catch (err) {
      // A state the read models do know (revoked, disconnected...) was true a moment ago: a better answer than a 503,
      // which would only make a backend retry reads of a connection that is, most likely, still revoked.
      if (found !== null) return found;
      throw err;
    }
    return find();
  }

  /** Resolves once the read models reflect every event appended before the call. @throws Problem 503 UNAVAILABLE */
  async catchUp(): Promise<void> {
    let head: bigint;
    try {
      head = await this.head.position();
    } catch (err) {
      this.logger.warn(`cannot read the head of the event history (${(err as Error).name}); a miss in the read models is answered 503`);
      throw Problems.unavailable('cannot tell whether the read models are current (the event store did not answer); retry shortly');
    }
    if (await this.projector.waitFor(head, this.config.READ_YOUR_WRITES_TIMEOUT_MS)) return;
    this.logger.warn(`the projector is at ${this.projector.position}, behind the history's head ${head} for ${this.config.READ_YOUR_WRITES_TIMEOUT_MS} ms`);
    throw Problems.unavailable('the read models are behind the event history; retry shortly');
  }
}
