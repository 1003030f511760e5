import { BeforeApplicationShutdown, Inject, Injectable, Logger } from '@nestjs/common';
import type { Response } from 'express';
import { filter, Subscription } from 'rxjs';
import type { RecordedEvent } from '@authpipe/contracts';
import { CONFIG } from '@authpipe/platform';
import { ProjectionRunner } from '../projection.runner';
import { QueryApiConfig } from '../query-api.config';

/** Event fields a stream leaves out: not secrets, but of no use to a subscriber (the hash of an API key). */
const NOT_STREAMED = new Set(['keyHash']);

/** A client this far behind (bytes buffered, unsent) is dropped rather than buffered without bound. */
const MAX_BUFFERED_BYTES = 1_000_000;

/** One server-sent event: `id` is the event id, `event` its type, `data` its facts and when they happened. */
export function serverSentEvent(event: RecordedEvent): string {
  const data = Object.fromEntries(Object.entries(event.data).filter(([field]) => !NOT_STREAMED.has(field)));
  return `id: ${event.eventId}\nevent: ${event.type}\ndata: ${JSON.stringify({ ...data, occurredAt: event.metadata.occurredAt })}\n\n`;
}

/**
 * Live lifecycle events of one tenant as `text/event-stream`: the events this replica projects from the moment the
 * client connects (no replay: `Last-Event-ID` is not honoured; read current state with GET /v1/connections), with
 * a comment line as heartbeat so that proxies keep the connection open. Delivery is at least once per connection:
 * a redelivered event arrives again with the same id.
 */
@Injectable()
export class TenantEventStreams implements BeforeApplicationShutdown {
  private readonly logger = new Logger(TenantEventStreams.name);
  private readonly closers = new Set<() => void>();

  constructor(
    private readonly projections: ProjectionRunner,
    @Inject(CONFIG) private readonly config: QueryApiConfig,
  ) {}

  get openStreams(): number {
    return this.closers.size;
  }

  open(tenantId: string, res: Response): void {
    res.status(200);
    res.setHeader('Content-Type', 'text/event-stream; charset=utf-8');
    res.setHeader('Cache-Control', 'no-store');
    // Reverse proxies (nginx) would otherwise buffer the stream.
    res.setHeader('X-Accel-Buffering', 'no');
    res.flushHeaders();
    res.write(': connected\n\n');

    let subscription: Subscription | undefined;
    let heartbeat: NodeJS.Timeout | undefined;
    const close = () => {
      if (!this.closers.delete(close)) return;
      clearInterval(heartbeat);
      subscription?.unsubscribe();
      res.end();
    };
    const send = (chunk: string) => {
      res.write(chunk);
      if (res.writableLength > MAX_BUFFERED_BYTES) {
        this.logger.warn(`dropping a slow event stream of tenant ${tenantId}`);
        close();
      }
    };
    this.closers.add(close);
    // The response's close, not the request's: the request closes as soon as it has been read.
    res.on('close', close);
    heartbeat = setInterval(() => send(': heartbeat\n\n'), this.config.EVENT_STREAM_HEARTBEAT_SECONDS * 1000);
    subscription = this.projections.events
      .pipe(filter((event) => (event.data as { tenantId?: string }).tenantId === tenantId))
      .subscribe({ next: (event) => send(serverSentEvent(event)), complete: close });
  }

  /** Open streams would hold the HTTP server open past shutdown: end them first. */
  beforeApplicationShutdown(): void {
    for (const close of [...this.closers]) close();
  }
}
