/**
 * A renderer for the subset of kustomize that deploy/k8s uses, so that the manifests can be rendered and checked
 * in-process (test/integration/k8s-manifests.test.ts) where no kustomize or kubectl binary can be installed.
 *
 * It implements exactly these kustomization fields and refuses every other one (and every option of these it does
 * not implement), so an overlay that renders here uses nothing this file does not model:
 *
 * - `resources`: local YAML files (one or more documents) and local directories holding a kustomization
 *   (rendered recursively, cycles refused). No URLs, no remote bases.
 * - `configMapGenerator`: `name` with `files` (`path` or `key=path`) and/or `literals` (`KEY=VALUE`); behavior
 *   `create` only. The name gets kustomize's content hash suffix (`<name>-<10 characters>`, computed as kustomize
 *   does: SHA-256 of the JSON of {data, kind, name} with Go's escaping, first ten hex digits with 0 1 3 a e mapped to
 *   g h k m t), and references to the generated name in Deployment pod templates (volumes, projected volumes,
 *   env configMapKeyRef, envFrom configMapRef) are rewritten to it, also from overlays.
 * - `patches`: `path` only, one strategic merge patch per file, on a Deployment named by the patch's own
 *   apiVersion, kind and metadata.name (no `target`, no inline `patch`, no JSON 6902). Maps merge recursively; a
 *   null deletes the key; lists merge only where the Kubernetes API gives them a merge key that is listed in
 *   MERGE_KEYS (containers and initContainers by name, env by name, volumes by name, volumeMounts by mountPath,
 *   ports by containerPort, topologySpreadConstraints by topologyKey, imagePullSecrets by name): an item with the
 *   same key is merged into the existing one, a new one is appended. Any other list, and any `$patch`,
 *   `$setElementOrder` or `$retainKeys` directive, is refused rather than guessed.
 * - `namespace`: set on every object of a namespaced kind (the kinds in NAMESPACED; any other kind is refused).
 * - `images`: `name` with `newName`, `newTag` and/or `digest`, applied to the containers and init containers of
 *   Deployment pod templates whose image name (without tag or digest) equals `name`.
 *
 * Order within a kustomization: resources (bases rendered first) and generated ConfigMaps, then patches, then
 * namespace, then images, then the generated-name references. YAML is read as YAML 1.1, as `kubectl apply -f`
 * reads it (`on`, `off`, `yes`, `no` are booleans; `0440` is octal): stricter than kustomize, whose parser takes an
 * unquoted `off` for a string, so a manifest that renders here means the same under both readings (an unquoted
 * `value: off` fails the schema validation here). Duplicate object ids are refused, as kustomize refuses them.
 *
 * What it does not reproduce: kustomize's output order (objects come in the order they were read) and its YAML
 * formatting. The objects themselves are what `kustomize build` gives for these inputs.
 */
import { createHash } from 'node:crypto';
import { existsSync, readFileSync, statSync } from 'node:fs';
import { basename, join, resolve } from 'node:path';
import { parseAllDocuments } from 'yaml';

export interface K8sObject {
  apiVersion: string;
  kind: string;
  metadata: { name: string; namespace?: string; labels?: Record<string, string>; [key: string]: unknown };
  [key: string]: unknown;
}

type Json = null | boolean | number | string | Json[] | { [key: string]: Json };
type JsonObject = { [key: string]: Json };

export class KustomizeSubsetError extends Error {}

const KUSTOMIZATION_FILES = ['kustomization.yaml', 'kustomization.yml', 'Kustomization'];
const KUSTOMIZATION_FIELDS = new Set(['apiVersion', 'kind', 'resources', 'namespace', 'images', 'patches', 'configMapGenerator']);

/** Kinds this renderer knows to be namespaced (the namespace field is set on them); any other kind is refused. */
export const NAMESPACED = new Set(['Deployment', 'Service', 'ConfigMap', 'Secret', 'ServiceAccount', 'HorizontalPodAutoscaler', 'PodDisruptionBudget', 'NetworkPolicy']);

/** Strategic merge keys of the lists that a patch may contain (all inside a Deployment's pod template). */
export const MERGE_KEYS: Record<string, string> = {
  containers: 'name',
  initContainers: 'name',
  env: 'name',
  volumes: 'name',
  volumeMounts: 'mountPath',
  ports: 'containerPort',
  topologySpreadConstraints: 'topologyKey',
  imagePullSecrets: 'name',
};

const isObject = (value: unknown): value is JsonObject => typeof value === 'object' && value !== null && !Array.isArray(value);
const fail = (message: string): never => {
  throw new KustomizeSubsetError(message);
};
const clone = <T>(value: T): T => JSON.parse(JSON.stringify(value)) as T;

function onlyKeys(where: string, value: unknown, allowed: string[]): asserts value is JsonObject {
  if (!isObject(value)) fail(`${where}: must be a map`);
  const unknown = Object.keys(value as JsonObject).filter((k) => !allowed.includes(k));
  if (unknown.length) fail(`${where}: not supported by this renderer: ${unknown.join(', ')}`);
}

/** Every YAML document of a file, read as YAML 1.1 like kubectl; empty documents are skipped. */
function readDocuments(file: string): Json[] {
  const docs = parseAllDocuments(readFileSync(file, 'utf8'), { version: '1.1', uniqueKeys: true });
  const values: Json[] = [];
  for (const doc of docs) {
    if ('errors' in doc && doc.errors.length) fail(`${file}: ${doc.errors[0].message}`);
    const value = doc.toJS({ maxAliasCount: -1 }) as Json;
    if (value !== null && value !== undefined) values.push(value);
  }
  return values;
}

function asObject(file: string, value: Json): K8sObject {
  if (!isObject(value) || typeof value.apiVersion !== 'string' || typeof value.kind !== 'string' || !isObject(value.metadata) || typeof value.metadata.name !== 'string') {
    return fail(`${file}: every document must be a Kubernetes object with apiVersion, kind and metadata.name`);
  }
  return value as unknown as K8sObject;
}

const idOf = (o: K8sObject) => `${o.apiVersion}/${o.kind}/${o.metadata.namespace ?? '~'}/${o.metadata.name}`;

// ---- configMapGenerator ---------------------------------------------------------------------------------------------

/** Go's encoding/json output for maps of strings (sorted keys; <, >, &, U+2028, U+2029 escaped). */
function goJson(value: Json): string {
  const sort = (v: Json): Json =>
    Array.isArray(v) ? v.map(sort) : isObject(v) ? Object.fromEntries(Object.keys(v).sort().map((k) => [k, sort(v[k])])) : v;
  const text = JSON.stringify(sort(value));
  // JSON.stringify writes \b and \f where Go (before 1.22) writes \u0008 and \u000c: refuse rather than differ.
  if (/\\[bf]/.test(text.replace(/\\\\/g, ''))) fail('configMapGenerator: data with backspace or form feed characters is not supported');
  return text.replace(/[<>&\u2028\u2029]/g, (c) => `\\u${c.charCodeAt(0).toString(16).padStart(4, '0')}`);
}

/** kustomize's name suffix of a generated ConfigMap. */
export function configMapHashSuffix(name: string, data: Record<string, string> | null): string {
  const hex = createHash('sha256').update(goJson({ data, kind: 'ConfigMap', name })).digest('hex');
  return hex.slice(0, 10).replace(/[013ae]/g, (c) => ({ '0': 'g', '1': 'h', '3': 'k', a: 'm', e: 't' })[c as '0' | '1' | '3' | 'a' | 'e']);
}

function generateConfigMap(dir: string, spec: Json, index: number): { object: K8sObject; original: string } {
  const where = `configMapGenerator[${index}]`;
  onlyKeys(where, spec, ['name', 'files', 'literals', 'behavior']);
  if (typeof spec.name !== 'string' || !spec.name) fail(`${where}: name is required`);
  if (spec.behavior !== undefined && spec.behavior !== 'create') fail(`${where}: behavior ${String(spec.behavior)} is not supported (create only)`);
  const data: Record<string, string> = {};
  const add = (key: string, value: string) => {
    if (!/^[-._a-zA-Z0-9]+$/.test(key)) fail(`${where}: invalid key ${key}`);
    if (key in data) fail(`${where}: duplicate key ${key}`);
    data[key] = value;
  };
  for (const entry of (spec.files ?? []) as Json[]) {
    if (typeof entry !== 'string') return fail(`${where}: files entries are strings`);
    const eq = entry.indexOf('=');
    const [key, path] = eq >= 0 ? [entry.slice(0, eq), entry.slice(eq + 1)] : [basename(entry), entry];
    const file = resolve(dir, path);
    if (!existsSync(file) || !statSync(file).isFile()) fail(`${where}: no file ${path}`);
    add(key, readFileSync(file, 'utf8'));
  }
  for (const entry of (spec.literals ?? []) as Json[]) {
    if (typeof entry !== 'string' || entry.indexOf('=') < 1) return fail(`${where}: literals are KEY=VALUE strings`);
    add(entry.slice(0, entry.indexOf('=')), entry.slice(entry.indexOf('=') + 1));
  }
  const name = spec.name as string;
  const sorted = Object.fromEntries(Object.keys(data).sort().map((k) => [k, data[k]]));
  return {
    original: name,
    object: { apiVersion: 'v1', kind: 'ConfigMap', metadata: { name: `${name}-${configMapHashSuffix(name, sorted)}` }, data: sorted },
  };
}

// ---- patches (strategic merge, the subset above) --------------------------------------------------------------------

function stripNulls(value: Json, path: string[]): Json {
  if (Array.isArray(value)) {
    if (!MERGE_KEYS[path[path.length - 1]]) fail(`patch at ${path.join('.')}: a list whose merge strategy this renderer does not know`);
    return value.map((v) => stripNulls(v, path));
  }
  if (isObject(value)) {
    const out: JsonObject = {};
    for (const [k, v] of Object.entries(value)) {
      if (k.startsWith('$')) fail(`patch at ${path.join('.')}: directive ${k} is not supported`);
      if (v !== null) out[k] = stripNulls(v, [...path, k]);
    }
    return out;
  }
  return value;
}

/** Strategic merge of `patch` into `target` (both untouched); `path` names the field for the list merge keys. */
export function strategicMerge(target: Json | undefined, patch: Json, path: string[] = []): Json {
  if (isObject(patch)) {
    if (!isObject(target)) return stripNulls(patch, path);
    const out: JsonObject = { ...target };
    for (const [key, value] of Object.entries(patch)) {
      if (key.startsWith('$')) fail(`patch at ${[...path, key].join('.')}: directive ${key} is not supported`);
      if (value === null) delete out[key];
      else out[key] = strategicMerge(target[key], value, [...path, key]);
    }
    return out;
  }
  if (Array.isArray(patch)) {
    const field = path[path.length - 1];
    const mergeKey = MERGE_KEYS[field];
    if (!mergeKey) return fail(`patch at ${path.join('.')}: a list whose merge strategy this renderer does not know`);
    const out: Json[] = Array.isArray(target) ? [...target] : [];
    for (const item of patch) {
      if (!isObject(item) || item[mergeKey] === undefined || item[mergeKey] === null) {
        return fail(`patch at ${path.join('.')}: every item needs its merge key ${mergeKey}`);
      }
      const at = out.findIndex((existing) => isObject(existing) && existing[mergeKey] === item[mergeKey]);
      if (at >= 0) out[at] = strategicMerge(out[at], item, path);
      else out.push(stripNulls(item, path));
    }
    return out;
  }
  return patch;
}

function applyPatch(dir: string, spec: Json, index: number, objects: K8sObject[]): void {
  const where = `patches[${index}]`;
  onlyKeys(where, spec, ['path']);
  if (typeof spec.path !== 'string') fail(`${where}: path is required`);
  const file = resolve(dir, spec.path as string);
  if (!existsSync(file)) fail(`${where}: no file ${spec.path as string}`);
  const docs = readDocuments(file);
  if (docs.length !== 1) fail(`${where}: ${spec.path as string} must hold exactly one patch`);
  const patch = asObject(file, docs[0]);
  if (patch.kind !== 'Deployment') fail(`${where}: only Deployments are patched by this renderer (got ${patch.kind})`);
  const matches = objects.filter(
    (o) =>
      o.apiVersion === patch.apiVersion &&
      o.kind === patch.kind &&
      o.metadata.name === patch.metadata.name &&
      (patch.metadata.namespace === undefined || o.metadata.namespace === patch.metadata.namespace),
  );
  if (matches.length !== 1) fail(`${where}: ${patch.kind} ${patch.metadata.name} matches ${matches.length} objects`);
  const target = matches[0];
  const merged = strategicMerge(target as unknown as Json, patch as unknown as Json) as unknown as K8sObject;
  objects[objects.indexOf(target)] = merged;
}

// ---- transformers ---------------------------------------------------------------------------------------------------

interface PodSpecLike {
  containers?: { image?: string; env?: { valueFrom?: { configMapKeyRef?: { name?: string } } }[]; envFrom?: { configMapRef?: { name?: string } }[] }[];
  initContainers?: PodSpecLike['containers'];
  volumes?: { configMap?: { name?: string }; projected?: { sources?: { configMap?: { name?: string } }[] } }[];
}
const podSpecOf = (o: K8sObject): PodSpecLike | undefined =>
  o.kind === 'Deployment' ? ((o.spec as { template?: { spec?: PodSpecLike } } | undefined)?.template?.spec ?? undefined) : undefined;
const containersOf = (pod: PodSpecLike) => [...(pod.containers ?? []), ...(pod.initContainers ?? [])];

function applyImages(specs: Json, objects: K8sObject[]): void {
  if (!Array.isArray(specs)) fail('images: must be a list');
  (specs as Json[]).forEach((spec, index) => {
    onlyKeys(`images[${index}]`, spec, ['name', 'newName', 'newTag', 'digest']);
    if (typeof spec.name !== 'string') fail(`images[${index}]: name is required`);
    for (const key of ['newName', 'newTag', 'digest']) {
      if (spec[key] !== undefined && typeof spec[key] !== 'string') fail(`images[${index}]: ${key} must be a string (quote it)`);
    }
    for (const object of objects) {
      const pod = podSpecOf(object);
      if (!pod) continue;
      for (const container of containersOf(pod)) {
        if (typeof container.image !== 'string') continue;
        const image = container.image;
        const at = image.indexOf('@');
        const withoutDigest = at >= 0 ? image.slice(0, at) : image;
        const colon = withoutDigest.lastIndexOf(':');
        const hasTag = colon > withoutDigest.lastIndexOf('/');
        const name = hasTag ? withoutDigest.slice(0, colon) : withoutDigest;
        if (name !== spec.name) continue;
        let tag = hasTag ? withoutDigest.slice(colon) : '';
        let digest = at >= 0 ? image.slice(at) : '';
        if (typeof spec.newTag === 'string') {
          tag = `:${spec.newTag}`;
          digest = '';
        }
        if (typeof spec.digest === 'string') {
          digest = `@${spec.digest}`;
          tag = '';
        }
        container.image = `${typeof spec.newName === 'string' ? spec.newName : name}${tag}${digest}`;
      }
    }
  });
}

function applyRenames(renames: Map<string, string>, objects: K8sObject[]): void {
  const rename = (ref: { name?: string } | undefined) => {
    if (ref?.name !== undefined && renames.has(ref.name)) ref.name = renames.get(ref.name);
  };
  for (const object of objects) {
    const pod = podSpecOf(object);
    if (!pod) continue;
    for (const volume of pod.volumes ?? []) {
      rename(volume.configMap);
      for (const source of volume.projected?.sources ?? []) rename(source.configMap);
    }
    for (const container of containersOf(pod)) {
      for (const env of container.env ?? []) rename(env.valueFrom?.configMapKeyRef);
      for (const from of container.envFrom ?? []) rename(from.configMapRef);
    }
  }
}

// ---- build ----------------------------------------------------------------------------------------------------------

interface Built {
  objects: K8sObject[];
  /** Generated ConfigMap names: original -> with hash suffix. */
  renames: Map<string, string>;
}

function kustomizationFile(dir: string): string | undefined {
  return KUSTOMIZATION_FILES.map((f) => join(dir, f)).find((f) => existsSync(f));
}

function build(dir: string, stack: string[]): Built {
  if (stack.includes(dir)) fail(`kustomization cycle: ${[...stack, dir].join(' -> ')}`);
  const file = kustomizationFile(dir);
  if (!file) return fail(`${dir}: no kustomization.yaml`);
  const docs = readDocuments(file);
  if (docs.length !== 1) fail(`${file}: must hold one document`);
  const k = docs[0];
  if (!isObject(k)) return fail(`${file}: must be a map`);
  const unknown = Object.keys(k).filter((key) => !KUSTOMIZATION_FIELDS.has(key));
  if (unknown.length) fail(`${file}: fields not supported by this renderer: ${unknown.join(', ')}`);
  if (k.apiVersion !== undefined && k.apiVersion !== 'kustomize.config.k8s.io/v1beta1') fail(`${file}: apiVersion must be kustomize.config.k8s.io/v1beta1`);
  if (k.kind !== undefined && k.kind !== 'Kustomization') fail(`${file}: kind must be Kustomization`);

  const objects: K8sObject[] = [];
  const renames = new Map<string, string>();
  const add = (object: K8sObject, from: string) => {
    if (objects.some((o) => idOf(o) === idOf(object))) fail(`${from}: ${object.kind} ${object.metadata.name} is already defined`);
    objects.push(object);
  };

  for (const entry of (k.resources ?? []) as Json[]) {
    if (typeof entry !== 'string') return fail(`${file}: resources entries are paths`);
    if (/^[a-z][a-z0-9+.-]*:\/\//i.test(entry) || entry.startsWith('github.com/')) fail(`${file}: remote resource ${entry} is not supported`);
    const path = resolve(dir, entry);
    if (!existsSync(path)) fail(`${file}: no resource ${entry}`);
    if (statSync(path).isDirectory()) {
      const sub = build(path, [...stack, dir]);
      sub.objects.forEach((o) => add(o, entry));
      sub.renames.forEach((v, key) => renames.set(key, v));
    } else {
      readDocuments(path).forEach((doc) => add(asObject(path, doc), entry));
    }
  }
  ((k.configMapGenerator ?? []) as Json[]).forEach((spec, index) => {
    const { object, original } = generateConfigMap(dir, spec, index);
    if (renames.has(original)) fail(`${file}: ConfigMap ${original} is generated twice`);
    renames.set(original, object.metadata.name);
    add(object, `configMapGenerator[${index}]`);
  });
  for (const object of objects) {
    if (!NAMESPACED.has(object.kind)) fail(`${file}: kind ${object.kind} is not known to this renderer`);
  }

  ((k.patches ?? []) as Json[]).forEach((spec, index) => applyPatch(dir, spec, index, objects));
  if (k.namespace !== undefined) {
    if (typeof k.namespace !== 'string' || !/^[a-z0-9]([-a-z0-9]*[a-z0-9])?$/.test(k.namespace)) fail(`${file}: namespace must be a DNS label`);
    for (const object of objects) object.metadata = { ...object.metadata, namespace: k.namespace as string };
    const ids = objects.map(idOf);
    if (new Set(ids).size !== ids.length) fail(`${file}: two objects share an id once namespaced`);
  }
  if (k.images !== undefined) applyImages(k.images, objects);
  applyRenames(renames, objects);
  return { objects, renames };
}

/** Render the kustomization in `dir` (like `kustomize build dir`), as plain objects. */
export function renderKustomization(dir: string): K8sObject[] {
  return clone(build(resolve(dir), []).objects);
}
