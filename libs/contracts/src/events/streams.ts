/**
 * Stream naming: `<category>-<id>`, as EventStoreDB's category projections expect. Ids are restricted to
 * [A-Za-z0-9_-] so that a stream maps one-to-one onto a NATS subject token.
 */
export const StreamCategory = {
  Tenant: 'tenant',
  Connection: 'connection',
} as const;
export type StreamCategory = (typeof StreamCategory)[keyof typeof StreamCategory];

const STREAM_ID = /^([a-z]+)-([A-Za-z0-9_-]{1,100})$/;

export const tenantStream = (tenantId: string): string => `${StreamCategory.Tenant}-${tenantId}`;
export const connectionStream = (connectionId: string): string => `${StreamCategory.Connection}-${connectionId}`;

export function parseStreamId(streamId: string): { category: string; id: string } {
  const match = STREAM_ID.exec(streamId);
  if (!match) throw new Error(`invalid stream id "${streamId}": expected <category>-<id> with id in [A-Za-z0-9_-]`);
  return { category: match[1], id: match[2] };
}

export function isValidStreamId(streamId: string): boolean {
  return STREAM_ID.test(streamId);
}
