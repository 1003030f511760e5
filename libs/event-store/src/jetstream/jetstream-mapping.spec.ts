import { decodeEvent, encodeEvent, PREVIOUS_REVISION_HEADER, previousRevisionHeader, StreamSubjects, toSequence } from './jetstream-mapping';
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
  const subjects = new StreamSubjects();
  const event: NewEvent = {
    eventId: '4b1d0c9e-6f36-4d7e-9d63-2f1b2c3d4e5f',
    type: 'TenantCreated',
    data: { tenantId: 'acme', name: 'Acme' },
    metadata: { correlationId: 'c1', occurredAt: '2024-01-01T00:00:00.000Z', schemaVersion: 1, producer: 'test' },
  };
  const previous = (value: string) => ({ get: (name: string) => (name === PREVIOUS_REVISION_HEADER ? value : '') });
  const utf8 = (text: string) => new TextEncoder().encode(text);
  const decode = (data: Uint8Array, subject = 'authpipe.events.tenant.acme') => decodeEvent({ subject, seq: 42, data }, subjects);

  it('round-trips an event; the sequence becomes revision and position', () => {
    expect(decode(encodeEvent(event))).toEqual({ event: { ...event, streamId: 'tenant-acme', revision: 42n, position: 42n } });
  });

  it('reads the previous revision the append recorded: 0 for a first event, nothing when absent or not below its own', () => {
    const withHeader = (value: string) => decodeEvent({ subject: 'authpipe.events.tenant.acme', seq: 42, data: encodeEvent(event), headers: previous(value) }, subjects);
    expect(withHeader('17')).toMatchObject({ event: { previousRevision: 17n } });
    expect(withHeader('0')).toMatchObject({ event: { previousRevision: null } });
    for (const bad of ['', '42', '43', '-1', '1e3', 'x', '99999999999999999']) {
      const decoded = withHeader(bad);
      expect({ bad, decoded: 'event' in decoded && 'previousRevision' in decoded.event }).toEqual({ bad, decoded: false });
    }
    expect(previousRevisionHeader(null)).toBe('0');
    expect(previousRevisionHeader(17n)).toBe('17');
  });

  it('tells a message that is not an event from one, by a fixed reason', () => {
    const json = (value: unknown) => utf8(JSON.stringify(value));
    expect(decode(encodeEvent(event), 'authpipe.events.tenant')).toEqual({ unreadable: 'not_an_event_stream' });
    expect(decode(encodeEvent(event), 'authpipe.events.tenant.a.b')).toEqual({ unreadable: 'not_an_event_stream' });
    expect(decode(new Uint8Array([0x7b, 0xff, 0xfe, 0x7d]))).toEqual({ unreadable: 'not_utf8' });
    expect(decode(utf8('not json {'))).toEqual({ unreadable: 'not_json' });
    expect(decode(new Uint8Array())).toEqual({ unreadable: 'not_json' });
    const wrongShapes: unknown[] = [
      null,
      42,
      'TenantCreated',
      [event],
      {},
      { ...event, eventId: '' },
      { ...event, eventId: 7 },
      { ...event, type: 'constructor' },
      { ...event, type: '__proto__' },
      { ...event, data: null },
      { ...event, data: ['x'] },
      { ...event, metadata: undefined },
      { ...event, metadata: { ...event.metadata, occurredAt: 'yesterday' } },
      { ...event, metadata: { ...event.metadata, schemaVersion: '1' } },
      { ...event, metadata: { ...event.metadata, correlationId: undefined } },
      { ...event, metadata: { ...event.metadata, causationId: 3 } },
    ];
    for (const shape of wrongShapes) expect({ shape, decoded: decode(json(shape)) }).toEqual({ shape, decoded: { unreadable: 'not_an_envelope' } });
  });

  it('keeps a well-formed event of a type this version does not know: it is part of the history', () => {
    const future = { ...event, type: 'ConnectionRenamed', data: { connectionId: 'c1', name: 'x' } };
    expect(decode(utf8(JSON.stringify(future)))).toMatchObject({ event: { type: 'ConnectionRenamed', revision: 42n } });
  });

  it('refuses revisions JetStream cannot express', () => {
    expect(toSequence(7n, 'revision')).toBe(7);
    expect(() => toSequence(-1n, 'revision')).toThrow(RangeError);
    expect(() => toSequence(2n ** 60n, 'revision')).toThrow(RangeError);
  });
});
