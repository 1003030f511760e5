import { InMemoryReadModelStore } from '@authpipe/read-models';
import { afterCursor, encodeCursor, InvalidCursorError, pageSize, sortSpec, SortKey } from './keyset-page';

const id = (n: number) => `con_${String(n).padStart(22, '0')}`;

describe('keyset pagination', () => {
  it('pages through every item once, in order, while new items arrive', async () => {
    const store = new InMemoryReadModelStore();
    const items = store.collection('c');
    for (let i = 0; i < 25; i++) await items.insertOne({ _id: id(i), userId: `u${String(i % 7).padStart(2, '0')}` });
    const sort: SortKey = 'userId';
    const seen: string[] = [];
    let cursor: string | undefined;
    for (let page = 0; page < 10; page++) {
      const filter = cursor ? afterCursor(sort, cursor) : {};
      const batch = await items.find(filter, { sort: sortSpec(sort), limit: 4 });
      if (!batch.length) break;
      seen.push(...batch.map((d) => d._id));
      cursor = encodeCursor(sort, batch[batch.length - 1]);
      // an item arriving behind the cursor must not shift what comes next
      await items.insertOne({ _id: id(100 + page), userId: 'u00' });
    }
    expect(new Set(seen).size).toBe(seen.length);
    expect(seen.filter((s) => Number(s.slice(4)) < 25)).toHaveLength(25);
  });

  it('refuses cursors it did not issue', () => {
    expect(() => afterCursor('userId', 'not-base64-json')).toThrow(InvalidCursorError);
    expect(() => afterCursor('userId', Buffer.from('{"s":"provider","v":"x","id":"con_0000000000000000000000"}').toString('base64url'))).toThrow(InvalidCursorError);
    expect(() => afterCursor('userId', Buffer.from('{"s":"userId","v":{"$ne":1},"id":"con_0000000000000000000000"}').toString('base64url'))).toThrow(InvalidCursorError);
  });

  it('clamps oversized pages', () => {
    expect(pageSize(undefined)).toBe(50);
    expect(pageSize(10_000)).toBe(100);
    expect(pageSize(0)).toBe(1);
  });
});
