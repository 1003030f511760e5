import { Inject, Injectable, OnModuleInit } from '@nestjs/common';
import type { NatsConnection } from 'nats';
import { CHECKPOINTS, Checkpoint, Projector } from '@authpipe/projections';
import { CONFIG, NATS_CONNECTION, Operations, READ_MODELS } from '@authpipe/platform';
import type { ReadModelStore } from '@authpipe/read-models';
import { QueryApiConfig } from '../query-api.config';
import { PROJECTOR } from '../query-api.tokens';

/** Behind the history and not moving for this long: the projector is stuck, the read models go stale. */
const STUCK_AFTER_MS = 30_000;

/**
 * query-api is ready when (besides NATS and the event store, the platform's checks) its read models answer and its
 * projector has caught up: the HTTP port opens only after the start-up replay, and from then on the projector must
 * keep up. On JetStream the history's head is known (the stream's last sequence): behind it and not moving for 30 s
 * is not ready. EventStoreDB's head is a log position the projector may never reach (system events), so there the
 * check is the start-up replay only; /metrics has the lag (authpipe_projection_lag_seconds) either way.
 */
@Injectable()
export class QueryApiReadiness implements OnModuleInit {
  private lastPosition = -1n;
  private movedAt = Date.now();

  constructor(
    private readonly ops: Operations,
    @Inject(READ_MODELS) private readonly store: ReadModelStore,
    @Inject(PROJECTOR) private readonly projector: Projector,
    @Inject(NATS_CONNECTION) private readonly nats: NatsConnection,
    @Inject(CONFIG) private readonly config: QueryApiConfig,
  ) {}

  onModuleInit(): void {
    this.ops.addReadinessCheck('read_models', async () => {
      await this.store.collection<Checkpoint>(CHECKPOINTS).findOne({ _id: 'query-api' });
      return { kind: this.config.AUTHPIPE_READ_MODELS };
    });
    this.ops.addReadinessCheck('projector', () => this.projectorState());
  }

  private async projectorState(): Promise<Record<string, unknown>> {
    const position = this.projector.position;
    const now = Date.now();
    if (position !== this.lastPosition) {
      this.lastPosition = position;
      this.movedAt = now;
    }
    if (this.config.AUTHPIPE_EVENT_STORE !== 'jetstream') return { position: String(position) };
    const jsm = await this.nats.jetstreamManager();
    const head = BigInt((await jsm.streams.info(this.config.AUTHPIPE_EVENT_STREAM)).state.last_seq);
    const behind = head > position ? Number(head - position) : 0;
    if (behind && now - this.movedAt > STUCK_AFTER_MS) {
      throw new Error(`the projector is ${behind} events behind the history and has not moved for ${Math.round((now - this.movedAt) / 1000)} s`);
    }
    return { position: String(position), behind };
  }
}
