import type { Document, ReadModelCollection, ReadModelStore } from '@authpipe/read-models';

/**
 * What a projection sees during a rebuild: its own collection names, each redirected to a fresh collection.
 * A projection writing to a collection it does not declare in `collections` would write to a live collection behind
 * the rebuild's back, so that is an error; so are drop, rename and close, which no projection has business calling.
 */
export class RedirectedReadModelStore implements ReadModelStore {
  constructor(
    private readonly inner: ReadModelStore,
    private readonly names: ReadonlyMap<string, string>,
  ) {}

  collection<T extends Document = Document>(name: string): ReadModelCollection<T> {
    const target = this.names.get(name);
    if (target === undefined) {
      throw new Error(`a projection used read model "${name}", which no projection declares in its collections: a rebuild cannot redirect it`);
    }
    return this.inner.collection<T>(target);
  }

  dropCollection(name: string): Promise<void> {
    return Promise.reject(new Error(`dropCollection(${name}) is not available to projections during a rebuild`));
  }

  renameCollection(from: string): Promise<void> {
    return Promise.reject(new Error(`renameCollection(${from}) is not available to projections during a rebuild`));
  }

  close(): Promise<void> {
    return Promise.reject(new Error('close() is not available to projections during a rebuild'));
  }
}
