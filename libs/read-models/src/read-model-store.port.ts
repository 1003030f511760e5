/**
 * The read-model port: MongoDB's own filter and update documents, so the in-memory adapter (mingo) and the
 * MongoDB adapter evaluate exactly the same queries. Both pass test/integration/read-model-store.contract.ts.
 */
export type Filter = Record<string, unknown>;
export type Update = Record<string, unknown>;
export type SortSpec = Record<string, 1 | -1>;

export interface Document {
  _id: string;
  [field: string]: unknown;
}

export interface FindOptions {
  sort?: SortSpec;
  limit?: number;
  skip?: number;
}

export interface UpdateResult {
  matchedCount: number;
  modifiedCount: number;
  upsertedCount: number;
}

export interface ReadModelCollection<T extends Document = Document> {
  findOne(filter: Filter): Promise<T | null>;
  find(filter: Filter, options?: FindOptions): Promise<T[]>;
  countDocuments(filter: Filter): Promise<number>;
  /** Throws DuplicateKeyError when it would insert an _id (or unique index value) that exists. */
  insertOne(document: T): Promise<void>;
  /**
   * Update the first match; with `upsert`, insert when nothing matches (the filter's equality fields seed the new
   * document, as in MongoDB). An upsert whose filter misses an existing _id throws DuplicateKeyError: projections use
   * that to recognise an event that was already applied.
   */
  updateOne(filter: Filter, update: Update, options?: { upsert?: boolean }): Promise<UpdateResult>;
  replaceOne(filter: Filter, document: T, options?: { upsert?: boolean }): Promise<UpdateResult>;
  deleteOne(filter: Filter): Promise<number>;
  deleteMany(filter: Filter): Promise<number>;
  createIndex(keys: Record<string, 1 | -1>, options?: { unique?: boolean; name?: string }): Promise<void>;
}

export interface ReadModelStore {
  collection<T extends Document = Document>(name: string): ReadModelCollection<T>;
  /** Drop a collection (no error if it does not exist). */
  dropCollection(name: string): Promise<void>;
  /** Replace `to` with `from` atomically where the engine allows (replay swaps rebuilt collections in). */
  renameCollection(from: string, to: string): Promise<void>;
  close(): Promise<void>;
}
