import { randomBytes } from 'node:crypto';
import { isDeepStrictEqual } from 'node:util';
import { Query, update as applyUpdate } from 'mingo';
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

type Criteria = ConstructorParameters<typeof Query>[0];
type Modifier = Parameters<typeof applyUpdate>[1];
type Fields = Record<string, unknown>;

interface UniqueIndex {
  paths: string[];
  /** Index key -> the _id key of the document holding it. */
  entries: Map<string, string>;
}

interface CollectionState {
  /** _id key -> stored document; a Map keeps insertion order, MongoDB's usual natural order. */
  documents: Map<string, Fields>;
  /** Index name -> definition; only unique indexes constrain writes, the others are remembered by name. */
  indexes: Map<string, { keys: Record<string, 1 | -1>; unique?: UniqueIndex }>;
}

/**
 * The embedded read-model store: collections held in memory, queried and updated by evaluating the very same MongoDB
 * filter and update documents with mingo. Contents are rebuilt by replay at start, so nothing is persisted.
 *
 * Documents go in and come out as deep copies, and every operation runs one at a time in call order, so async callers
 * never observe a half-applied write.
 */
export class InMemoryReadModelStore implements ReadModelStore {
  private readonly collections = new Map<string, CollectionState>();
  private tail: Promise<unknown> = Promise.resolve();
  private closed = false;
  private readonly access: StoreAccess = {
    run: (operation) => this.run(operation),
    state: (name, create) => this.state(name, create),
  };

  /** A handle on `name`; the collection springs into existence on first write, as in MongoDB. */
  collection<T extends Document = Document>(name: string): ReadModelCollection<T> {
    return new InMemoryReadModelCollection<T>(name, this.access);
  }

  dropCollection(name: string): Promise<void> {
    return this.run(() => {
      this.collections.delete(name);
    });
  }

  /** Moves `from` over `to`, replacing it (MongoDB's dropTarget); fails when `from` does not exist. */
  renameCollection(from: string, to: string): Promise<void> {
    return this.run(() => {
      const source = this.collections.get(from);
      if (!source) throw new Error(`cannot rename read model ${from}: source collection does not exist`);
      if (from === to) throw new Error(`cannot rename read model ${from} to itself`);
      this.collections.delete(from);
      this.collections.set(to, source);
    });
  }

  /** Later operations reject with ReadModelUnavailableError; closing twice is harmless. */
  async close(): Promise<void> {
    if (this.closed) return;
    await this.run(() => {
      this.closed = true;
    });
  }

  /** Runs `operation` after every operation called before it, so async callers never interleave. */
  private run<R>(operation: () => R): Promise<R> {
    const result = this.tail.then(() => {
      if (this.closed) throw new ReadModelUnavailableError('read-model store is closed');
      return operation();
    });
    this.tail = result.catch(() => undefined);
    return result;
  }

  private state(name: string, create: boolean): CollectionState | undefined {
    let state = this.collections.get(name);
    if (!state && create) {
      state = { documents: new Map(), indexes: new Map() };
      this.collections.set(name, state);
    }
    return state;
  }
}

/** What a collection handle may do with its store: kept off the store's public surface. */
interface StoreAccess {
  run<R>(operation: () => R): Promise<R>;
  state(name: string, create: boolean): CollectionState | undefined;
}

class InMemoryReadModelCollection<T extends Document> implements ReadModelCollection<T> {
  constructor(
    private readonly name: string,
    private readonly store: StoreAccess,
  ) {}

  findOne(filter: Filter): Promise<T | null> {
    return this.store.run(() => {
      const [first] = this.matching(filter, 1);
      return first ? (copy(first) as T) : null;
    });
  }

  find(filter: Filter, options: FindOptions = {}): Promise<T[]> {
    return this.store.run(() => {
      const { sort, skip = 0, limit = 0 } = options;
      if (!Number.isInteger(skip) || skip < 0) throw new TypeError('skip must be a non-negative integer');
      if (!Number.isInteger(limit)) throw new TypeError('limit must be an integer');
      const query = compile(filter);
      const documents = [...(this.store.state(this.name, false)?.documents.values() ?? [])];
      // The cursor sorts with MongoDB's cross-type ordering (missing/null < numbers < strings < ...).
      let cursor = query.find(documents);
      if (sort) cursor = cursor.sort(assertSort(sort));
      if (skip) cursor = cursor.skip(skip);
      // MongoDB reads limit 0 as "no limit" and a negative limit as its absolute value in one batch.
      if (limit) cursor = cursor.limit(Math.abs(limit));
      return cursor.all().map((document) => copy(document as Fields) as T);
    });
  }

  countDocuments(filter: Filter): Promise<number> {
    return this.store.run(() => this.matching(filter).length);
  }

  insertOne(document: T): Promise<void> {
    return this.store.run(() => {
      const stored = copy(assertPlainObject(document, 'document'));
      if (stored._id === undefined) stored._id = newObjectIdHex();
      this.write(this.store.state(this.name, true)!, undefined, stored);
    });
  }

  updateOne(filter: Filter, update: Update, options: { upsert?: boolean } = {}): Promise<UpdateResult> {
    return this.store.run(() => {
      const modifier = assertUpdate(update);
      const { $setOnInsert: onInsert, ...operators } = modifier;
      assertNoConflicts(operators, onInsert);
      const [current] = this.matching(filter, 1);
      if (current) return this.replaceExisting(current, updated(current, operators));
      if (!options.upsert) return { matchedCount: 0, modifiedCount: 0, upsertedCount: 0 };
      // As MongoDB does: seed from the filter's equality conditions, then apply the update with $setOnInsert.
      const seed = equalityFields(assertPlainObject(filter, 'filter'));
      const onInsertAsSet = onInsert ? { $set: { ...(operators.$set as Fields), ...(onInsert as Fields) } } : {};
      return this.insertUpserted(updated(seed, { ...operators, ...onInsertAsSet }));
    });
  }

  replaceOne(filter: Filter, document: T, options: { upsert?: boolean } = {}): Promise<UpdateResult> {
    return this.store.run(() => {
      const replacement = copy(assertPlainObject(document, 'replacement'));
      const operator = Object.keys(replacement).find((key) => key.startsWith('$'));
      if (operator) throw new TypeError(`replacement document must not contain update operators (${operator})`);
      const [current] = this.matching(filter, 1);
      if (current) {
        if (replacement._id === undefined) replacement._id = current._id;
        return this.replaceExisting(current, { _id: replacement._id, ...replacement });
      }
      if (!options.upsert) return { matchedCount: 0, modifiedCount: 0, upsertedCount: 0 };
      // MongoDB takes only the _id from the filter when upserting a replacement.
      const { _id } = equalityFields(assertPlainObject(filter, 'filter'));
      const idFromFilter = replacement._id === undefined && _id !== undefined ? { _id } : {};
      return this.insertUpserted({ ...idFromFilter, ...replacement });
    });
  }

  deleteOne(filter: Filter): Promise<number> {
    return this.store.run(() => this.delete(filter, 1));
  }

  deleteMany(filter: Filter): Promise<number> {
    return this.store.run(() => this.delete(filter));
  }

  createIndex(keys: Record<string, 1 | -1>, options: { unique?: boolean; name?: string } = {}): Promise<void> {
    return this.store.run(() => {
      const paths = Object.keys(assertSort(keys));
      if (paths.length === 0) throw new TypeError('an index needs at least one key');
      const name = options.name ?? Object.entries(keys).map(([path, direction]) => `${path}_${direction}`).join('_');
      const state = this.store.state(this.name, true)!;
      const existing = state.indexes.get(name);
      if (existing) {
        // Re-creating the same index is a no-op in MongoDB; a different one under the same name is an error.
        if (isDeepStrictEqual(existing.keys, keys) && !!existing.unique === !!options.unique) return;
        throw new Error(`index ${name} already exists on read model ${this.name} with different options`);
      }
      if (!options.unique) {
        state.indexes.set(name, { keys: { ...keys } });
        return;
      }
      const unique: UniqueIndex = { paths, entries: new Map() };
      // Built completely before it is registered: existing duplicates fail the creation and leave no index behind.
      for (const document of state.documents.values()) {
        for (const key of indexKeys(document, paths)) {
          if (unique.entries.has(key)) throw new DuplicateKeyError(this.name);
          unique.entries.set(key, idKey(document._id));
        }
      }
      state.indexes.set(name, { keys: { ...keys }, unique });
    });
  }

  /** Matching stored documents in natural order (not copies). */
  private matching(filter: Filter, limit = Infinity): Fields[] {
    const query = compile(filter);
    const documents = this.store.state(this.name, false)?.documents;
    // A filter that names one _id (how projections address a document) needs one lookup, not a scan.
    const id = (filter as { _id?: unknown })._id;
    if (typeof id === 'string') {
      const candidate = documents?.get(idKey(id));
      return candidate && query.test(candidate) ? [candidate] : [];
    }
    const found: Fields[] = [];
    for (const document of documents?.values() ?? []) {
      if (found.length >= limit) break;
      if (query.test(document)) found.push(document);
    }
    return found;
  }

  private replaceExisting(current: Fields, next: Fields): UpdateResult {
    if (!isDeepStrictEqual(next._id, current._id)) {
      throw new Error(`the immutable field _id of a document in read model ${this.name} cannot be changed`);
    }
    if (isDeepStrictEqual(next, current)) return { matchedCount: 1, modifiedCount: 0, upsertedCount: 0 };
    this.write(this.store.state(this.name, true)!, current, next);
    return { matchedCount: 1, modifiedCount: 1, upsertedCount: 0 };
  }

  private insertUpserted(document: Fields): UpdateResult {
    const stored = document._id === undefined ? { _id: newObjectIdHex(), ...document } : document;
    // An existing _id the filter did not match surfaces here as DuplicateKeyError, exactly like MongoDB's E11000.
    this.write(this.store.state(this.name, true)!, undefined, stored);
    return { matchedCount: 0, modifiedCount: 0, upsertedCount: 1 };
  }

  private delete(filter: Filter, limit = Infinity): number {
    const state = this.store.state(this.name, false);
    const doomed = this.matching(filter, limit);
    for (const document of doomed) {
      for (const index of uniqueIndexes(state!)) {
        for (const key of indexKeys(document, index.paths)) index.entries.delete(key);
      }
      state!.documents.delete(idKey(document._id));
    }
    return doomed.length;
  }

  /**
   * Stores `next` in place of `previous` (or as a new document), enforcing _id and unique-index uniqueness first so a
   * rejected write changes nothing.
   */
  private write(state: CollectionState, previous: Fields | undefined, next: Fields): void {
    const id = idKey(next._id);
    if (!previous && state.documents.has(id)) throw new DuplicateKeyError(this.name);
    const indexes = uniqueIndexes(state);
    const newKeys = indexes.map((index) => indexKeys(next, index.paths));
    indexes.forEach((index, i) => {
      for (const key of newKeys[i]) {
        const holder = index.entries.get(key);
        if (holder !== undefined && holder !== id) throw new DuplicateKeyError(this.name);
      }
    });
    indexes.forEach((index, i) => {
      if (previous) for (const key of indexKeys(previous, index.paths)) index.entries.delete(key);
      for (const key of newKeys[i]) index.entries.set(key, id);
    });
    state.documents.set(id, next);
  }
}

function uniqueIndexes(state: CollectionState): UniqueIndex[] {
  return [...state.indexes.values()].flatMap((index) => (index.unique ? [index.unique] : []));
}

function compile(filter: Filter): Query {
  return new Query(assertPlainObject(filter, 'filter') as Criteria);
}

/** Plain object from any realm (jest runs tests in a separate VM context); class instances, Dates, arrays are not. */
function isPlainObject(value: unknown): value is Fields {
  if (Object.prototype.toString.call(value) !== '[object Object]') return false;
  const prototype = Object.getPrototypeOf(value);
  return prototype === null || Object.getPrototypeOf(prototype) === null;
}

function isDate(value: unknown): value is Date {
  return Object.prototype.toString.call(value) === '[object Date]';
}

function assertPlainObject(value: unknown, what: string): Fields {
  if (!isPlainObject(value)) throw new TypeError(`${what} must be a plain object`);
  return value;
}

/** Same rule as the MongoDB driver: an update is a non-empty document of update operators (no pipelines here). */
function assertUpdate(update: unknown): Fields {
  const modifier = assertPlainObject(update, 'update');
  const keys = Object.keys(modifier);
  if (keys.length === 0 || keys.some((key) => !key.startsWith('$'))) {
    throw new TypeError('update must contain only update operators ($set, $inc, ...)');
  }
  return modifier;
}

function assertSort(spec: Record<string, unknown>): Record<string, 1 | -1> {
  const fields = assertPlainObject(spec, 'sort/index specification');
  for (const [path, direction] of Object.entries(fields)) {
    if (direction !== 1 && direction !== -1) throw new TypeError(`direction for ${path} must be 1 or -1`);
  }
  return fields as Record<string, 1 | -1>;
}

/** mingo knows no $setOnInsert, so its paths are checked against the other operators' here, as MongoDB would. */
function assertNoConflicts(operators: Fields, onInsert: unknown): void {
  if (onInsert === undefined) return;
  const insertPaths = Object.keys(assertPlainObject(onInsert, '$setOnInsert'));
  const otherPaths = Object.values(operators).flatMap((fields) => (isPlainObject(fields) ? Object.keys(fields) : []));
  for (const a of insertPaths) {
    for (const b of otherPaths) {
      if (a === b || a.startsWith(`${b}.`) || b.startsWith(`${a}.`)) {
        throw new Error(`updating the path '${a}' would create a conflict at '${b}'`);
      }
    }
  }
}

/**
 * The fields an upsert copies from its filter, following MongoDB: top-level and `$and` equality conditions (literal
 * values or `$eq`, dotted paths expanded into embedded documents); ranges, `$in`, `$or` and regexes contribute nothing.
 */
function equalityFields(filter: Fields, into: Fields = {}): Fields {
  for (const [path, condition] of Object.entries(filter)) {
    if (path === '$and' && Array.isArray(condition)) {
      for (const clause of condition) if (isPlainObject(clause)) equalityFields(clause, into);
      continue;
    }
    if (path.startsWith('$')) continue;
    const operators = isPlainObject(condition) && Object.keys(condition).some((key) => key.startsWith('$'));
    if (operators) {
      if ('$eq' in (condition as Fields)) setPath(into, path, (condition as Fields).$eq);
    } else if (Object.prototype.toString.call(condition) !== '[object RegExp]') {
      setPath(into, path, condition);
    }
  }
  return into;
}

function setPath(target: Fields, path: string, value: unknown): void {
  const segments = path.split('.');
  let node = target;
  for (const segment of segments.slice(0, -1)) {
    if (!isPlainObject(node[segment])) node[segment] = {};
    node = node[segment] as Fields;
  }
  node[segments[segments.length - 1]] = value;
}

/**
 * The keys a document contributes to a unique index, as in MongoDB: a missing field indexes as null and an array
 * contributes each element (multikey), so a compound index yields the cross product.
 */
function indexKeys(document: Fields, paths: string[]): string[] {
  let tuples: string[][] = [[]];
  for (const path of paths) {
    const values = valuesAt(document, path.split('.'));
    const keys = [...new Set(values.map(keyOf))];
    tuples = tuples.flatMap((tuple) => keys.map((key) => [...tuple, key]));
  }
  return [...new Set(tuples.map((tuple) => tuple.join('|')))];
}

function valuesAt(value: unknown, segments: string[]): unknown[] {
  if (segments.length === 0) {
    if (Array.isArray(value)) return value.length ? value : [undefined];
    return [value];
  }
  const [head, ...rest] = segments;
  if (Array.isArray(value)) {
    if (/^\d+$/.test(head)) return valuesAt(value[Number(head)], rest);
    const nested = value.flatMap((element) => (isPlainObject(element) ? valuesAt(element, segments) : []));
    return nested.length ? nested : [undefined];
  }
  if (isPlainObject(value)) return valuesAt(value[head], rest);
  return [undefined];
}

/** A canonical key per BSON value: numbers compare by value, types never collide, undefined and null coincide. */
function keyOf(value: unknown): string {
  if (value === undefined || value === null) return 'null';
  if (isDate(value)) return `date:${value.getTime()}`;
  if (Array.isArray(value)) return `[${value.map(keyOf).join(',')}]`;
  if (isPlainObject(value)) {
    return `{${Object.entries(value)
      .map(([field, nested]) => `${JSON.stringify(field)}:${keyOf(nested)}`)
      .join(',')}}`;
  }
  if (typeof value === 'bigint') return `number:${value}`;
  return `${typeof value}:${JSON.stringify(value)}`;
}

function idKey(id: unknown): string {
  return keyOf(id);
}

/** Like the ObjectId MongoDB generates for a document without _id, as a hex string. */
function newObjectIdHex(): string {
  const seconds = Math.floor(Date.now() / 1000).toString(16).padStart(8, '0');
  return seconds + randomBytes(8).toString('hex');
}

/** Operators MongoDB refuses to apply to an existing value of the wrong type, where mingo silently skips the field. */
const TARGET_TYPES: Record<string, { accepts(value: unknown): boolean; expected: string }> = {
  $push: { accepts: Array.isArray, expected: 'an array' },
  $addToSet: { accepts: Array.isArray, expected: 'an array' },
  $inc: { accepts: (value) => typeof value === 'number', expected: 'a number' },
  $mul: { accepts: (value) => typeof value === 'number', expected: 'a number' },
};

/** The update applied to a copy of `document`, after checking what mingo would let slip. */
function updated(document: Fields, operators: Fields): Fields {
  for (const [operator, target] of Object.entries(TARGET_TYPES)) {
    const fields = operators[operator];
    for (const path of isPlainObject(fields) ? Object.keys(fields) : []) {
      const value = valueAtPath(document, path);
      if (value !== undefined && !target.accepts(value)) {
        throw new Error(`${operator} needs ${target.expected} at '${path}'`);
      }
    }
  }
  const next = copy(document);
  applyUpdate(next, operators as Modifier, undefined, undefined, { cloneMode: 'deep' });
  // Copied again so the store keeps no reference to values taken from the caller's update document.
  return copy(next);
}

function valueAtPath(document: Fields, path: string): unknown {
  let node: unknown = document;
  for (const segment of path.split('.')) {
    if (Array.isArray(node) && /^\d+$/.test(segment)) node = node[Number(segment)];
    else if (isPlainObject(node)) node = node[segment];
    else return undefined;
  }
  return node;
}

/**
 * A deep copy detached from the caller's objects, made in this realm. Undefined becomes null because that is what the
 * MongoDB driver serialises it to by default.
 */
function copy(document: Fields): Fields {
  return copyValue(document) as Fields;
}

function copyValue(value: unknown): unknown {
  if (value === undefined) return null;
  if (Array.isArray(value)) return value.map(copyValue);
  if (isPlainObject(value)) {
    const copied: Fields = {};
    for (const [field, nested] of Object.entries(value)) copied[field] = copyValue(nested);
    return copied;
  }
  if (isDate(value)) return new Date(value.getTime());
  if (typeof value === 'function' || typeof value === 'symbol') {
    throw new TypeError(`a read-model document cannot hold a ${typeof value}`);
  }
  return typeof value === 'object' && value !== null ? structuredClone(value) : value;
}
