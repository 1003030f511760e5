import 'reflect-metadata';
import { randomBytes } from 'node:crypto';
import { existsSync, mkdirSync, mkdtempSync, readdirSync, readFileSync, rmSync, statSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join, posix, relative } from 'node:path';
import { getMetadataStorage, ValidationTypes } from 'class-validator';
import { Deployment, IDeployment } from 'kubernetes-models/apps/v1/Deployment';
import { HorizontalPodAutoscaler, IHorizontalPodAutoscaler } from 'kubernetes-models/autoscaling/v2/HorizontalPodAutoscaler';
import { INetworkPolicy, NetworkPolicy } from 'kubernetes-models/networking.k8s.io/v1/NetworkPolicy';
import { INetworkPolicyPeer } from 'kubernetes-models/networking.k8s.io/v1/NetworkPolicyPeer';
import { INetworkPolicyPort } from 'kubernetes-models/networking.k8s.io/v1/NetworkPolicyPort';
import { IPodDisruptionBudget, PodDisruptionBudget } from 'kubernetes-models/policy/v1/PodDisruptionBudget';
import { ConfigMap, IConfigMap } from 'kubernetes-models/v1/ConfigMap';
import { IContainer } from 'kubernetes-models/v1/Container';
import { IPodSpec } from 'kubernetes-models/v1/PodSpec';
import { IProbe } from 'kubernetes-models/v1/Probe';
import { IService, Service } from 'kubernetes-models/v1/Service';
import { ILabelSelector } from '@kubernetes-models/apimachinery/apis/meta/v1/LabelSelector';
import { loadConfig, PlatformConfig } from '@authpipe/config';
import { ProviderCatalog } from '@authpipe/providers';
import { HealthMonitorConfig } from '../../apps/health-monitor/src/health-monitor.config';
import { GatewayConfig } from '../../apps/oauth-gateway/src/gateway.config';
import { QueryApiConfig } from '../../apps/query-api/src/query-api.config';
import { RefresherConfig } from '../../apps/refresher/src/refresher.config';
import { LocalKeyRing } from '../../apps/vault/src/crypto/local-key-ring';
import { VaultConfig } from '../../apps/vault/src/vault.config';
import { K8sObject, renderKustomization } from '../../deploy/k8s/tools/kustomize-subset';

/*
 * deploy/k8s checked without a cluster: every overlay rendered in-process (deploy/k8s/tools/kustomize-subset.ts, the
 * subset of kustomize the manifests use), every object validated against the Kubernetes 1.33 OpenAPI schemas bundled
 * by kubernetes-models (plus a check for fields those schemas do not know), then our own rules: settings against the
 * apps' config classes, secrets only by reference, probes, resources, security contexts, replicas, HPAs, PDBs, and the
 * NetworkPolicies evaluated against the flows documented in deploy/k8s/README.md.
 */

const ROOT = join(__dirname, '..', '..');
const K8S = join(ROOT, 'deploy', 'k8s');
const README = readFileSync(join(K8S, 'README.md'), 'utf8');
const NAMESPACE = 'authpipe';

const APPS = ['oauth-gateway', 'vault', 'query-api', 'refresher', 'health-monitor'] as const;
type App = (typeof APPS)[number];
const isApp = (name: string): name is App => (APPS as readonly string[]).includes(name);

const CONFIG_CLASSES: Record<App, new () => PlatformConfig> = {
  'oauth-gateway': GatewayConfig,
  vault: VaultConfig,
  'query-api': QueryApiConfig,
  refresher: RefresherConfig,
  'health-monitor': HealthMonitorConfig,
};
/** The apps that serve HTTP, and the setting that holds their port. The others serve health on HEALTH_PORT. */
const HTTP_PORT_SETTING: Partial<Record<App, string>> = { 'oauth-gateway': 'GATEWAY_PORT', 'query-api': 'QUERY_API_PORT' };
/** The assumption written in deploy/k8s/README.md until the apps have it: HEALTH_PORT, default 9000. */
const DEFAULT_HEALTH_PORT = 9000;
/** Apps that load the provider catalog (platformProviders); vault does not. */
const CATALOG_APPS: App[] = ['oauth-gateway', 'query-api', 'refresher', 'health-monitor'];
/** Apps where every replica does all the work: one replica, never scaled. */
const SINGLETONS = new Set(['health-monitor', 'query-api-relay']);

/** Settings that are secrets (or may carry credentials): only ever from a Secret. */
const SECRET_SETTINGS = new Set(['NATS_USER', 'NATS_PASSWORD', 'AUTHPIPE_ADMIN_TOKEN', 'AUTHPIPE_MASTER_KEYS', 'EVENTSTORE_URL', 'MONGODB_URL']);
const looksSecret = (name: string) => SECRET_SETTINGS.has(name) || (/PASSWORD|SECRET|TOKEN|MASTER_KEY/.test(name) && !name.endsWith('_FILE'));

/**
 * The Secrets the manifests may reference, with a stand-in value of the right shape for each key (what the README's
 * kubectl commands make). A test below checks that the README creates exactly these.
 */
const SECRET_VALUES: Record<string, Record<string, () => string>> = {
  'authpipe-vault-master-keys': { 'master-keys': () => `v1:${randomBytes(32).toString('base64')}` },
  'authpipe-admin-token': { token: () => randomBytes(32).toString('base64') },
  'authpipe-eventstoredb': { url: () => 'esdb://eventstoredb.eventstoredb.svc.cluster.local:2113?tls=false' },
  'authpipe-mongodb': { url: () => 'mongodb://authpipe:pw@mongodb-0.mongodb-headless.mongodb.svc.cluster.local:27017/?replicaSet=rs0' },
  ...Object.fromEntries(APPS.map((app) => [`authpipe-nats-${app}`, { user: () => app, password: () => `p${randomBytes(24).toString('hex')}` }])),
};

// ---- rendering --------------------------------------------------------------------------------------------------------

const OVERLAYS = readdirSync(join(K8S, 'overlays')).filter((d) => statSync(join(K8S, 'overlays', d)).isDirectory()).sort();
const rendered: Record<string, K8sObject[]> = Object.fromEntries(OVERLAYS.map((o) => [o, renderKustomization(join(K8S, 'overlays', o))]));

const ofKind = <T>(objects: K8sObject[], kind: string) => objects.filter((o) => o.kind === kind) as unknown as (T & K8sObject)[];
const deployments = (overlay: string) => ofKind<IDeployment>(rendered[overlay], 'Deployment');
const podSpec = (d: IDeployment) => d.spec!.template.spec!;
const podLabels = (d: IDeployment) => d.spec!.template.metadata!.labels!;
/** The app a Deployment runs: its pods' app.kubernetes.io/name (query-api-relay runs query-api). */
const appOf = (d: IDeployment): App => {
  const name = podLabels(d)['app.kubernetes.io/name'];
  if (!isApp(name)) throw new Error(`Deployment ${d.metadata!.name}: app.kubernetes.io/name ${name} is not an app`);
  return name;
};
const containerOf = (d: IDeployment): IContainer => {
  const containers = podSpec(d).containers;
  if (containers.length !== 1) throw new Error(`Deployment ${d.metadata!.name}: one container expected`);
  return containers[0];
};

// ---- config classes ---------------------------------------------------------------------------------------------------

/** Property names of a config class: exactly what loadConfig accepts (it validates with whitelist: true). */
function configProperties(schema: new () => object): Set<string> {
  return new Set(getMetadataStorage().getTargetValidationMetadatas(schema, '', true, false).map((m) => m.propertyName));
}
/** Settings without a default and without a condition (IsOptional, ValidateIf) that would let them be absent. */
function unconditionallyRequired(schema: new () => object): string[] {
  const metadata = getMetadataStorage().getTargetValidationMetadatas(schema, '', true, false);
  const defaults = new schema() as Record<string, unknown>;
  return [
    ...new Set(
      metadata
        .map((m) => m.propertyName)
        .filter((p) => defaults[p] === undefined)
        .filter((p) => !metadata.some((m) => m.propertyName === p && m.type === ValidationTypes.CONDITIONAL_VALIDATION)),
    ),
  ].sort();
}

/** The literal value of a setting in a container, else the config class default. */
function settingValue(d: IDeployment, name: string): string | undefined {
  const env = containerOf(d).env?.find((e) => e.name === name);
  if (env?.valueFrom) throw new Error(`${name} is not a literal`);
  if (env) return env.value;
  const value = (new CONFIG_CLASSES[appOf(d)]() as unknown as Record<string, unknown>)[name];
  return value === undefined ? undefined : String(value);
}

function healthPort(d: IDeployment): number {
  const setting = HTTP_PORT_SETTING[appOf(d)] ?? (configProperties(CONFIG_CLASSES[appOf(d)]).has('HEALTH_PORT') ? 'HEALTH_PORT' : undefined);
  return setting ? Number(settingValue(d, setting)) : DEFAULT_HEALTH_PORT;
}

// ---- the environment a pod would get, files included ----------------------------------------------------------------

/** The container's environment with the Secrets' stand-in values, and the mounted files written under `root`. */
function materialize(objects: K8sObject[], d: IDeployment, root: string, secrets: Record<string, Record<string, string>>): Record<string, string> {
  const container = containerOf(d);
  const volumes = podSpec(d).volumes ?? [];
  const fileContent = (path: string): string => {
    const mount = (container.volumeMounts ?? []).find((m) => path.startsWith(`${m.mountPath}/`));
    if (!mount) throw new Error(`${d.metadata!.name}: ${path} is on no volume mount`);
    const inVolume = posix.relative(mount.mountPath, path);
    const volume = volumes.find((v) => v.name === mount.name);
    if (volume?.secret) {
      const item = volume.secret.items ? volume.secret.items.find((i) => i.path === inVolume) : { key: inVolume, path: inVolume };
      const value = item && secrets[volume.secret.secretName!]?.[item.key];
      if (value === undefined) throw new Error(`${d.metadata!.name}: ${path} is not a key of Secret ${volume.secret.secretName}`);
      return value;
    }
    if (volume?.configMap) {
      const configMap = ofKind<IConfigMap>(objects, 'ConfigMap').find((c) => c.metadata!.name === volume.configMap!.name);
      if (!configMap) throw new Error(`${d.metadata!.name}: ConfigMap ${volume.configMap.name} is not rendered`);
      const item = volume.configMap.items ? volume.configMap.items.find((i) => i.path === inVolume) : { key: inVolume, path: inVolume };
      const value = item && configMap.data?.[item.key];
      if (value === undefined) throw new Error(`${d.metadata!.name}: ${path} is not a key of ConfigMap ${configMap.metadata!.name}`);
      return value;
    }
    throw new Error(`${d.metadata!.name}: ${path} is on volume ${mount.name}, neither a Secret nor a ConfigMap`);
  };
  const env: Record<string, string> = {};
  for (const e of container.env ?? []) {
    if (e.valueFrom) {
      const ref = e.valueFrom.secretKeyRef;
      if (!ref) throw new Error(`${e.name}: only secretKeyRef is used`);
      const value = secrets[ref.name!]?.[ref.key];
      if (value === undefined) throw new Error(`${e.name}: Secret ${ref.name} has no key ${ref.key}`);
      env[e.name] = value;
    } else {
      env[e.name] = e.value ?? '';
    }
  }
  for (const name of ['AUTHPIPE_MASTER_KEY_FILE', 'AUTHPIPE_PROVIDERS_FILE']) {
    if (env[name] === undefined) continue;
    const file = join(root, d.metadata!.name!, name);
    mkdirSync(join(root, d.metadata!.name!), { recursive: true });
    writeFileSync(file, fileContent(env[name]));
    env[name] = file;
  }
  return env;
}

const makeSecrets = () =>
  Object.fromEntries(Object.entries(SECRET_VALUES).map(([name, keys]) => [name, Object.fromEntries(Object.entries(keys).map(([k, make]) => [k, make()]))]));

// ---- schema validation ------------------------------------------------------------------------------------------------

type ModelClass = new (data: never) => { validate(): void };
const MODELS: Record<string, ModelClass> = {
  'apps/v1/Deployment': Deployment,
  'v1/Service': Service,
  'v1/ConfigMap': ConfigMap,
  'autoscaling/v2/HorizontalPodAutoscaler': HorizontalPodAutoscaler,
  'policy/v1/PodDisruptionBudget': PodDisruptionBudget,
  'networking.k8s.io/v1/NetworkPolicy': NetworkPolicy,
};

/** JSON pointers where the schema validation reports an error. */
function errorPaths(model: ModelClass, object: unknown): string[] {
  try {
    new model(object as never).validate();
    return [];
  } catch (err) {
    const errors = (err as { errors?: { instancePath: string; message?: string }[] }).errors;
    if (!errors) throw err;
    return errors.map((e) => `${e.instancePath} ${e.message ?? ''}`);
  }
}

/**
 * Fields the schema does not know. The OpenAPI schemas allow unknown properties (the API server drops or, with
 * strict field validation, refuses them), so each field is probed: its value is replaced by a Symbol, which every
 * typed schema rejects; a field whose replacement draws no error at its own path has no schema, so it is unknown.
 */
function unknownFields(model: ModelClass, object: Record<string, unknown>): string[] {
  const probe = Symbol('probe');
  const unknown: string[] = [];
  const walk = (node: unknown, path: string) => {
    if (Array.isArray(node)) {
      node.forEach((item, i) => walk(item, `${path}/${i}`));
      return;
    }
    if (!node || typeof node !== 'object') return;
    const record = node as Record<string, unknown>;
    for (const key of Object.keys(record)) {
      const child = `${path}/${key.replace(/~/g, '~0').replace(/\//g, '~1')}`;
      const value = record[key];
      record[key] = probe;
      const known = errorPaths(model, object).some((e) => e.startsWith(`${child} `) || e.startsWith(`${child}/`));
      record[key] = value;
      if (known) walk(value, child);
      else unknown.push(child);
    }
  };
  walk(object, '');
  return unknown;
}

// ---- NetworkPolicy evaluation -----------------------------------------------------------------------------------------

interface Endpoint {
  namespace?: string;
  labels?: Record<string, string>;
  ip: string;
}

function selects(selector: ILabelSelector | undefined, labels: Record<string, string>): boolean {
  if (!selector) return true;
  for (const [k, v] of Object.entries(selector.matchLabels ?? {})) if (labels[k] !== v) return false;
  for (const e of selector.matchExpressions ?? []) {
    const has = e.key in labels;
    if (e.operator === 'In' && !(has && e.values!.includes(labels[e.key]))) return false;
    if (e.operator === 'NotIn' && has && e.values!.includes(labels[e.key])) return false;
    if (e.operator === 'Exists' && !has) return false;
    if (e.operator === 'DoesNotExist' && has) return false;
  }
  return true;
}

function ipToBigInt(ip: string): { v6: boolean; value: bigint } {
  if (ip.includes(':')) {
    const [head, tail = ''] = ip.split('::');
    const h = head ? head.split(':') : [];
    const t = tail ? tail.split(':') : [];
    const groups = ip.includes('::') ? [...h, ...Array(8 - h.length - t.length).fill('0'), ...t] : h;
    return { v6: true, value: groups.reduce((acc, g) => (acc << 16n) + BigInt(parseInt(g || '0', 16)), 0n) };
  }
  return { v6: false, value: ip.split('.').reduce((acc, o) => (acc << 8n) + BigInt(Number(o)), 0n) };
}
function inCidr(ip: string, cidr: string): boolean {
  const [base, bits] = cidr.split('/');
  const a = ipToBigInt(ip);
  const b = ipToBigInt(base);
  if (a.v6 !== b.v6) return false;
  const width = a.v6 ? 128n : 32n;
  const shift = width - BigInt(Number(bits));
  return a.value >> shift === b.value >> shift;
}

function peerMatches(peer: INetworkPolicyPeer, other: Endpoint, policyNamespace: string): boolean {
  if (peer.ipBlock) return inCidr(other.ip, peer.ipBlock.cidr) && !(peer.ipBlock.except ?? []).some((c) => inCidr(other.ip, c));
  if (other.namespace === undefined) return false; // outside the cluster: only ipBlocks match
  const namespaceLabels = { 'kubernetes.io/metadata.name': other.namespace };
  const namespaceOk = peer.namespaceSelector ? selects(peer.namespaceSelector, namespaceLabels) : other.namespace === policyNamespace;
  return namespaceOk && selects(peer.podSelector, other.labels ?? {});
}
function portMatches(ports: INetworkPolicyPort[] | undefined, port: number, protocol: string): boolean {
  if (!ports?.length) return true;
  return ports.some((p) => {
    if (typeof p.port === 'string') throw new Error('named ports are not used in these policies');
    return (p.protocol ?? 'TCP') === protocol && (p.port === undefined || (p.endPort ? port >= p.port && port <= p.endPort : port === p.port));
  });
}

/** Whether the policies let `from` open a connection to `to` on port/protocol (both directions' isolation applied). */
function allowed(policies: INetworkPolicy[], from: Endpoint, to: Endpoint, port: number, protocol = 'TCP'): boolean {
  const direction = (pod: Endpoint, type: 'Ingress' | 'Egress', other: Endpoint): boolean => {
    if (pod.namespace === undefined) return true; // not a pod of a cluster namespace: no policy applies
    const applicable = policies.filter(
      (p) => p.metadata!.namespace === pod.namespace && selects(p.spec!.podSelector, pod.labels ?? {}) && p.spec!.policyTypes!.includes(type),
    );
    if (!applicable.length) return true;
    return applicable.some((p) => {
      const rules: { ports?: INetworkPolicyPort[]; peers?: INetworkPolicyPeer[] }[] =
        type === 'Egress' ? (p.spec!.egress ?? []).map((r) => ({ ports: r.ports, peers: r.to })) : (p.spec!.ingress ?? []).map((r) => ({ ports: r.ports, peers: r.from }));
      return rules.some(
        (rule) => portMatches(rule.ports, port, protocol) && (!rule.peers?.length || rule.peers.some((peer) => peerMatches(peer, other, p.metadata!.namespace!))),
      );
    });
  };
  return direction(from, 'Egress', to) && direction(to, 'Ingress', from);
}

/** The places outside the authpipe namespace the apps may reach, as README.md's table names them. */
const DESTINATIONS: Record<string, { endpoint: Endpoint; ports: [number, string][] }> = {
  dns: { endpoint: { namespace: 'kube-system', labels: { 'k8s-app': 'kube-dns' }, ip: '10.96.0.10' }, ports: [[53, 'UDP'], [53, 'TCP']] },
  nats: { endpoint: { namespace: 'nats', labels: { 'app.kubernetes.io/name': 'nats' }, ip: '10.0.1.10' }, ports: [[4222, 'TCP']] },
  eventstoredb: { endpoint: { namespace: 'eventstoredb', labels: { 'app.kubernetes.io/name': 'eventstoredb' }, ip: '10.0.2.10' }, ports: [[2113, 'TCP']] },
  mongodb: { endpoint: { namespace: 'mongodb', labels: { 'app.kubernetes.io/name': 'mongodb' }, ip: '10.0.3.10' }, ports: [[27017, 'TCP']] },
  internet: { endpoint: { ip: '203.0.113.7' }, ports: [[443, 'TCP']] },
};

/** The flow table of deploy/k8s/README.md: per app, the destinations it may reach and where its ingress comes from. */
function documentedFlows(): Record<App, { egress: Set<string>; ingress: { namespace: string; port: number } | null }> {
  const lines = README.split('\n');
  const header = lines.findIndex((l) => /^\|\s*app\s*\|\s*DNS/.test(l));
  if (header < 0) throw new Error('README.md: no flow table (a header row starting "| app | DNS")');
  const columns = lines[header].split('|').slice(1, -1).map((c) => c.trim());
  const keys = ['app', 'dns', 'nats', 'eventstoredb', 'mongodb', 'internet', 'ingress'];
  expect(columns.map((c) => c.split(/[\s(]/)[0].toLowerCase())).toEqual(['app', 'dns', 'nats', 'eventstoredb', 'mongodb', 'internet', 'ingress']);
  const result = {} as Record<App, { egress: Set<string>; ingress: { namespace: string; port: number } | null }>;
  for (const line of lines.slice(header + 2)) {
    if (!line.startsWith('|')) break;
    const cells = line.split('|').slice(1, -1).map((c) => c.trim());
    const app = cells[0].replace(/`/g, '');
    if (!isApp(app)) throw new Error(`README.md flow table: unknown app ${app}`);
    const egress = new Set(keys.slice(1, 6).filter((_, i) => /^yes\b/i.test(cells[i + 1])));
    const ingress = /`([a-z0-9-]+)` on (\d+)/.exec(cells[6]);
    result[app] = { egress, ingress: ingress ? { namespace: ingress[1], port: Number(ingress[2]) } : null };
    if (!ingress) expect({ app, ingress: cells[6] }).toEqual({ app, ingress: 'none' });
  }
  expect(Object.keys(result).sort()).toEqual([...APPS].sort());
  return result;
}

// ---- README: the kubectl commands that create the Secrets ------------------------------------------------------------

/** Secrets the README's shell blocks create: namespace, name, keys (`for x in ...; do ... done` loops expanded). */
function secretsCreatedByReadme(): { namespace: string; name: string; keys: string[]; literals: Record<string, string> }[] {
  const blocks = [...README.matchAll(/```(?:sh|bash)\n([\s\S]*?)```/g)].map((m) => m[1].replace(/\\\n\s*/g, ' '));
  const expand = (text: string): string =>
    text.replace(/for (\w+) in ([^;\n]+); do\n([\s\S]*?)\ndone/g, (_, variable: string, list: string, body: string) =>
      list
        .trim()
        .split(/\s+/)
        .map((value) => body.replace(new RegExp(`\\$\\{?${variable}\\}?`, 'g'), value))
        .join('\n'),
    );
  const created = [];
  for (const line of blocks.map(expand).join('\n').split('\n')) {
    const m = /kubectl\s+-n\s+(\S+)\s+create\s+secret\s+generic\s+"?([a-z0-9-]+)"?(.*)$/.exec(line.trim());
    if (!m) continue;
    const literals: Record<string, string> = {};
    const keys = [...m[3].matchAll(/--from-(literal|file)=([A-Za-z0-9._-]+)=("[^"]*"|'[^']*'|\S+)/g)].map((k) => {
      if (k[1] === 'literal') literals[k[2]] = k[3].replace(/^["']|["']$/g, '');
      return k[2];
    });
    created.push({ namespace: m[1], name: m[2], keys: keys.sort(), literals });
  }
  return created;
}

// ---- quantities -------------------------------------------------------------------------------------------------------

function quantity(value: string | number | undefined): number {
  if (value === undefined) return NaN;
  const m = /^(\d+(?:\.\d+)?)(m|k|M|G|Ki|Mi|Gi)?$/.exec(String(value));
  if (!m) throw new Error(`quantity ${value} not understood`);
  const factor: Record<string, number> = { m: 1e-3, k: 1e3, M: 1e6, G: 1e9, Ki: 2 ** 10, Mi: 2 ** 20, Gi: 2 ** 30 };
  return Number(m[1]) * (m[2] ? factor[m[2]] : 1);
}

// ======================================================================================================================

describe('deploy/k8s: rendering', () => {
  it('has the dev and production overlays, and each renders (with the kustomize subset of deploy/k8s/tools)', () => {
    expect(OVERLAYS).toEqual(['dev', 'production']);
    for (const overlay of OVERLAYS) {
      const kinds = rendered[overlay].map((o) => o.kind);
      expect({ overlay, deployments: kinds.filter((k) => k === 'Deployment').length }).toEqual({
        overlay,
        deployments: overlay === 'production' ? APPS.length + 1 : APPS.length,
      });
      for (const o of rendered[overlay]) {
        const object = `${o.kind}/${o.metadata.name}`;
        expect({ overlay, object, namespace: o.metadata.namespace }).toEqual({ overlay, object, namespace: NAMESPACE });
      }
    }
  });

  it('runs one Deployment per app, the image of its Dockerfile target, tagged (never latest)', () => {
    const targets = new Set([...readFileSync(join(ROOT, 'Dockerfile'), 'utf8').matchAll(/^FROM\s+\S+\s+AS\s+(\S+)/gim)].map((m) => m[1]));
    for (const overlay of OVERLAYS) {
      const byApp = new Map<App, string[]>();
      for (const d of deployments(overlay)) {
        const app = appOf(d);
        byApp.set(app, [...(byApp.get(app) ?? []), d.metadata!.name!]);
        const image = containerOf(d).image!;
        const m = /^(?:.+\/)?([a-z0-9-]+):([A-Za-z0-9_.-]+)$/.exec(image);
        expect({ overlay, image, app, target: m?.[1], latest: m?.[2] === 'latest' }).toEqual({ overlay, image, app, target: app, latest: false });
        expect(targets).toContain(app);
        expect(containerOf(d).name).toBe(app);
      }
      expect(Object.fromEntries([...byApp].sort())).toEqual(
        Object.fromEntries(
          [...APPS].sort().map((app) => [app, overlay === 'production' && app === 'query-api' ? ['query-api', 'query-api-relay'] : [app]]),
        ),
      );
    }
    expect(deployments('dev').map((d) => containerOf(d).image).every((i) => i!.endsWith(':local'))).toBe(true);
    expect(deployments('production').map((d) => containerOf(d).image).every((i) => /^registry\.example\.com\/authpipe\/[a-z-]+:\d+\.\d+\.\d+$/.test(i!))).toBe(true);
  });
});

describe('deploy/k8s: Kubernetes schemas (kubernetes-models, Kubernetes 1.33 OpenAPI)', () => {
  it('every object of every overlay is valid, with no field its schema does not know', () => {
    const problems: string[] = [];
    for (const overlay of OVERLAYS) {
      for (const object of rendered[overlay]) {
        const id = `${overlay}: ${object.kind}/${object.metadata.name}`;
        const model = MODELS[`${object.apiVersion}/${object.kind}`];
        if (!model) {
          problems.push(`${id}: no schema for ${object.apiVersion} ${object.kind}`);
          continue;
        }
        problems.push(...errorPaths(model, object).map((e) => `${id}: ${e}`));
        problems.push(...unknownFields(model, JSON.parse(JSON.stringify(object))).map((p) => `${id}: unknown field ${p}`));
      }
    }
    expect(problems).toEqual([]);
  });

  it('the checks above catch what they claim to: a wrong type, a bad enum value, a misspelt field', () => {
    const d = JSON.parse(JSON.stringify(deployments('production')[0])) as IDeployment & Record<string, unknown>;
    const container = containerOf(d) as IContainer & Record<string, unknown>;
    container.ports![0].containerPort = 'http' as unknown as number;
    container.imagePullPolicy = 'Sometimes' as IContainer['imagePullPolicy'];
    container.readinesProbe = container.readinessProbe;
    const errors = errorPaths(Deployment, d).join('\n');
    expect(errors).toContain('/spec/template/spec/containers/0/ports/0/containerPort must be integer');
    expect(errors).toContain('/spec/template/spec/containers/0/imagePullPolicy must be equal to one of the allowed values');
    expect(unknownFields(Deployment, d as unknown as Record<string, unknown>)).toEqual(['/spec/template/spec/containers/0/readinesProbe']);
  });
});

describe('deploy/k8s: settings against the config classes', () => {
  it("sets only settings of the app's config class, each once, and every one it requires", () => {
    for (const overlay of OVERLAYS) {
      for (const d of deployments(overlay)) {
        const app = appOf(d);
        const container = containerOf(d);
        const names = (container.env ?? []).map((e) => e.name);
        const known = configProperties(CONFIG_CLASSES[app]);
        expect(known.size).toBeGreaterThan(5);
        expect({ overlay, deployment: d.metadata!.name, unknown: names.filter((n) => !known.has(n)) }).toEqual({ overlay, deployment: d.metadata!.name, unknown: [] });
        expect({ overlay, deployment: d.metadata!.name, duplicates: names.filter((n, i) => names.indexOf(n) !== i) }).toEqual({ overlay, deployment: d.metadata!.name, duplicates: [] });
        expect(container.envFrom).toBeUndefined();
        const missing = unconditionallyRequired(CONFIG_CLASSES[app]).filter((n) => !names.includes(n));
        expect({ overlay, deployment: d.metadata!.name, missing }).toEqual({ overlay, deployment: d.metadata!.name, missing: [] });
      }
    }
    expect(unconditionallyRequired(QueryApiConfig)).toEqual(['AUTHPIPE_ADMIN_TOKEN']);
  });

  it('each app accepts its environment (Secrets filled in, mounted files written): the real loaders run', () => {
    const root = mkdtempSync(join(tmpdir(), 'authpipe-k8s-'));
    try {
      for (const overlay of OVERLAYS) {
        const secrets = makeSecrets();
        for (const d of deployments(overlay)) {
          const app = appOf(d);
          const env = materialize(rendered[overlay], d, join(root, overlay), secrets);
          const config = loadConfig(CONFIG_CLASSES[app], env) as PlatformConfig & Record<string, unknown>;
          // The production adapters and each app's own user.
          expect({ app, store: config.AUTHPIPE_EVENT_STORE, user: config.NATS_USER }).toEqual({ app, store: app === 'vault' ? 'jetstream' : 'eventstoredb', user: app });
          expect(config.NATS_URL).toBe('nats://nats.nats.svc.cluster.local:4222');
          if (app === 'query-api') expect(config.AUTHPIPE_READ_MODELS).toBe('mongodb');
          if (HTTP_PORT_SETTING[app]) expect(config.AUTHPIPE_BIND_HOST).toBe('0.0.0.0');
          if (app === 'vault') {
            expect(config.AUTHPIPE_MASTER_KEYS).toBeUndefined();
            expect(LocalKeyRing.fromSettings(config as unknown as VaultConfig).activeVersion).toBe('v1');
          }
          // The provider catalog overlay: a file the catalog loads, mounted for the apps that read the catalog.
          expect({ app, providersFile: env.AUTHPIPE_PROVIDERS_FILE !== undefined }).toEqual({ app, providersFile: CATALOG_APPS.includes(app) });
          if (env.AUTHPIPE_PROVIDERS_FILE) expect(ProviderCatalog.load(env.AUTHPIPE_PROVIDERS_FILE).list().length).toBeGreaterThan(0);
        }
      }
    } finally {
      rmSync(root, { recursive: true, force: true });
    }
  });

  it('production: a public https gateway URL; dev: the port-forward URL; JetStream buckets with three copies in production', () => {
    const gateway = (overlay: string) => deployments(overlay).find((d) => d.metadata!.name === 'oauth-gateway')!;
    expect(settingValue(gateway('production'), 'AUTHPIPE_PUBLIC_URL')).toMatch(/^https:\/\//);
    expect(settingValue(gateway('dev'), 'AUTHPIPE_PUBLIC_URL')).toBe('http://localhost:3000');
    const byName = (overlay: string, name: string) => deployments(overlay).find((d) => d.metadata!.name === name)!;
    expect(settingValue(byName('production', 'vault'), 'AUTHPIPE_VAULT_KV_REPLICAS')).toBe('3');
    expect(settingValue(byName('production', 'refresher'), 'REFRESH_LOCK_KV_REPLICAS')).toBe('3');
    expect(settingValue(byName('dev', 'vault'), 'AUTHPIPE_VAULT_KV_REPLICAS')).toBe('1');
  });
});

describe('deploy/k8s: secrets', () => {
  it('takes every secret from a Secret (never a literal), and vault its master key ring as a mounted file', () => {
    for (const overlay of OVERLAYS) {
      expect(rendered[overlay].filter((o) => o.kind === 'Secret')).toEqual([]);
      for (const d of deployments(overlay)) {
        for (const e of containerOf(d).env ?? []) {
          const where = { overlay, deployment: d.metadata!.name, name: e.name };
          if (looksSecret(e.name)) {
            expect({ ...where, value: e.value, fromSecret: Boolean(e.valueFrom?.secretKeyRef) }).toEqual({ ...where, value: undefined, fromSecret: true });
          } else {
            expect({ ...where, valueFrom: e.valueFrom }).toEqual({ ...where, valueFrom: undefined });
            // A literal URL carries no credentials.
            expect({ ...where, userinfo: /^[a-z+]+:\/\/[^/]*@/i.test(e.value ?? '') }).toEqual({ ...where, userinfo: false });
          }
        }
        expect(containerOf(d).env?.some((e) => e.name === 'AUTHPIPE_MASTER_KEYS')).toBe(false);
        const keyFile = containerOf(d).env?.find((e) => e.name === 'AUTHPIPE_MASTER_KEY_FILE');
        expect({ deployment: d.metadata!.name, keyFile: Boolean(keyFile) }).toEqual({ deployment: d.metadata!.name, keyFile: appOf(d) === 'vault' });
        // Only vault mounts the master key ring, read-only, readable by the pod's group only.
        for (const v of podSpec(d).volumes ?? []) {
          if (!v.secret) continue;
          expect({ deployment: d.metadata!.name, secret: v.secret.secretName }).toEqual({ deployment: 'vault', secret: 'authpipe-vault-master-keys' });
          expect(v.secret.defaultMode).toBe(0o440);
          expect(containerOf(d).volumeMounts!.find((m) => m.name === v.name)!.readOnly).toBe(true);
        }
      }
    }
  });

  it('references exactly the Secrets that README.md creates, and the README commands put no secret in a file', () => {
    const referenced = new Map<string, Set<string>>();
    for (const overlay of OVERLAYS) {
      for (const d of deployments(overlay)) {
        const refs = [
          ...(containerOf(d).env ?? []).flatMap((e) => (e.valueFrom?.secretKeyRef ? [[e.valueFrom.secretKeyRef.name!, e.valueFrom.secretKeyRef.key]] : [])),
          ...(podSpec(d).volumes ?? []).flatMap((v) => (v.secret ? (v.secret.items ?? []).map((i) => [v.secret!.secretName!, i.key]) : [])),
        ];
        for (const [name, key] of refs) referenced.set(name, new Set([...(referenced.get(name) ?? []), key]));
      }
    }
    const asRecord = (m: Map<string, Set<string>>) => Object.fromEntries([...m].map(([k, v]) => [k, [...v].sort()]).sort());
    expect(asRecord(referenced)).toEqual(Object.fromEntries(Object.entries(SECRET_VALUES).map(([k, v]) => [k, Object.keys(v).sort()]).sort()));

    const created = secretsCreatedByReadme();
    const inAuthpipe = new Map(created.filter((s) => s.namespace === NAMESPACE).map((s) => [s.name, new Set(s.keys)]));
    expect(asRecord(inAuthpipe)).toEqual(asRecord(referenced));
    // Each app's NATS user is the app's name (nats.conf's users), and NATS gets the same passwords in its namespace.
    for (const app of APPS) {
      expect(created.find((s) => s.namespace === NAMESPACE && s.name === `authpipe-nats-${app}`)!.literals.user).toBe(app);
      expect(created.find((s) => s.namespace === 'nats' && s.name === `authpipe-nats-${app}`)?.keys).toEqual(['password']);
    }
    // Values come from a generator or a placeholder, never a committed secret.
    for (const s of created) for (const [key, value] of Object.entries(s.literals)) if (key !== 'user' && key !== 'url') expect(value).toMatch(/\$\(openssl rand|\$password/);
  });

  it('no file under deploy/k8s holds key material, an API key or a Secret object', () => {
    const files: string[] = [];
    const walk = (dir: string) =>
      readdirSync(dir).forEach((f) => (statSync(join(dir, f)).isDirectory() ? walk(join(dir, f)) : files.push(join(dir, f))));
    walk(K8S);
    for (const file of files) {
      const text = readFileSync(file, 'utf8');
      const where = relative(ROOT, file);
      expect({ where, keyRing: /v\d+:[A-Za-z0-9+/]{43}=/.test(text), apiKey: /apk_[A-Za-z0-9]/.test(text), secretKind: /^kind:\s*Secret\s*$/m.test(text) }).toEqual({
        where,
        keyRing: false,
        apiKey: false,
        secretKind: false,
      });
    }
  });
});

describe('deploy/k8s: pods', () => {
  it('every container has startup, liveness and readiness probes on the health endpoints of its health port', () => {
    for (const overlay of OVERLAYS) {
      for (const d of deployments(overlay)) {
        const container = containerOf(d);
        const port = healthPort(d);
        const where = { overlay, deployment: d.metadata!.name };
        // The one port the container serves: HTTP (health on the same port) or health only.
        const portName = HTTP_PORT_SETTING[appOf(d)] ? 'http' : 'health';
        expect({ ...where, ports: container.ports }).toEqual({ ...where, ports: [{ name: portName, containerPort: port, protocol: 'TCP' }] });
        const check = (probe: IProbe | undefined, path: string) => {
          expect({ ...where, path: probe?.httpGet?.path, port: probe?.httpGet?.port, scheme: probe?.httpGet?.scheme ?? 'HTTP' }).toEqual({ ...where, path, port: portName, scheme: 'HTTP' });
          expect(probe!.timeoutSeconds).toBeGreaterThanOrEqual(1);
          return (probe!.periodSeconds ?? 10) * (probe!.failureThreshold ?? 3);
        };
        // Start-up may take a while (query-api and health-monitor project the history first): two minutes at least.
        expect(check(container.startupProbe, '/health/live')).toBeGreaterThanOrEqual(120);
        // A live app that is busy is not killed too soon.
        expect(check(container.livenessProbe, '/health/live')).toBeGreaterThanOrEqual(30);
        check(container.readinessProbe, '/health/ready');
      }
    }
  });

  it('every container has CPU and memory requests and limits, dev smaller than production', () => {
    const memoryLimit: Record<string, Record<string, number>> = {};
    for (const overlay of OVERLAYS) {
      memoryLimit[overlay] = {};
      for (const d of deployments(overlay)) {
        const { requests, limits } = containerOf(d).resources ?? {};
        for (const resource of ['cpu', 'memory']) {
          const request = quantity(requests?.[resource] as string);
          const limit = quantity(limits?.[resource] as string);
          expect({ overlay, deployment: d.metadata!.name, resource, ok: request > 0 && limit >= request }).toEqual({ overlay, deployment: d.metadata!.name, resource, ok: true });
        }
        memoryLimit[overlay][d.metadata!.name!] = quantity(limits!.memory as string);
      }
    }
    for (const [name, limit] of Object.entries(memoryLimit.dev)) expect({ name, smaller: limit < memoryLimit.production[name] }).toEqual({ name, smaller: true });
  });

  it('runs as non-root on a read-only root file system, with no capabilities, RuntimeDefault seccomp, no service links or API token', () => {
    for (const overlay of OVERLAYS) {
      for (const d of deployments(overlay)) {
        const pod: IPodSpec = podSpec(d);
        const container = containerOf(d);
        const where = { overlay, deployment: d.metadata!.name };
        expect({ ...where, pod: pod.securityContext }).toEqual({
          ...where,
          pod: { runAsNonRoot: true, runAsUser: 1000, runAsGroup: 1000, fsGroup: 1000, seccompProfile: { type: 'RuntimeDefault' } },
        });
        expect({ ...where, container: container.securityContext }).toEqual({
          ...where,
          container: {
            allowPrivilegeEscalation: false,
            privileged: false,
            readOnlyRootFilesystem: true,
            runAsNonRoot: true,
            capabilities: { drop: ['ALL'] },
            seccompProfile: { type: 'RuntimeDefault' },
          },
        });
        expect({ ...where, token: pod.automountServiceAccountToken, links: pod.enableServiceLinks }).toEqual({ ...where, token: false, links: false });
        expect({ ...where, host: [pod.hostNetwork, pod.hostPID, pod.hostIPC].some(Boolean) }).toEqual({ ...where, host: false });
        // Writable: /tmp (an emptyDir) and nothing else; no hostPath.
        for (const v of pod.volumes ?? []) expect({ ...where, volume: v.name, hostPath: v.hostPath }).toEqual({ ...where, volume: v.name, hostPath: undefined });
        const writable = (container.volumeMounts ?? []).filter((m) => !m.readOnly).map((m) => m.mountPath);
        expect({ ...where, writable }).toEqual({ ...where, writable: ['/tmp'] });
      }
    }
  });

  it("service links stay off because they would break query-api's config (QUERY_API_PORT=tcp://...)", () => {
    // What the kubelet would inject for each Service of the namespace: <NAME>_SERVICE_HOST, <NAME>_PORT, ...
    const linkVariables = ofKind<IService>(rendered.production, 'Service').flatMap((s) => {
      const prefix = s.metadata!.name!.toUpperCase().replace(/-/g, '_');
      return [`${prefix}_SERVICE_HOST`, `${prefix}_SERVICE_PORT`, `${prefix}_PORT`];
    });
    expect(linkVariables.filter((v) => configProperties(QueryApiConfig).has(v))).toEqual(['QUERY_API_PORT']);
  });
});

describe('deploy/k8s: replicas, HPAs, PDBs, Services', () => {
  it('dev: one replica of each app, no HPA, no PDB', () => {
    for (const d of deployments('dev')) expect({ deployment: d.metadata!.name, replicas: d.spec!.replicas }).toEqual({ deployment: d.metadata!.name, replicas: 1 });
    expect(rendered.dev.filter((o) => ['HorizontalPodAutoscaler', 'PodDisruptionBudget'].includes(o.kind))).toEqual([]);
  });

  it('production: an HPA (autoscaling/v2, 2+ replicas) and a PDB (minAvailable 1) per scaled app; singletons have neither', () => {
    const hpas = ofKind<IHorizontalPodAutoscaler>(rendered.production, 'HorizontalPodAutoscaler');
    const pdbs = ofKind<IPodDisruptionBudget>(rendered.production, 'PodDisruptionBudget');
    const all = deployments('production');
    for (const d of all) {
      const name = d.metadata!.name!;
      const hpa = hpas.filter((h) => h.spec!.scaleTargetRef.kind === 'Deployment' && h.spec!.scaleTargetRef.name === name);
      const matchingPdbs = pdbs.filter((p) => selects(p.spec!.selector, podLabels(d)));
      if (SINGLETONS.has(name)) {
        expect({ name, replicas: d.spec!.replicas, strategy: d.spec!.strategy?.type, hpa: hpa.length, pdb: matchingPdbs.length }).toEqual({ name, replicas: 1, strategy: 'Recreate', hpa: 0, pdb: 0 });
        continue;
      }
      expect({ name, hpa: hpa.length, pdb: matchingPdbs.length }).toEqual({ name, hpa: 1, pdb: 1 });
      expect(hpa[0].spec!.minReplicas).toBeGreaterThanOrEqual(2);
      expect(hpa[0].spec!.maxReplicas).toBeGreaterThan(hpa[0].spec!.minReplicas!);
      expect(hpa[0].spec!.metrics?.some((m) => m.type === 'Resource' && m.resource?.name === 'cpu')).toBe(true);
      // Replicas are the HPA's: an apply would otherwise reset them.
      expect({ name, replicas: d.spec!.replicas }).toEqual({ name, replicas: undefined });
      expect({ name, minAvailable: matchingPdbs[0].spec!.minAvailable, maxUnavailable: matchingPdbs[0].spec!.maxUnavailable }).toEqual({ name, minAvailable: 1, maxUnavailable: undefined });
      // A PDB covers the pods of one Deployment only.
      for (const other of all.filter((o) => o !== d)) expect(selects(matchingPdbs[0].spec!.selector, podLabels(other))).toBe(false);
      expect(d.spec!.strategy).toEqual({ type: 'RollingUpdate', rollingUpdate: { maxSurge: 1, maxUnavailable: 0 } });
    }
    for (const h of hpas) expect(all.map((d) => d.metadata!.name)).toContain(h.spec!.scaleTargetRef.name);
    expect(pdbs.length).toBe(hpas.length);
  });

  it('exactly one query-api replica relays lifecycle events (INTEGRATION_RELAY), and the relay is query-api otherwise', () => {
    for (const overlay of OVERLAYS) {
      const queryApis = deployments(overlay).filter((d) => appOf(d) === 'query-api');
      const relaying = queryApis.filter((d) => settingValue(d, 'INTEGRATION_RELAY') === 'on');
      expect({ overlay, relaying: relaying.map((d) => [d.metadata!.name, d.spec!.replicas]) }).toEqual({
        overlay,
        relaying: [[overlay === 'production' ? 'query-api-relay' : 'query-api', 1]],
      });
    }
    const [api, relay] = ['query-api', 'query-api-relay'].map((n) => JSON.parse(JSON.stringify(deployments('production').find((d) => d.metadata!.name === n)!)) as IDeployment);
    const normalize = (d: IDeployment) => {
      const template = d.spec!.template;
      delete template.metadata!.labels!['app.kubernetes.io/instance'];
      for (const c of template.spec!.topologySpreadConstraints ?? []) delete c.labelSelector!.matchLabels!['app.kubernetes.io/instance'];
      const container = template.spec!.containers[0];
      container.env = container.env!.filter((e) => e.name !== 'INTEGRATION_RELAY').sort((a, b) => a.name.localeCompare(b.name));
      return template;
    };
    expect(normalize(relay)).toEqual(normalize(api));
  });

  it('Deployment selectors take their own pods only; Services exist for the HTTP apps only, on their HTTP port', () => {
    for (const overlay of OVERLAYS) {
      const all = deployments(overlay);
      for (const d of all) {
        expect(selects(d.spec!.selector, podLabels(d))).toBe(true);
        expect(podLabels(d)['app.kubernetes.io/part-of']).toBe('authpipe');
        for (const other of all.filter((o) => o !== d)) {
          const pair = { d: d.metadata!.name, other: other.metadata!.name };
          expect({ ...pair, overlaps: selects(d.spec!.selector, podLabels(other)) }).toEqual({ ...pair, overlaps: false });
        }
      }
      const services = ofKind<IService>(rendered[overlay], 'Service');
      expect(services.map((s) => s.metadata!.name).sort()).toEqual(Object.keys(HTTP_PORT_SETTING).sort());
      for (const s of services) {
        const selected = all.filter((d) => selects({ matchLabels: s.spec!.selector }, podLabels(d)));
        expect(new Set(selected.map(appOf))).toEqual(new Set([s.metadata!.name]));
        expect(s.spec!.ports).toEqual([{ name: 'http', port: healthPort(selected[0]), targetPort: 'http', protocol: 'TCP' }]);
        expect(s.spec!.type ?? 'ClusterIP').toBe('ClusterIP');
      }
    }
  });
});

describe('deploy/k8s: NetworkPolicies open exactly the flows documented in README.md', () => {
  let flows: ReturnType<typeof documentedFlows>;
  beforeAll(() => {
    flows = documentedFlows();
  });

  it('denies all ingress and egress by default in the namespace', () => {
    for (const overlay of OVERLAYS) {
      const policies = ofKind<INetworkPolicy>(rendered[overlay], 'NetworkPolicy');
      expect(policies.filter((p) => Object.keys(p.spec!.podSelector).length === 0).map((p) => p.spec)).toEqual([
        { podSelector: {}, policyTypes: ['Ingress', 'Egress'] },
      ]);
      for (const p of policies) expect({ policy: p.metadata!.name, explicitTypes: Array.isArray(p.spec!.policyTypes) }).toEqual({ policy: p.metadata!.name, explicitTypes: true });
    }
  });

  it('egress: each app reaches exactly its documented destinations (vault: DNS and NATS only, no internet)', () => {
    expect([...flows.vault.egress].sort()).toEqual(['dns', 'nats']);
    for (const overlay of OVERLAYS) {
      const policies = ofKind<INetworkPolicy>(rendered[overlay], 'NetworkPolicy');
      for (const d of deployments(overlay)) {
        const app = appOf(d);
        const pod: Endpoint = { namespace: NAMESPACE, labels: podLabels(d), ip: '10.0.9.9' };
        const reachable = Object.entries(DESTINATIONS)
          .filter(([, { endpoint, ports }]) => ports.every(([port, protocol]) => allowed(policies, pod, endpoint, port, protocol)))
          .map(([name]) => name)
          .sort();
        expect({ overlay, deployment: d.metadata!.name, reachable }).toEqual({ overlay, deployment: d.metadata!.name, reachable: [...flows[app].egress].sort() });
        // Nothing else: other ports of the same places, private and metadata addresses, the other apps, other namespaces.
        const elsewhere: [string, Endpoint, number, string][] = [
          ['internet on 80', DESTINATIONS.internet.endpoint, 80, 'TCP'],
          ['a private address on 443', { ip: '10.20.30.40' }, 443, 'TCP'],
          ['a 172.16/12 address on 443', { ip: '172.20.0.5' }, 443, 'TCP'],
          ['cloud metadata', { ip: '169.254.169.254' }, 80, 'TCP'],
          ['cloud metadata on 443', { ip: '169.254.169.254' }, 443, 'TCP'],
          ['NATS monitoring', DESTINATIONS.nats.endpoint, 8222, 'TCP'],
          ['NATS cluster routes', DESTINATIONS.nats.endpoint, 6222, 'TCP'],
          ['another app of the namespace', { namespace: NAMESPACE, labels: { 'app.kubernetes.io/name': 'vault', 'app.kubernetes.io/part-of': 'authpipe' }, ip: '10.0.9.8' }, 9000, 'TCP'],
          ['query-api from inside the namespace', { namespace: NAMESPACE, labels: { 'app.kubernetes.io/name': 'query-api', 'app.kubernetes.io/part-of': 'authpipe' }, ip: '10.0.9.7' }, 3001, 'TCP'],
          ['a pod of another namespace on 443', { namespace: 'default', labels: {}, ip: '10.0.8.8' }, 443, 'TCP'],
          ['the Kubernetes API', { namespace: 'default', labels: {}, ip: '10.96.0.1' }, 443, 'TCP'],
        ];
        for (const [what, endpoint, port, protocol] of elsewhere) {
          expect({ overlay, app, what, allowed: allowed(policies, pod, endpoint, port, protocol) }).toEqual({ overlay, app, what, allowed: false });
        }
      }
    }
  });

  it('ingress: oauth-gateway and query-api from the ingress controller namespace on their HTTP port, Prometheus on the metrics port; nothing else', () => {
    expect(flows.vault.ingress).toBeNull();
    for (const overlay of OVERLAYS) {
      const policies = ofKind<INetworkPolicy>(rendered[overlay], 'NetworkPolicy');
      for (const d of deployments(overlay)) {
        const app = appOf(d);
        const pod: Endpoint = { namespace: NAMESPACE, labels: podLabels(d), ip: '10.0.9.9' };
        const port = healthPort(d);
        const documented = flows[app].ingress;
        if (documented) expect(documented.port).toBe(port);
        const sources: [string, Endpoint, boolean][] = [
          ['the ingress controller', { namespace: documented?.namespace ?? 'ingress-nginx', labels: { 'app.kubernetes.io/name': 'ingress-nginx' }, ip: '10.0.7.7' }, documented !== null],
          ['another app of the namespace', { namespace: NAMESPACE, labels: { 'app.kubernetes.io/name': 'refresher', 'app.kubernetes.io/part-of': 'authpipe' }, ip: '10.0.9.8' }, false],
          ['a pod of another namespace', { namespace: 'default', labels: {}, ip: '10.0.8.8' }, false],
          ['another pod of the monitoring namespace', { namespace: 'monitoring', labels: { 'app.kubernetes.io/name': 'grafana' }, ip: '10.0.6.7' }, false],
          ['NATS', DESTINATIONS.nats.endpoint, false],
          ['the internet', { ip: '198.51.100.4' }, false],
        ];
        for (const [what, source, expected] of sources) {
          expect({ overlay, app, what, port, allowed: allowed(policies, source, pod, port) }).toEqual({ overlay, app, what, port, allowed: expected });
        }
        // The ingress controller reaches the HTTP port only.
        expect(allowed(policies, sources[0][1], pod, port + 1)).toBe(false);
        // Prometheus (namespace monitoring) scrapes the metrics port, and nothing else.
        const prometheus: Endpoint = { namespace: 'monitoring', labels: { 'app.kubernetes.io/name': 'prometheus' }, ip: '10.0.6.6' };
        expect({ overlay, app, scrape: allowed(policies, prometheus, pod, port) }).toEqual({ overlay, app, scrape: true });
        expect(allowed(policies, prometheus, pod, 2113)).toBe(false);
      }
    }
  });

  it('the evaluator itself: selectors, CIDR exceptions, ports and isolation', () => {
    expect(selects({ matchExpressions: [{ key: 'a', operator: 'In', values: ['x'] }] }, { a: 'x' })).toBe(true);
    expect(selects({ matchExpressions: [{ key: 'a', operator: 'NotIn', values: ['x'] }] }, { a: 'x' })).toBe(false);
    expect(inCidr('10.1.2.3', '10.0.0.0/8')).toBe(true);
    expect(inCidr('11.1.2.3', '10.0.0.0/8')).toBe(false);
    expect(inCidr('2001:db8::1', '::/0')).toBe(true);
    expect(inCidr('fd00::1', 'fc00::/7')).toBe(true);
    expect(inCidr('2001:db8::1', 'fc00::/7')).toBe(false);
    const open: INetworkPolicy = {
      apiVersion: 'networking.k8s.io/v1',
      kind: 'NetworkPolicy',
      metadata: { name: 'x', namespace: 'n' },
      spec: { podSelector: {}, policyTypes: ['Egress'], egress: [{ ports: [{ port: 443, protocol: 'TCP' }] }] },
    };
    const pod = { namespace: 'n', labels: {}, ip: '10.0.0.1' };
    expect(allowed([open], pod, { ip: '1.1.1.1' }, 443)).toBe(true);
    expect(allowed([open], pod, { ip: '1.1.1.1' }, 443, 'UDP')).toBe(false);
    expect(allowed([], pod, { ip: '1.1.1.1' }, 80)).toBe(true);
  });
});

describe('deploy/k8s/README.md', () => {
  it('states the health endpoint assumption, the backends, the secrets and how to deploy', () => {
    for (const text of [
      'GET /health/live',
      'GET /health/ready',
      'HEALTH_PORT',
      String(DEFAULT_HEALTH_PORT),
      'kubectl apply -k deploy/k8s/overlays/production',
      'kubectl apply -k deploy/k8s/overlays/dev',
      'JetStream',
      'deploy/compose/nats.conf',
      'EventStoreDB',
      'MongoDB',
      'AUTHPIPE_MASTER_KEY_FILE',
      'AUTHPIPE_PROVIDERS_FILE',
    ]) {
      expect({ text, found: README.includes(text) }).toEqual({ text, found: true });
    }
    expect(existsSync(join(K8S, 'base', 'providers.json'))).toBe(true);
  });
});
