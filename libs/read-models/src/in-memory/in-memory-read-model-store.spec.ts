import { DuplicateKeyError } from '../errors';
import { InMemoryReadModelStore } from './in-memory-read-model-store';

// What only the in-memory adapter promises; the shared behaviour is in test/integration/read-model-store.contract.ts.
describe('InMemoryReadModelStore', () => {
  it('runs operations in call order, so a read issued after a write sees it', async () => {
    const store = new InMemoryReadModelStore();
    const c = store.collection('rows');
    const [, found, count] = await Promise.all([
      c.insertOne({ _id: 'a', n: 1 }),
      c.findOne({ _id: 'a' }),
      c.countDocuments({}),
      c.updateOne({ _id: 'a' }, { $inc: { n: 1 } }),
    ]);
    expect(found).toEqual({ _id: 'a', n: 1 });
    expect(count).toBe(1);
    expect(await c.findOne({ _id: 'a' })).toEqual({ _id: 'a', n: 2 });
  });

  it('keeps going after a failed operation', async () => {
    const store = new InMemoryReadModelStore();
    const c = store.collection('rows');
    const results = await Promise.allSettled([
      c.insertOne({ _id: 'a' }),
      c.insertOne({ _id: 'a' }),
      c.insertOne({ _id: 'b' }),
    ]);
    expect(results.map((r) => r.status)).toEqual(['fulfilled', 'rejected', 'fulfilled']);
    expect((results[1] as PromiseRejectedResult).reason).toBeInstanceOf(DuplicateKeyError);
    expect(await c.countDocuments({})).toBe(2);
  });

  it('a write rejected by one unique index leaves every index as it was', async () => {
    const store = new InMemoryReadModelStore();
    const c = store.collection('rows');
    await c.createIndex({ email: 1 }, { unique: true });
    await c.createIndex({ handle: 1 }, { unique: true });
    await c.insertOne({ _id: 'a', email: 'a@x', handle: 'a' });
    await c.insertOne({ _id: 'b', email: 'b@x', handle: 'b' });
    // New handle is free but the email is taken: nothing may change, including the handle index.
    await expect(c.updateOne({ _id: 'b' }, { $set: { email: 'a@x', handle: 'z' } })).rejects.toBeInstanceOf(
      DuplicateKeyError,
    );
    await c.insertOne({ _id: 'c', email: 'c@x', handle: 'z' });
    await expect(c.insertOne({ _id: 'd', email: 'd@x', handle: 'b' })).rejects.toBeInstanceOf(DuplicateKeyError);
  });

  it('indexes each element of an array under a unique index, as MongoDB multikey indexes do', async () => {
    const store = new InMemoryReadModelStore();
    const c = store.collection('rows');
    await c.createIndex({ aliases: 1 }, { unique: true });
    await c.insertOne({ _id: 'a', aliases: ['x', 'y'] });
    await expect(c.insertOne({ _id: 'b', aliases: ['y', 'z'] })).rejects.toBeInstanceOf(DuplicateKeyError);
    await c.updateOne({ _id: 'a' }, { $push: { aliases: 'x' } });
    expect(await c.findOne({ _id: 'a' })).toEqual({ _id: 'a', aliases: ['x', 'y', 'x'] });
  });

  it('generates an ObjectId-like hex _id for an upsert without one', async () => {
    const store = new InMemoryReadModelStore();
    const c = store.collection('rows');
    await c.updateOne({ tenant: 't1' }, { $set: { n: 1 } }, { upsert: true });
    expect((await c.findOne({ tenant: 't1' }))!._id).toMatch(/^[0-9a-f]{24}$/);
  });

  it('stores undefined as null, as the MongoDB driver serialises it by default', async () => {
    const store = new InMemoryReadModelStore();
    const c = store.collection('rows');
    await c.insertOne({ _id: 'a', error: undefined, list: [undefined] });
    const found = await c.findOne({ _id: 'a' });
    expect(found).toHaveProperty('error', null);
    expect(found!.list).toEqual([null]);
  });
});
