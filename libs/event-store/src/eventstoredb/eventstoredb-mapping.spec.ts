import { ANY, NO_STREAM, RecordedEvent as EsdbRecordedEvent, StreamNotFoundError, UnavailableError } from '@eventstore/db-client';
import type { NewEvent } from '@authpipe/contracts';
import { isInOurStream, isTransient, toEsdbExpectedRevision, toEsdbPosition, toEventData, toRecordedEvent } from './eventstoredb-mapping';

// No EventStoreDB runs here; these pin the translation the adapter relies on.

const event: NewEvent = {
  eventId: '4b1d0c9e-6f36-4d7e-9d63-2f1b2c3d4e5f',
  type: 'TenantCreated',
  data: { tenantId: 'acme', name: 'Acme' },
  metadata: { correlationId: 'c1', occurredAt: '2024-01-01T00:00:00.000Z', schemaVersion: 1, producer: 'test' },
};

function recorded(overrides: Partial<Record<string, unknown>> = {}): EsdbRecordedEvent {
  return {
    streamId: 'tenant-acme',
    id: event.eventId,
    isJson: true,
    revision: 3n,
    type: event.type,
    created: new Date(),
    data: event.data,
    metadata: event.metadata,
    position: { commit: 1234n, prepare: 1234n },
    ...overrides,
  } as unknown as EsdbRecordedEvent;
}

describe('EventStoreDB mapping', () => {
  it('writes the eventId as the EventStoreDB event id, as JSON', () => {
    expect(toEventData(event)).toEqual({
      id: event.eventId,
      contentType: 'application/json',
      type: 'TenantCreated',
      data: event.data,
      metadata: event.metadata,
    });
  });

  it('translates expected revisions', () => {
    expect(toEsdbExpectedRevision('no_stream')).toBe(NO_STREAM);
    expect(toEsdbExpectedRevision('any')).toBe(ANY);
    expect(toEsdbExpectedRevision(7n)).toBe(7n);
  });

  it('reads back revision, the previous one (revisions count 0, 1, 2...), and the commit position as the global position', () => {
    expect(toRecordedEvent(recorded())).toEqual({ event: { ...event, streamId: 'tenant-acme', revision: 3n, position: 1234n, previousRevision: 2n } });
    expect(toRecordedEvent(recorded({ revision: 0n }))).toMatchObject({ event: { revision: 0n, previousRevision: null } });
    expect(toRecordedEvent(recorded({ position: undefined }))).toMatchObject({ event: { position: -1n } });
  });

  it('resumes from a commit position as { commit, prepare } of that event', () => {
    expect(toEsdbPosition(1234n)).toEqual({ commit: 1234n, prepare: 1234n });
  });

  it('passes over events of streams that are not ours', () => {
    expect(isInOurStream(recorded())).toBe(true);
    expect(isInOurStream(recorded({ streamId: 'orders_42' }))).toBe(false);
  });

  it('tells why an event of our streams is not one we wrote, quoting nothing of it', () => {
    expect(toRecordedEvent(recorded({ isJson: false, data: new Uint8Array([1, 2]) }))).toEqual({ unreadable: 'not_json' });
    expect(toRecordedEvent(recorded({ data: ['a'] }))).toEqual({ unreadable: 'not_an_envelope' });
    expect(toRecordedEvent(recorded({ metadata: { correlationId: 'c' } }))).toEqual({ unreadable: 'not_an_envelope' });
  });

  it('treats an unreachable server as transient, raw gRPC errors included', () => {
    const raw = Object.assign(new Error('14 UNAVAILABLE: No connection established'), { code: 14, details: 'No connection established' });
    expect(isTransient(raw)).toBe(true);
    expect(isTransient(new UnavailableError())).toBe(true);
    expect(isTransient(new StreamNotFoundError())).toBe(false);
    expect(isTransient(new Error('boom'))).toBe(false);
  });
});
