import {
  MongoClient,
  MongoNetworkError,
  MongoNotConnectedError,
  MongoServerError,
  MongoServerSelectionError,
  MongoTopologyClosedError,
  type Collection,
  type Db,
  type Filter as MongoFilter,
  type MongoClientOptions,
  type Document as MongoDocument,
} from 'mongodb';
import { DuplicateKeyError, ReadModelUnavailableError } from '../errors';
import type {
  Document,
  Filter,
  FindOptions,
  ReadModelCollection,
  ReadModelStore,
  Update,
  UpdateResult,
} from '../read-model-store.port';

/** MongoDB's duplicate key error code (E11000), also used by FerretDB. */
const DUPLICATE_KEY = 11000;
/** NamespaceNotFound: dropping a collection that does not exist. */
const NAMESPACE_NOT_FOUND = 26;

/**
 * The production read-model store: MongoDB through the official driver. Filter and update documents pass through
 * unchanged; driver errors are translated at this boundary (E11000 -> DuplicateKeyError, lost connection or no
 * server -> ReadModelUnavailableError) so projections never see a driver type.
 */
export class MongoDbReadModelStore implements ReadModelStore {
  private readonly db: Db;
  private closed = false;

  /** Takes ownership of a connected `client`: {@link close} closes it. */
  constructor(
    private readonly client: MongoClient,
    dbName: string,
  ) {
    this.db = client.db(dbName);
  }

  /**
   * Connects to `url` and uses database `dbName`.
   * @throws ReadModelUnavailableError when no server answers (within `options.serverSelectionTimeoutMS`).
   */
  static async connect(url: string, dbName: string, options?: MongoClientOptions): Promise<MongoDbReadModelStore> {
    const client = new MongoClient(url, options);
    try {
      await client.connect();
    } catch (err) {
      await client.close().catch(() => undefined);
      throw translate(err, `cannot connect to MongoDB for read models (database ${dbName})`);
    }
    return new MongoDbReadModelStore(client, dbName);
  }

  collection<T extends Document = Document>(name: string): ReadModelCollection<T> {
    return new MongoDbReadModelCollection<T>(name, () => this.open().collection(name));
  }

  async dropCollection(name: string): Promise<void> {
    try {
      await this.open().dropCollection(name);
    } catch (err) {
      if (err instanceof MongoServerError && err.code === NAMESPACE_NOT_FOUND) return;
      throw translate(err, `read model ${name} unavailable`, name);
    }
  }

  /** Atomic on a single MongoDB server: `to` is dropped and replaced in one command. */
  async renameCollection(from: string, to: string): Promise<void> {
    try {
      await this.open().renameCollection(from, to, { dropTarget: true });
    } catch (err) {
      throw translate(err, `read model ${from} unavailable`, to);
    }
  }

  /** Closes the client; later operations reject with ReadModelUnavailableError. Closing twice is harmless. */
  async close(): Promise<void> {
    if (this.closed) return;
    this.closed = true;
    await this.client.close();
  }

  // The driver would silently reconnect a closed client; a closed store stays closed, like the in-memory one.
  private open(): Db {
    if (this.closed) throw new ReadModelUnavailableError('read-model store is closed');
    return this.db;
  }
}

class MongoDbReadModelCollection<T extends Document> implements ReadModelCollection<T> {
  constructor(
    private readonly name: string,
    private readonly collection: () => Collection<MongoDocument>,
  ) {}

  findOne(filter: Filter): Promise<T | null> {
    return this.call(async (c) => (await c.findOne(asFilter(filter))) as unknown as T | null);
  }

  find(filter: Filter, options: FindOptions = {}): Promise<T[]> {
    return this.call(async (c) => {
      const { sort, skip, limit } = options;
      return (await c.find(asFilter(filter), { sort, skip, limit }).toArray()) as unknown as T[];
    });
  }

  countDocuments(filter: Filter): Promise<number> {
    return this.call((c) => c.countDocuments(asFilter(filter)));
  }

  insertOne(document: T): Promise<void> {
    return this.call(async (c) => {
      // A copy, because the driver writes a generated _id into the object it is given.
      await c.insertOne({ ...assertPlainObject(document, 'document') });
    });
  }

  updateOne(filter: Filter, update: Update, options: { upsert?: boolean } = {}): Promise<UpdateResult> {
    return this.call(async (c) => {
      const result = await c.updateOne(asFilter(filter), assertUpdate(update), { upsert: options.upsert ?? false });
      return counts(result);
    });
  }

  replaceOne(filter: Filter, document: T, options: { upsert?: boolean } = {}): Promise<UpdateResult> {
    return this.call(async (c) => {
      const replacement = assertPlainObject(document, 'replacement');
      const operator = Object.keys(replacement).find((key) => key.startsWith('$'));
      if (operator) throw new TypeError(`replacement document must not contain update operators (${operator})`);
      const result = await c.replaceOne(asFilter(filter), replacement, { upsert: options.upsert ?? false });
      return counts(result);
    });
  }

  deleteOne(filter: Filter): Promise<number> {
    return this.call(async (c) => (await c.deleteOne(asFilter(filter))).deletedCount);
  }

  deleteMany(filter: Filter): Promise<number> {
    return this.call(async (c) => (await c.deleteMany(asFilter(filter))).deletedCount);
  }

  createIndex(keys: Record<string, 1 | -1>, options: { unique?: boolean; name?: string } = {}): Promise<void> {
    return this.call(async (c) => {
      await c.createIndex(keys, {
        ...(options.unique ? { unique: true } : {}),
        ...(options.name ? { name: options.name } : {}),
      });
    });
  }

  private async call<R>(operation: (collection: Collection<MongoDocument>) => Promise<R>): Promise<R> {
    try {
      return await operation(this.collection());
    } catch (err) {
      throw translate(err, `read model ${this.name} unavailable`, this.name);
    }
  }
}

function counts({ matchedCount, modifiedCount, upsertedCount }: UpdateResult): UpdateResult {
  return { matchedCount, modifiedCount, upsertedCount };
}

/** Driver errors -> the port's errors; anything else (a bad query, a rejected update) passes through unchanged. */
function translate(err: unknown, unavailable: string, collection?: string): unknown {
  if (err instanceof MongoServerError && err.code === DUPLICATE_KEY) {
    return new DuplicateKeyError(collection ?? 'unknown', { cause: err });
  }
  if (
    err instanceof MongoNetworkError ||
    err instanceof MongoServerSelectionError ||
    err instanceof MongoTopologyClosedError ||
    err instanceof MongoNotConnectedError
  ) {
    return new ReadModelUnavailableError(`${unavailable}: ${err.message}`, { cause: err });
  }
  return err;
}

function isPlainObject(value: unknown): value is Record<string, unknown> {
  if (Object.prototype.toString.call(value) !== '[object Object]') return false;
  const prototype = Object.getPrototypeOf(value);
  return prototype === null || Object.getPrototypeOf(prototype) === null;
}

// The same input rules as the in-memory adapter, so both reject the same calls with the same TypeError.
function assertPlainObject(value: unknown, what: string): Record<string, unknown> {
  if (!isPlainObject(value)) throw new TypeError(`${what} must be a plain object`);
  return value;
}

function asFilter(filter: Filter): MongoFilter<MongoDocument> {
  return assertPlainObject(filter, 'filter');
}

function assertUpdate(update: Update): Record<string, unknown> {
  const modifier = assertPlainObject(update, 'update');
  const keys = Object.keys(modifier);
  if (keys.length === 0 || keys.some((key) => !key.startsWith('$'))) {
    throw new TypeError('update must contain only update operators ($set, $inc, ...)');
  }
  return modifier;
}
