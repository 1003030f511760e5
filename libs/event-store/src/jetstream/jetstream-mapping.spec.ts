import { decodeEvent, encodeEvent, StreamSubjects, toSequence } from './jetstream-mapping';
import type { NewEvent } from '@authpipe/contracts';

describe('StreamSubjects', () => {
  const subjects = new StreamSubjects();

  it('maps <category>-<id> to <prefix>.<category>.<id> and back, ids with dashes included', () => {
    expect(subjects.subjectOf('connection-con_a-b_c')).toBe('authpipe.events.connection.con_a-b_c');
    expect(subjects.streamIdOf('authpipe.events.connection.con_a-b_c')).toBe('connection-con_a-b_c');
    expect(subjects.all).toBe('authpipe.events.>');
  });

  it('honours a custom prefix', () => {
    const custom = new StreamSubjects('test_x.events');
    expect(custom.subjectOf('tenant-acme')).toBe('test_x.events.tenant.acme');
    expect(custom.streamIdOf('test_x.events.tenant.acme')).toBe('tenant-acme');
  });

  it('rejects stream ids and subjects that do not map', () => {
    expect(() => subjects.subjectOf('tenant-a.b')).toThrow(/invalid stream id/);
    expect(() => subjects.subjectOf('nocategory')).toThrow(/invalid stream id/);
    expect(() => subjects.streamIdOf('other.events.tenant.acme')).toThrow(/not an event stream/);
    expect(() => subjects.streamIdOf('authpipe.events.tenant')).toThrow(/not an event stream/);
    expect(() => new StreamSubjects('bad prefix')).toThrow(/invalid subject prefix/);
    expect(() => new StreamSubjects('a.>')).toThrow(/invalid subject prefix/);
  });
});

describe('event codec', () => {
  it('round-trips an event; the sequence becomes revision and position', () => {
    const event: NewEvent = {
      eventId: '4b1d0c9e-6f36-4d7e-9d63-2f1b2c3d4e5f',
      type: 'TenantCreated',
      data: { tenantId: 'acme', name: 'Acme' },
      metadata: { correlationId: 'c1', occurredAt: '2024-01-01T00:00:00.000Z', schemaVersion: 1, producer: 'test' },
    };
    const subjects = new StreamSubjects();
    const recorded = decodeEvent({ subject: 'authpipe.events.tenant.acme', seq: 42, data: encodeEvent(event) }, subjects);
    expect(recorded).toEqual({ ...event, streamId: 'tenant-acme', revision: 42n, position: 42n });
  });

  it('refuses revisions JetStream cannot express', () => {
    expect(toSequence(7n, 'revision')).toBe(7);
    expect(() => toSequence(-1n, 'revision')).toThrow(RangeError);
    expect(() => toSequence(2n ** 60n, 'revision')).toThrow(RangeError);
  });
});
