import { randomBytes } from 'node:crypto';
import {
  DuplicateKeyError,
  ReadModelUnavailableError,
  type Document,
  type ReadModelCollection,
  type ReadModelStore,
} from '@authpipe/read-models';

/** What a contract run needs from an adapter: a fresh store per test and a way to let it go. */
export type ReadModelStoreFactory = () => Promise<{ store: ReadModelStore; cleanup(): Promise<void> }>;

export interface ReadModelStoreContractOptions {
  /**
   * Cases this engine is known not to pass, by exact test title, with the reason. They are reported as skipped with
   * the reason in the title. Only for emulators of MongoDB (FerretDB): real MongoDB and the in-memory adapter must pass
   * every case unchanged.
   */
  knownLimitations?: Readonly<Record<string, string>>;
}

interface Row extends Document {
  [field: string]: unknown;
}

let sequence = 0;
/** Collection names unique per test and per run, so tests share nothing even on a long-lived server. */
export function uniqueCollectionName(label: string): string {
  return `c_${label}_${Date.now().toString(36)}_${(sequence++).toString(36)}_${randomBytes(3).toString('hex')}`;
}

/**
 * The read-model contract: the same assertions for every adapter, so the in-memory store (mingo) and MongoDB agree on
 * the filter and update documents the projections use.
 */
export function readModelStoreContract(
  name: string,
  factory: ReadModelStoreFactory,
  options: ReadModelStoreContractOptions = {},
): void {
  const limitations = options.knownLimitations ?? {};
  const titles = new Set<string>();

  describe(`${name}: read-model store contract`, () => {
    let store: ReadModelStore;
    let cleanup: () => Promise<void>;

    beforeAll(() => {
      const known = Object.entries(limitations);
      if (known.length) {
        console.warn(
          `${name}: ${known.length} contract case(s) skipped as known engine limitations:\n` +
            known.map(([title, why]) => `  - ${title}: ${why}`).join('\n'),
        );
      }
    });

    beforeEach(async () => {
      ({ store, cleanup } = await factory());
    });

    afterEach(async () => {
      await cleanup();
    });

    function collection(label: string): ReadModelCollection<Row> {
      return store.collection<Row>(uniqueCollectionName(label));
    }

    async function seeded(label: string, rows: Row[]): Promise<ReadModelCollection<Row>> {
      const c = collection(label);
      for (const row of rows) await c.insertOne(row);
      return c;
    }

    async function ids(c: ReadModelCollection<Row>, filter: Record<string, unknown>): Promise<string[]> {
      return (await c.find(filter, { sort: { _id: 1 } })).map((row) => row._id);
    }

    /** A case, or a skipped one with the engine's known limitation in its title. */
    function it(title: string, body: () => Promise<void>): void {
      titles.add(title);
      const limitation = limitations[title];
      if (limitation) test.skip(`${title} [known limitation: ${limitation}]`, body);
      else test(title, body);
    }

    describe('queries', () => {
      const rows: Row[] = [
        { _id: 'a', tenant: 't1', n: 5, status: 'active', tags: ['x', 'y'], profile: { region: 'eu', tier: 2 } },
        { _id: 'b', tenant: 't1', n: 10, status: 'expired', tags: ['y'], profile: { region: 'us', tier: 1 } },
        { _id: 'c', tenant: 't2', n: '7', status: 'active', tags: [], profile: { region: 'eu' } },
        { _id: 'd', tenant: 't2', n: null, status: 'revoked' },
        { _id: 'e', tenant: 't3', status: 'active', items: [{ sku: 'p1', qty: 1 }, { sku: 'p2', qty: 3 }] },
      ];

      it('findOne returns a matching document, or null when nothing matches', async () => {
        const c = await seeded('findone', rows);
        expect(await c.findOne({ _id: 'b' })).toEqual(rows[1]);
        expect(await c.findOne({ _id: 'nope' })).toBeNull();
        expect(await store.collection('never_written_' + uniqueCollectionName('x')).findOne({})).toBeNull();
      });

      it('matches equality on several fields and on dotted paths', async () => {
        const c = await seeded('equality', rows);
        expect(await ids(c, { tenant: 't1', status: 'active' })).toEqual(['a']);
        expect(await ids(c, { 'profile.region': 'eu' })).toEqual(['a', 'c']);
        expect(await ids(c, { profile: { region: 'eu', tier: 2 } })).toEqual(['a']);
        expect(await ids(c, {})).toEqual(['a', 'b', 'c', 'd', 'e']);
      });

      it('matches null against null and missing fields', async () => {
        const c = await seeded('null', rows);
        expect(await ids(c, { n: null })).toEqual(['d', 'e']);
        expect(await ids(c, { n: { $exists: false } })).toEqual(['e']);
        expect(await ids(c, { n: { $exists: true } })).toEqual(['a', 'b', 'c', 'd']);
      });

      it('compares with $gt/$lt within one type only, as MongoDB type bracketing does', async () => {
        const c = await seeded('range', rows);
        expect(await ids(c, { n: { $gt: 5 } })).toEqual(['b']);
        expect(await ids(c, { n: { $lt: 100 } })).toEqual(['a', 'b']);
        expect(await ids(c, { n: { $gt: 4, $lt: 10 } })).toEqual(['a']);
        expect(await ids(c, { n: { $gt: '5' } })).toEqual(['c']);
      });

      it('supports $in, $nin and $ne, where $ne and $nin also match missing fields', async () => {
        const c = await seeded('membership', rows);
        expect(await ids(c, { status: { $in: ['expired', 'revoked'] } })).toEqual(['b', 'd']);
        expect(await ids(c, { status: { $nin: ['active'] } })).toEqual(['b', 'd']);
        expect(await ids(c, { n: { $ne: 5 } })).toEqual(['b', 'c', 'd', 'e']);
        expect(await ids(c, { n: { $in: [null, 10] } })).toEqual(['b', 'd', 'e']);
        expect(await ids(c, { 'profile.tier': { $nin: [1, 2] } })).toEqual(['c', 'd', 'e']);
      });

      it('combines conditions with $or and $and', async () => {
        const c = await seeded('logical', rows);
        expect(await ids(c, { $or: [{ tenant: 't3' }, { n: { $gte: 10 } }] })).toEqual(['b', 'e']);
        expect(await ids(c, { $and: [{ status: 'active' }, { tenant: { $ne: 't1' } }] })).toEqual(['c', 'e']);
        expect(await ids(c, { status: 'active', $or: [{ 'profile.region': 'eu' }, { tenant: 't3' }] })).toEqual([
          'a',
          'c',
          'e',
        ]);
      });

      it('matches arrays by element, as a whole, and through arrays of embedded documents', async () => {
        const c = await seeded('arrays', rows);
        expect(await ids(c, { tags: 'y' })).toEqual(['a', 'b']);
        expect(await ids(c, { tags: ['x', 'y'] })).toEqual(['a']);
        expect(await ids(c, { tags: [] })).toEqual(['c']);
        expect(await ids(c, { tags: { $in: ['x', 'z'] } })).toEqual(['a']);
        expect(await ids(c, { tags: { $ne: 'y' } })).toEqual(['c', 'd', 'e']);
        expect(await ids(c, { tags: { $nin: ['x'] } })).toEqual(['b', 'c', 'd', 'e']);
        expect(await ids(c, { 'items.sku': 'p2' })).toEqual(['e']);
        expect(await ids(c, { 'items.qty': { $gt: 2 } })).toEqual(['e']);
      });

      it('stores dates as dates and compares them', async () => {
        const c = collection('dates');
        await c.insertOne({ _id: 'old', expiresAt: new Date('2030-01-01T00:00:00.000Z') });
        await c.insertOne({ _id: 'new', expiresAt: new Date('2031-01-01T00:00:00.000Z') });
        const found = await c.findOne({ _id: 'old' });
        expect(found!.expiresAt).toBeInstanceOf(Date);
        expect((found!.expiresAt as Date).toISOString()).toBe('2030-01-01T00:00:00.000Z');
        expect(await ids(c, { expiresAt: { $lt: new Date('2030-06-01T00:00:00.000Z') } })).toEqual(['old']);
      });

      it('counts matching documents', async () => {
        const c = await seeded('count', rows);
        expect(await c.countDocuments({})).toBe(5);
        expect(await c.countDocuments({ status: 'active' })).toBe(3);
        expect(await c.countDocuments({ status: 'none' })).toBe(0);
        expect(await collection('count_empty').countDocuments({})).toBe(0);
      });

      it('sorts on several keys, ascending and descending, missing fields first', async () => {
        const c = await seeded('sort', [
          { _id: '1', tenant: 'b', at: 2 },
          { _id: '2', tenant: 'a', at: 2 },
          { _id: '3', tenant: 'b', at: 1 },
          { _id: '4', tenant: 'a', at: 3 },
          { _id: '5', at: 9 },
        ]);
        const order = async (sort: Record<string, 1 | -1>) => (await c.find({}, { sort })).map((r) => r._id);
        expect(await order({ tenant: 1, at: -1 })).toEqual(['5', '4', '2', '1', '3']);
        expect(await order({ tenant: -1, at: 1 })).toEqual(['3', '1', '2', '4', '5']);
        expect(await order({ at: -1, _id: 1 })).toEqual(['5', '4', '1', '2', '3']);
      });

      it('sorts on a dotted path', async () => {
        const c = await seeded('sort_dotted', [
          { _id: 'a', health: { score: 3 } },
          { _id: 'b', health: { score: 1 } },
          { _id: 'c', health: { score: 2 } },
        ]);
        expect((await c.find({}, { sort: { 'health.score': 1 } })).map((r) => r._id)).toEqual(['b', 'c', 'a']);
      });

      it('skips and limits after sorting; limit 0 means no limit', async () => {
        const c = await seeded(
          'paging',
          Array.from({ length: 7 }, (_, i) => ({ _id: `r${i}`, rank: 7 - i })),
        );
        const page = (skip?: number, limit?: number) => c.find({}, { sort: { rank: 1 }, skip, limit });
        expect((await page(0, 3)).map((r) => r.rank)).toEqual([1, 2, 3]);
        expect((await page(3, 3)).map((r) => r.rank)).toEqual([4, 5, 6]);
        expect((await page(6, 3)).map((r) => r.rank)).toEqual([7]);
        expect((await page(10, 3)).map((r) => r.rank)).toEqual([]);
        expect((await page(2, 0)).map((r) => r.rank)).toEqual([3, 4, 5, 6, 7]);
        expect(await c.find({ rank: { $gt: 2 } }, { sort: { rank: -1 }, limit: 2 })).toEqual([
          { _id: 'r0', rank: 7 },
          { _id: 'r1', rank: 6 },
        ]);
      });
    });

    describe('updates', () => {
      it('$set sets top-level and nested fields, creating embedded documents on the way', async () => {
        const c = await seeded('set', [{ _id: 'a', status: 'pending', profile: { region: 'eu' } }]);
        const result = await c.updateOne(
          { _id: 'a' },
          { $set: { status: 'active', 'profile.tier': 2, 'health.last.ok': true } },
        );
        expect(result).toEqual({ matchedCount: 1, modifiedCount: 1, upsertedCount: 0 });
        expect(await c.findOne({ _id: 'a' })).toEqual({
          _id: 'a',
          status: 'active',
          profile: { region: 'eu', tier: 2 },
          health: { last: { ok: true } },
        });
      });

      it('reports modifiedCount 0 when an update changes nothing', async () => {
        const c = await seeded('noop', [{ _id: 'a', status: 'active', tags: ['x'] }]);
        expect(await c.updateOne({ _id: 'a' }, { $set: { status: 'active' } })).toEqual({
          matchedCount: 1,
          modifiedCount: 0,
          upsertedCount: 0,
        });
        expect(await c.updateOne({ _id: 'a' }, { $addToSet: { tags: 'x' } })).toEqual({
          matchedCount: 1,
          modifiedCount: 0,
          upsertedCount: 0,
        });
      });

      it('$set replaces an array element by index', async () => {
        const c = await seeded('set_index', [{ _id: 'a', scopes: ['read', 'write', 'admin'] }]);
        await c.updateOne({ _id: 'a' }, { $set: { 'scopes.1': 'append' } });
        expect((await c.findOne({ _id: 'a' }))!.scopes).toEqual(['read', 'append', 'admin']);
      });

      it('$unset removes fields and leaves missing ones alone', async () => {
        const c = await seeded('unset', [{ _id: 'a', error: 'boom', profile: { region: 'eu', tier: 1 } }]);
        await c.updateOne({ _id: 'a' }, { $unset: { error: '', 'profile.tier': '' } });
        expect(await c.findOne({ _id: 'a' })).toEqual({ _id: 'a', profile: { region: 'eu' } });
        expect((await c.updateOne({ _id: 'a' }, { $unset: { nothing: '' } })).modifiedCount).toBe(0);
      });

      it('$inc increments, decrements and creates missing fields', async () => {
        const c = await seeded('inc', [{ _id: 'a', refreshes: 2 }]);
        await c.updateOne({ _id: 'a' }, { $inc: { refreshes: 3, failures: 1, 'stats.probes': -2 } });
        expect(await c.findOne({ _id: 'a' })).toEqual({ _id: 'a', refreshes: 5, failures: 1, stats: { probes: -2 } });
      });

      it('$inc on a non-number is rejected and changes nothing', async () => {
        const c = await seeded('inc_bad', [{ _id: 'a', status: 'active', n: 1 }]);
        await expect(c.updateOne({ _id: 'a' }, { $inc: { status: 1, n: 1 } })).rejects.toThrow();
        expect(await c.findOne({ _id: 'a' })).toEqual({ _id: 'a', status: 'active', n: 1 });
      });

      it('$push appends, creating the array, and takes $each', async () => {
        const c = await seeded('push', [{ _id: 'a', history: ['created'] }]);
        await c.updateOne({ _id: 'a' }, { $push: { history: 'refreshed', audit: { at: 1 } } });
        await c.updateOne({ _id: 'a' }, { $push: { history: { $each: ['expired', 'refreshed'] } } });
        expect(await c.findOne({ _id: 'a' })).toEqual({
          _id: 'a',
          history: ['created', 'refreshed', 'expired', 'refreshed'],
          audit: [{ at: 1 }],
        });
      });

      it('$push onto a field that is not an array is rejected and changes nothing', async () => {
        const c = await seeded('push_bad', [{ _id: 'a', history: 'created' }]);
        await expect(c.updateOne({ _id: 'a' }, { $push: { history: 'refreshed' } })).rejects.toThrow();
        expect(await c.findOne({ _id: 'a' })).toEqual({ _id: 'a', history: 'created' });
      });

      it('$addToSet adds only values not already present, and takes $each', async () => {
        const c = await seeded('add_to_set', [{ _id: 'a', scopes: ['read'] }]);
        await c.updateOne({ _id: 'a' }, { $addToSet: { scopes: 'read', providers: 'github' } });
        await c.updateOne({ _id: 'a' }, { $addToSet: { scopes: { $each: ['write', 'read', 'admin', 'write'] } } });
        expect(await c.findOne({ _id: 'a' })).toEqual({
          _id: 'a',
          scopes: ['read', 'write', 'admin'],
          providers: ['github'],
        });
      });

      it('$max and $min only move a value in their direction, for numbers and dates, and set missing fields', async () => {
        const early = new Date('2030-01-01T00:00:00.000Z');
        const late = new Date('2031-01-01T00:00:00.000Z');
        const c = await seeded('max_min', [{ _id: 'a', high: 5, low: 5, lastSeen: early }]);
        await c.updateOne({ _id: 'a' }, { $max: { high: 3, lastSeen: late, peak: 1 }, $min: { low: 7, floor: 0 } });
        expect(await c.findOne({ _id: 'a' })).toEqual({ _id: 'a', high: 5, low: 5, lastSeen: late, peak: 1, floor: 0 });
        await c.updateOne({ _id: 'a' }, { $max: { high: 9, lastSeen: early }, $min: { low: 1 } });
        expect(await c.findOne({ _id: 'a' })).toEqual({ _id: 'a', high: 9, low: 1, lastSeen: late, peak: 1, floor: 0 });
      });

      it('applies several operators in one update', async () => {
        const c = await seeded('combined', [{ _id: 'a', version: 1, status: 'pending', error: 'x' }]);
        await c.updateOne(
          { _id: 'a', version: 1 },
          { $set: { status: 'active' }, $inc: { version: 1 }, $unset: { error: '' }, $push: { log: 'activated' } },
        );
        expect(await c.findOne({ _id: 'a' })).toEqual({ _id: 'a', version: 2, status: 'active', log: ['activated'] });
      });

      it('rejects an update whose operators touch the same path', async () => {
        const c = await seeded('conflict', [{ _id: 'a', n: 1 }]);
        await expect(c.updateOne({ _id: 'a' }, { $set: { n: 5 }, $inc: { n: 1 } })).rejects.toThrow();
        await expect(
          c.updateOne(
            { _id: 'b' },
            { $set: { profile: { a: 1 } }, $setOnInsert: { 'profile.b': 2 } },
            { upsert: true },
          ),
        ).rejects.toThrow();
        expect(await c.find({}, {})).toEqual([{ _id: 'a', n: 1 }]);
      });

      it('rejects changing _id', async () => {
        const c = await seeded('immutable_id', [{ _id: 'a', n: 1 }]);
        await expect(c.updateOne({ _id: 'a' }, { $set: { _id: 'b' } })).rejects.toThrow();
        await expect(c.replaceOne({ _id: 'a' }, { _id: 'b', n: 2 })).rejects.toThrow();
        expect(await c.find({}, {})).toEqual([{ _id: 'a', n: 1 }]);
      });

      it('updates only the first matching document', async () => {
        const c = await seeded('first_only', [
          { _id: 'a', status: 'active' },
          { _id: 'b', status: 'active' },
        ]);
        expect(await c.updateOne({ status: 'active' }, { $set: { touched: true } })).toEqual({
          matchedCount: 1,
          modifiedCount: 1,
          upsertedCount: 0,
        });
        expect(await c.countDocuments({ touched: true })).toBe(1);
      });

      it('without upsert, an update that matches nothing changes nothing', async () => {
        const c = await seeded('no_upsert', [{ _id: 'a', n: 1 }]);
        expect(await c.updateOne({ _id: 'b' }, { $set: { n: 2 } })).toEqual({
          matchedCount: 0,
          modifiedCount: 0,
          upsertedCount: 0,
        });
        expect(await c.countDocuments({})).toBe(1);
      });
    });

    describe('upserts', () => {
      it('inserts a document seeded from the equality conditions of the filter', async () => {
        const c = collection('upsert_seed');
        const result = await c.updateOne(
          {
            _id: 'conn-1',
            tenant: 't1',
            'provider.key': 'github',
            kind: { $eq: 'oauth2' },
            version: { $lt: 3 },
          },
          { $set: { status: 'active' }, $inc: { version: 1 } },
          { upsert: true },
        );
        expect(result).toEqual({ matchedCount: 0, modifiedCount: 0, upsertedCount: 1 });
        expect(await c.findOne({ _id: 'conn-1' })).toEqual({
          _id: 'conn-1',
          tenant: 't1',
          provider: { key: 'github' },
          kind: 'oauth2',
          status: 'active',
          version: 1,
        });
      });

      it('upsert also seeds from equality conditions inside $and', async () => {
        const c = collection('upsert_seed_and');
        await c.updateOne(
          { $and: [{ _id: 'conn-2' }, { region: 'eu' }, { score: { $gte: 1 } }] },
          { $set: { status: 'active' } },
          { upsert: true },
        );
        expect(await c.find({}, {})).toEqual([{ _id: 'conn-2', region: 'eu', status: 'active' }]);
      });

      it('updates the matching document instead of inserting when the filter matches', async () => {
        const c = await seeded('upsert_match', [{ _id: 'a', n: 1 }]);
        expect(await c.updateOne({ _id: 'a' }, { $inc: { n: 1 } }, { upsert: true })).toEqual({
          matchedCount: 1,
          modifiedCount: 1,
          upsertedCount: 0,
        });
        expect(await c.find({}, {})).toEqual([{ _id: 'a', n: 2 }]);
      });

      it('$setOnInsert applies only when the upsert inserts', async () => {
        const c = collection('set_on_insert');
        const upsert = (status: string) =>
          c.updateOne(
            { _id: 'a' },
            { $set: { status }, $setOnInsert: { createdAt: 'first' }, $inc: { events: 1 } },
            { upsert: true },
          );
        await upsert('pending');
        await upsert('active');
        expect(await c.findOne({ _id: 'a' })).toEqual({ _id: 'a', status: 'active', createdAt: 'first', events: 2 });
        expect(await c.updateOne({ _id: 'a' }, { $setOnInsert: { createdAt: 'second' } }, { upsert: true })).toEqual({
          matchedCount: 1,
          modifiedCount: 0,
          upsertedCount: 0,
        });
      });

      it('generates an _id when the filter has none', async () => {
        const c = collection('upsert_generated_id');
        await c.updateOne({ tenant: 't9' }, { $set: { n: 1 } }, { upsert: true });
        const found = await c.findOne({ tenant: 't9' });
        expect(found).toMatchObject({ tenant: 't9', n: 1 });
        expect(found!._id).toBeDefined();
        expect(found!._id).not.toBeNull();
      });

      it('throws DuplicateKeyError when the filter misses an existing _id, leaving the document unchanged', async () => {
        // Projections guard with { _id, version: { $lt: v } }: an event already applied must surface, not vanish.
        const c = await seeded('upsert_dup', [{ _id: 'conn-1', version: 5, status: 'active' }]);
        const attempt = c.updateOne(
          { _id: 'conn-1', version: { $lt: 3 } },
          { $set: { version: 3, status: 'stale' } },
          { upsert: true },
        );
        await expect(attempt).rejects.toBeInstanceOf(DuplicateKeyError);
        await expect(attempt).rejects.toMatchObject({ code: 'DUPLICATE_KEY' });
        expect(await c.find({}, {})).toEqual([{ _id: 'conn-1', version: 5, status: 'active' }]);
      });

      it('replaceOne replaces the whole document, and with upsert inserts it', async () => {
        const c = await seeded('replace', [{ _id: 'a', status: 'active', error: 'x', version: 1 }]);
        expect(await c.replaceOne({ _id: 'a' }, { _id: 'a', status: 'revoked', version: 2 })).toEqual({
          matchedCount: 1,
          modifiedCount: 1,
          upsertedCount: 0,
        });
        expect(await c.findOne({ _id: 'a' })).toEqual({ _id: 'a', status: 'revoked', version: 2 });
        expect(await c.replaceOne({ _id: 'b' }, { _id: 'b', status: 'new' })).toEqual({
          matchedCount: 0,
          modifiedCount: 0,
          upsertedCount: 0,
        });
        expect(await c.replaceOne({ _id: 'b' }, { _id: 'b', status: 'new' }, { upsert: true })).toEqual({
          matchedCount: 0,
          modifiedCount: 0,
          upsertedCount: 1,
        });
        expect(await ids(c, {})).toEqual(['a', 'b']);
      });

      it('replaceOne with upsert throws DuplicateKeyError when the filter misses an existing _id', async () => {
        const c = await seeded('replace_dup', [{ _id: 'a', version: 5 }]);
        await expect(
          c.replaceOne({ _id: 'a', version: { $lt: 3 } }, { _id: 'a', version: 3 }, { upsert: true }),
        ).rejects.toBeInstanceOf(DuplicateKeyError);
        expect(await c.findOne({ _id: 'a' })).toEqual({ _id: 'a', version: 5 });
      });
    });

    describe('inserts, deletes and uniqueness', () => {
      it('insertOne rejects a duplicate _id with DuplicateKeyError and keeps the original', async () => {
        const c = await seeded('dup_id', [{ _id: 'a', n: 1 }]);
        const attempt = c.insertOne({ _id: 'a', n: 2 });
        await expect(attempt).rejects.toBeInstanceOf(DuplicateKeyError);
        await expect(attempt).rejects.toMatchObject({ name: 'DuplicateKeyError', code: 'DUPLICATE_KEY' });
        expect(await c.find({}, {})).toEqual([{ _id: 'a', n: 1 }]);
      });

      it('deleteOne deletes the first match, deleteMany every match, both returning the count', async () => {
        const c = await seeded('delete', [
          { _id: 'a', tenant: 't1' },
          { _id: 'b', tenant: 't1' },
          { _id: 'c', tenant: 't1' },
          { _id: 'd', tenant: 't2' },
        ]);
        expect(await c.deleteOne({ tenant: 't1' })).toBe(1);
        expect(await c.countDocuments({ tenant: 't1' })).toBe(2);
        expect(await c.deleteOne({ tenant: 'none' })).toBe(0);
        expect(await c.deleteMany({ tenant: 't1' })).toBe(2);
        expect(await c.deleteMany({ tenant: 't1' })).toBe(0);
        expect(await ids(c, {})).toEqual(['d']);
        expect(await c.deleteMany({})).toBe(1);
        expect(await c.countDocuments({})).toBe(0);
      });

      it('a deleted _id can be inserted again', async () => {
        const c = await seeded('reinsert', [{ _id: 'a', n: 1 }]);
        await c.deleteOne({ _id: 'a' });
        await c.insertOne({ _id: 'a', n: 2 });
        expect(await c.findOne({ _id: 'a' })).toEqual({ _id: 'a', n: 2 });
      });

      it('a unique index rejects an insert or upsert of an existing key with DuplicateKeyError', async () => {
        const c = collection('unique_insert');
        await c.createIndex({ tenant: 1, externalId: 1 }, { unique: true, name: 'tenant_external' });
        await c.insertOne({ _id: 'a', tenant: 't1', externalId: 'x' });
        await c.insertOne({ _id: 'b', tenant: 't1', externalId: 'y' });
        await c.insertOne({ _id: 'c', tenant: 't2', externalId: 'x' });
        await expect(c.insertOne({ _id: 'd', tenant: 't1', externalId: 'x' })).rejects.toBeInstanceOf(
          DuplicateKeyError,
        );
        await expect(
          c.updateOne({ _id: 'e' }, { $set: { tenant: 't2', externalId: 'x' } }, { upsert: true }),
        ).rejects.toBeInstanceOf(DuplicateKeyError);
        expect(await ids(c, {})).toEqual(['a', 'b', 'c']);
      });

      it('a unique index rejects an update or replace that would duplicate a key, with DuplicateKeyError', async () => {
        const c = collection('unique_update');
        await c.createIndex({ tenant: 1, externalId: 1 }, { unique: true, name: 'tenant_external' });
        await c.insertOne({ _id: 'a', tenant: 't1', externalId: 'x' });
        await c.insertOne({ _id: 'b', tenant: 't1', externalId: 'y' });
        await c.insertOne({ _id: 'c', tenant: 't2', externalId: 'x' });
        await expect(c.updateOne({ _id: 'b' }, { $set: { externalId: 'x' } })).rejects.toBeInstanceOf(
          DuplicateKeyError,
        );
        await expect(c.replaceOne({ _id: 'b' }, { _id: 'b', tenant: 't2', externalId: 'x' })).rejects.toBeInstanceOf(
          DuplicateKeyError,
        );
        // A document may keep its own key; freed keys can be taken.
        expect((await c.updateOne({ _id: 'a' }, { $set: { externalId: 'x', n: 1 } })).modifiedCount).toBe(1);
        await c.deleteOne({ _id: 'c' });
        await c.updateOne({ _id: 'b' }, { $set: { tenant: 't2', externalId: 'x' } });
        expect(await c.find({}, { sort: { _id: 1 } })).toEqual([
          { _id: 'a', tenant: 't1', externalId: 'x', n: 1 },
          { _id: 'b', tenant: 't2', externalId: 'x' },
        ]);
      });

      it('a unique index on a dotted path rejects duplicates', async () => {
        const c = collection('unique_dotted');
        await c.createIndex({ 'provider.accountId': 1 }, { unique: true });
        await c.insertOne({ _id: 'a', provider: { accountId: 'gh-1' } });
        const duplicate = c.insertOne({ _id: 'b', provider: { accountId: 'gh-1' } });
        await expect(duplicate).rejects.toBeInstanceOf(DuplicateKeyError);
        await c.insertOne({ _id: 'c', provider: { accountId: 'gh-2' } });
        expect(await c.countDocuments({})).toBe(2);
      });

      it('a unique index counts a missing field as null, so only one document may lack it', async () => {
        const c = collection('unique_missing');
        await c.createIndex({ email: 1 }, { unique: true });
        await c.insertOne({ _id: 'a' });
        await expect(c.insertOne({ _id: 'b' })).rejects.toBeInstanceOf(DuplicateKeyError);
        await expect(c.insertOne({ _id: 'c', email: null })).rejects.toBeInstanceOf(DuplicateKeyError);
      });

      it('creating a unique index over existing duplicates fails with DuplicateKeyError', async () => {
        const c = await seeded('unique_late', [
          { _id: 'a', email: 'x@example.com' },
          { _id: 'b', email: 'x@example.com' },
        ]);
        await expect(c.createIndex({ email: 1 }, { unique: true })).rejects.toBeInstanceOf(DuplicateKeyError);
        // No half-built index stays behind.
        await c.insertOne({ _id: 'c', email: 'x@example.com' });
        expect(await c.countDocuments({ email: 'x@example.com' })).toBe(3);
      });

      it('a non-unique index allows duplicates, and creating the same index twice is harmless', async () => {
        const c = collection('plain_index');
        await c.createIndex({ tenant: 1, at: -1 });
        await c.createIndex({ tenant: 1, at: -1 });
        await c.insertOne({ _id: 'a', tenant: 't1', at: 1 });
        await c.insertOne({ _id: 'b', tenant: 't1', at: 1 });
        expect(await c.countDocuments({ tenant: 't1' })).toBe(2);
      });
    });

    describe('copies', () => {
      it('returns deep copies: mutating a result never changes the store', async () => {
        const c = await seeded('copy_out', [{ _id: 'a', profile: { region: 'eu' }, tags: ['x'] }]);
        const found = (await c.findOne({ _id: 'a' }))!;
        (found.profile as Record<string, unknown>).region = 'us';
        (found.tags as string[]).push('y');
        const [listed] = await c.find({ _id: 'a' });
        (listed.profile as Record<string, unknown>).region = 'ap';
        expect(await c.findOne({ _id: 'a' })).toEqual({ _id: 'a', profile: { region: 'eu' }, tags: ['x'] });
      });

      it('keeps its own copy of what it is given: later changes by the caller never reach the store', async () => {
        const c = collection('copy_in');
        const inserted = { _id: 'a', profile: { region: 'eu' }, tags: ['x'] };
        await c.insertOne(inserted);
        inserted.profile.region = 'us';
        inserted.tags.push('y');
        const scopes = ['read'];
        const settings = { mode: 'auto' };
        await c.updateOne({ _id: 'a' }, { $set: { scopes, settings } });
        scopes.push('write');
        settings.mode = 'manual';
        const replacement = { _id: 'b', nested: { n: 1 } };
        await c.replaceOne({ _id: 'b' }, replacement, { upsert: true });
        replacement.nested.n = 2;
        expect(await c.findOne({ _id: 'a' })).toEqual({
          _id: 'a',
          profile: { region: 'eu' },
          tags: ['x'],
          scopes: ['read'],
          settings: { mode: 'auto' },
        });
        expect(await c.findOne({ _id: 'b' })).toEqual({ _id: 'b', nested: { n: 1 } });
      });
    });

    describe('collections', () => {
      it('keeps collections independent', async () => {
        const one = await seeded('independent_1', [{ _id: 'a', n: 1 }]);
        const two = await seeded('independent_2', [{ _id: 'a', n: 2 }]);
        expect(await one.findOne({ _id: 'a' })).toEqual({ _id: 'a', n: 1 });
        expect(await two.findOne({ _id: 'a' })).toEqual({ _id: 'a', n: 2 });
      });

      it('dropCollection removes documents and indexes; dropping a missing collection is fine', async () => {
        const name = uniqueCollectionName('drop');
        const c = store.collection<Row>(name);
        await c.createIndex({ email: 1 }, { unique: true });
        await c.insertOne({ _id: 'a', email: 'x' });
        await store.dropCollection(name);
        expect(await c.countDocuments({})).toBe(0);
        await c.insertOne({ _id: 'a', email: 'x' });
        await c.insertOne({ _id: 'b', email: 'x' });
        expect(await c.countDocuments({})).toBe(2);
        await store.dropCollection(uniqueCollectionName('never_created'));
      });

      it('renameCollection replaces the target with the source, documents and unique indexes included', async () => {
        const live = uniqueCollectionName('live');
        const rebuilt = uniqueCollectionName('rebuilt');
        const liveHandle = store.collection<Row>(live);
        await liveHandle.insertOne({ _id: 'old', v: 1 });
        const rebuiltHandle = store.collection<Row>(rebuilt);
        await rebuiltHandle.createIndex({ email: 1 }, { unique: true });
        await rebuiltHandle.insertOne({ _id: 'new', v: 2, email: 'x' });

        await store.renameCollection(rebuilt, live);

        // Handles name a collection, not a snapshot: the live handle now reads the rebuilt data.
        expect(await liveHandle.find({}, {})).toEqual([{ _id: 'new', v: 2, email: 'x' }]);
        expect(await rebuiltHandle.countDocuments({})).toBe(0);
        await expect(liveHandle.insertOne({ _id: 'other', email: 'x' })).rejects.toBeInstanceOf(DuplicateKeyError);
      });

      it('renameCollection onto a name that does not exist yet', async () => {
        const from = uniqueCollectionName('from');
        const to = uniqueCollectionName('to');
        await store.collection<Row>(from).insertOne({ _id: 'a' });
        await store.renameCollection(from, to);
        expect(await store.collection<Row>(to).find({}, {})).toEqual([{ _id: 'a' }]);
      });

      it('renameCollection of a collection that does not exist fails and leaves the target alone', async () => {
        const targetName = uniqueCollectionName('rename_target');
        const target = store.collection<Row>(targetName);
        await target.insertOne({ _id: 'keep' });
        await expect(store.renameCollection(uniqueCollectionName('missing'), targetName)).rejects.toThrow();
        expect(await target.find({}, {})).toEqual([{ _id: 'keep' }]);
      });
    });

    describe('input checks', () => {
      const notPlainObjects: Array<[string, unknown]> = [
        ['null', null],
        ['an array', [{ _id: 'a' }]],
        ['a string', '{"_id":"a"}'],
        ['a Date', new Date()],
        ['a class instance', new (class Criteria {
          _id = 'a';
        })()],
      ];

      it('rejects a filter that is not a plain object, in every operation, with a TypeError', async () => {
        const c = await seeded('bad_filter', [{ _id: 'a' }]);
        for (const [, filter] of notPlainObjects) {
          const f = filter as Record<string, unknown>;
          await expect(c.findOne(f)).rejects.toBeInstanceOf(TypeError);
          await expect(c.find(f)).rejects.toBeInstanceOf(TypeError);
          await expect(c.countDocuments(f)).rejects.toBeInstanceOf(TypeError);
          await expect(c.updateOne(f, { $set: { n: 1 } }, { upsert: true })).rejects.toBeInstanceOf(TypeError);
          await expect(c.replaceOne(f, { _id: 'a' }, { upsert: true })).rejects.toBeInstanceOf(TypeError);
          await expect(c.deleteOne(f)).rejects.toBeInstanceOf(TypeError);
          await expect(c.deleteMany(f)).rejects.toBeInstanceOf(TypeError);
        }
        expect(await c.find({}, {})).toEqual([{ _id: 'a' }]);
      });

      it('rejects an update that is not a plain object of update operators, with a TypeError', async () => {
        const c = await seeded('bad_update', [{ _id: 'a', n: 1 }]);
        const updates: unknown[] = [
          ...notPlainObjects.map(([, value]) => value),
          [{ $set: { n: 2 } }],
          {},
          { n: 2 },
          { $set: { n: 2 }, n: 3 },
        ];
        for (const update of updates) {
          await expect(
            c.updateOne({ _id: 'a' }, update as Record<string, unknown>, { upsert: true }),
          ).rejects.toBeInstanceOf(TypeError);
        }
        await expect(c.insertOne(null as unknown as Row)).rejects.toBeInstanceOf(TypeError);
        await expect(c.replaceOne({ _id: 'a' }, { _id: 'a', $set: { n: 2 } })).rejects.toBeInstanceOf(TypeError);
        expect(await c.find({}, {})).toEqual([{ _id: 'a', n: 1 }]);
      });

      it('rejects an unknown query operator', async () => {
        const c = await seeded('bad_operator', [{ _id: 'a' }]);
        await expect(c.find({ n: { $noSuchOperator: 1 } })).rejects.toThrow();
      });
    });

    describe('concurrency', () => {
      it('concurrent updates of one document lose no write', async () => {
        const c = await seeded('concurrent_inc', [{ _id: 'a', n: 0, seen: [] }]);
        await Promise.all(
          Array.from({ length: 50 }, (_, i) => c.updateOne({ _id: 'a' }, { $inc: { n: 1 }, $push: { seen: i } })),
        );
        const found = (await c.findOne({ _id: 'a' }))!;
        expect(found.n).toBe(50);
        expect([...(found.seen as number[])].sort((x, y) => x - y)).toEqual(Array.from({ length: 50 }, (_, i) => i));
      });

      it('concurrent upserts of the same _id insert once and apply every update', async () => {
        const c = collection('concurrent_upsert');
        await Promise.all(
          Array.from({ length: 20 }, () => c.updateOne({ _id: 'a' }, { $inc: { n: 1 } }, { upsert: true })),
        );
        expect(await c.find({}, {})).toEqual([{ _id: 'a', n: 20 }]);
      });

      it('concurrent inserts of distinct documents all land, and duplicates among them fail alone', async () => {
        const c = collection('concurrent_insert');
        const results = await Promise.allSettled(
          Array.from({ length: 30 }, (_, i) => c.insertOne({ _id: `d${i % 25}`, i })),
        );
        expect(results.filter((r) => r.status === 'fulfilled')).toHaveLength(25);
        const failures = results.filter((r): r is PromiseRejectedResult => r.status === 'rejected');
        expect(failures).toHaveLength(5);
        for (const failure of failures) expect(failure.reason).toBeInstanceOf(DuplicateKeyError);
        expect(await c.countDocuments({})).toBe(25);
      });
    });

    describe('lifecycle', () => {
      it('rejects operations after close with ReadModelUnavailableError', async () => {
        const c = await seeded('closed', [{ _id: 'a' }]);
        await store.close();
        await expect(c.findOne({ _id: 'a' })).rejects.toBeInstanceOf(ReadModelUnavailableError);
        await expect(c.insertOne({ _id: 'b' })).rejects.toBeInstanceOf(ReadModelUnavailableError);
        await expect(store.dropCollection('x')).rejects.toBeInstanceOf(ReadModelUnavailableError);
        await store.close();
      });
    });
  });

  // A limitation naming no case would silently stop applying when a title changes.
  const unknown = Object.keys(limitations).filter((title) => !titles.has(title));
  if (unknown.length) throw new Error(`knownLimitations name no contract case: ${unknown.join('; ')}`);
}
