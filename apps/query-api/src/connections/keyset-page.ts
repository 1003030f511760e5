import { CONNECTION_ID_PATTERN } from '@authpipe/contracts';
import type { Filter, SortSpec } from '@authpipe/read-models';

/*
 * Keyset pagination over connections: sorted by a field that never changes for a connection, then by _id, so a
 * cursor stays valid and no item is skipped or repeated while events keep arriving.
 */

export const SORTS = ['firstConnectedAt', '-firstConnectedAt', 'userId', '-userId', 'provider', '-provider'] as const;
export type SortKey = (typeof SORTS)[number];

export const MAX_PAGE = 100;

export class InvalidCursorError extends Error {
  readonly code = 'INVALID_CURSOR';
  constructor() {
    super('the cursor is not one this API issued for this sort');
    this.name = InvalidCursorError.name;
  }
}

interface Cursor {
  s: SortKey;
  v: string;
  id: string;
}

const field = (sort: SortKey) => sort.replace(/^-/, '');
const direction = (sort: SortKey): 1 | -1 => (sort.startsWith('-') ? -1 : 1);

export function sortSpec(sort: SortKey): SortSpec {
  return { [field(sort)]: direction(sort), _id: 1 };
}

export function encodeCursor(sort: SortKey, last: Record<string, unknown> & { _id: string }): string {
  return Buffer.from(JSON.stringify({ s: sort, v: String(last[field(sort)] ?? ''), id: last._id } satisfies Cursor)).toString('base64url');
}

/** The filter of the page after `cursor`; a cursor that does not decode to what we issued is an InvalidCursorError. */
export function afterCursor(sort: SortKey, cursor: string): Filter {
  let parsed: unknown;
  try {
    parsed = JSON.parse(Buffer.from(cursor, 'base64url').toString('utf8'));
  } catch {
    throw new InvalidCursorError();
  }
  const c = parsed as Partial<Cursor>;
  if (!c || typeof c !== 'object' || c.s !== sort || typeof c.v !== 'string' || c.v.length > 300 || typeof c.id !== 'string' || !CONNECTION_ID_PATTERN.test(c.id)) {
    throw new InvalidCursorError();
  }
  const f = field(sort);
  const beyond = direction(sort) === 1 ? { $gt: c.v } : { $lt: c.v };
  return { $or: [{ [f]: beyond }, { [f]: c.v, _id: { $gt: c.id } }] };
}

/** Page size: default 50, oversized requests clamped to MAX_PAGE rather than refused. */
export function pageSize(requested: number | undefined): number {
  if (requested === undefined) return 50;
  return Math.max(1, Math.min(MAX_PAGE, Math.floor(requested)));
}
