import { Controller, Get, Inject, Param, UseGuards } from '@nestjs/common';
import { CONNECTION_ID_PATTERN, connectionStream } from '@authpipe/contracts';
import type { EventStore } from '@authpipe/event-store';
import { Problems } from '@authpipe/http';
import { EVENT_STORE } from '@authpipe/platform';
import { AdminGuard } from './admin.guard';
import { rawEvent } from './raw-event';

/** Ops: the raw event history of one connection, whatever its tenant (the same as `npm run replay -- history`). */
@Controller('v1/admin/connections')
@UseGuards(AdminGuard)
export class AdminConnectionsController {
  constructor(@Inject(EVENT_STORE) private readonly events: EventStore) {}

  @Get(':connectionId/events')
  async history(@Param('connectionId') connectionId: string) {
    if (!CONNECTION_ID_PATTERN.test(connectionId)) throw Problems.invalidRequest([{ field: 'connectionId', message: 'is not a connection id' }]);
    const history = await this.events.readStream(connectionStream(connectionId));
    if (!history.length) throw Problems.notFound('CONNECTION_NOT_FOUND', `no events for ${connectionId}`);
    return { streamId: connectionStream(connectionId), events: history.map(rawEvent) };
  }
}
