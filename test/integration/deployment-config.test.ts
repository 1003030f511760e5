import 'reflect-metadata';
import { ChildProcess, spawn, spawnSync } from 'node:child_process';
import { randomBytes } from 'node:crypto';
import { existsSync, mkdtempSync, readdirSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { INestMicroservice } from '@nestjs/common';
import { getMetadataStorage, ValidationTypes } from 'class-validator';
import { connect, JSONCodec, NatsConnection, NatsError } from 'nats';
// `yaml` comes with testcontainers (docker-compose); it is not a direct dependency of the project.
import { parse as parseYaml } from 'yaml';
import { loadConfig, PlatformConfig } from '@authpipe/config';
import { connectionIdFor, healthSubject, Rpc, RpcName } from '@authpipe/contracts';
import { createRpcClient, RpcClient } from '@authpipe/messaging';
import { HealthMonitorConfig } from '../../apps/health-monitor/src/health-monitor.config';
import { JetStreamKvFlowStore } from '../../apps/oauth-gateway/src/flow-store/jetstream-kv-flow-store';
import { GatewayConfig } from '../../apps/oauth-gateway/src/gateway.config';
import { QueryApiConfig } from '../../apps/query-api/src/query-api.config';
import { RefresherConfig } from '../../apps/refresher/src/refresher.config';
import { LocalKeyRing } from '../../apps/vault/src/crypto/local-key-ring';
import { vaultBucketNames } from '../../apps/vault/src/storage/jetstream-kv-secret-store';
import { startVault } from '../../apps/vault/src/start-vault';
import { VaultConfig } from '../../apps/vault/src/vault.config';
import { freePort, natsServerBinary } from '../support/nats-server';

/*
 * The deployment files (Dockerfile, .dockerignore, docker-compose.yml, deploy/compose/) checked without a container
 * engine: statically against the apps' config classes and the RPC contracts, and deploy/compose/nats.conf on a real
 * nats-server, with the real vault, the real RPC clients and the gateway's real KV store connecting as their users.
 */

const ROOT = join(__dirname, '..', '..');
const read = (path: string) => readFileSync(join(ROOT, path), 'utf8');
const NATS_CONF = 'deploy/compose/nats.conf';
const HEALTHCHECK_JS = 'deploy/compose/nats-healthcheck.js';

// ---- the policy: what each app is, serves, calls and keeps ----------------------------------------------------------

const APPS = ['oauth-gateway', 'vault', 'query-api', 'refresher', 'health-monitor'] as const;
type App = (typeof APPS)[number];

const CONFIG_CLASSES: Record<App, new () => PlatformConfig> = {
  'oauth-gateway': GatewayConfig,
  vault: VaultConfig,
  'query-api': QueryApiConfig,
  refresher: RefresherConfig,
  'health-monitor': HealthMonitorConfig,
};

/**
 * Requests each app may send (DESIGN.md: who calls whom), as the subjects nats.conf grants. Everything else it must not
 * be able to send. A test below checks that every request in an app's code is here.
 */
const CALLS: Record<App, string[]> = {
  'oauth-gateway': ['authpipe.vault.credential.store', 'authpipe.vault.secret.read', 'authpipe.query.api-key.authenticate', 'authpipe.query.integration.get'],
  vault: [],
  // secret.erase: replacing or removing an integration's client secret.
  'query-api': ['authpipe.vault.credential.read', 'authpipe.vault.secret.store', 'authpipe.vault.secret.erase', 'authpipe.refresher.refresh'],
  refresher: ['authpipe.vault.credential.read', 'authpipe.vault.credential.store', 'authpipe.vault.secret.read', 'authpipe.query.integration.get'],
  'health-monitor': ['authpipe.vault.credential.read'],
};

/** Subject prefixes of the RPCs each app serves (its health subject, `authpipe.<app>.health`, aside). */
const SERVES: Record<App, string[]> = {
  'oauth-gateway': [],
  vault: ['authpipe.vault'],
  'query-api': ['authpipe.query'],
  refresher: ['authpipe.refresher'],
  'health-monitor': [],
};

/**
 * JetStream KV buckets each app opens, and how it reads them: the gateway's buckets are created with direct get (the
 * client's default), vault's with allow_direct off (JetStreamKvSecretStore), so they are read through the leader.
 */
const BUCKETS: Record<App, { names: string[]; read: 'direct' | 'leader' }> = {
  'oauth-gateway': { names: ['authpipe_connect_sessions', 'authpipe_oauth_states'], read: 'direct' },
  vault: { names: Object.values(vaultBucketNames(new VaultConfig().AUTHPIPE_VAULT_BUCKET_PREFIX)), read: 'leader' },
  'query-api': { names: [], read: 'leader' },
  refresher: { names: [], read: 'leader' },
  'health-monitor': { names: [], read: 'leader' },
};

/** Apps whose platform providers open an event store (vault keeps none). */
const EVENT_STORE_APPS: App[] = ['oauth-gateway', 'query-api', 'refresher', 'health-monitor'];
const HTTP_PORTS: Partial<Record<App, number>> = { 'oauth-gateway': 3000, 'query-api': 3001 };

const kvApi = ({ names, read }: { names: string[]; read: 'direct' | 'leader' }): string[] =>
  names.length === 0
    ? []
    : [
        '$JS.API.INFO',
        ...names.flatMap((b) => [
          `$JS.API.STREAM.INFO.KV_${b}`,
          `$JS.API.STREAM.CREATE.KV_${b}`,
          read === 'direct' ? `$JS.API.DIRECT.GET.KV_${b}.>` : `$JS.API.STREAM.MSG.GET.KV_${b}`,
          `$KV.${b}.>`,
        ]),
      ];
const expectedPublish = (app: App): string[] => [...CALLS[app], healthSubject(app), ...kvApi(BUCKETS[app])];
const expectedSubscribe = (app: App): string[] => [...new Set([...SERVES[app].map((p) => `${p}.>`), `authpipe.${app}.>`, '_INBOX.>'])];

const sorted = (values: Iterable<string>) => [...values].sort();

/** NATS subject matching: `*` one token, `>` one or more trailing tokens. */
function subjectMatches(pattern: string, subject: string): boolean {
  const p = pattern.split('.');
  const s = subject.split('.');
  for (let i = 0; i < p.length; i++) {
    if (p[i] === '>') return s.length > i;
    if (i >= s.length || (p[i] !== '*' && p[i] !== s[i])) return false;
  }
  return p.length === s.length;
}

// ---- docker-compose.yml: parsing and the variable interpolation of compose -------------------------------------------

type Env = Record<string, string | undefined>;
interface ComposeService {
  image?: string;
  build?: { context?: string; target?: string; dockerfile?: string } | string;
  command?: string[] | string;
  environment?: Record<string, string | number | boolean | null> | string[];
  ports?: string[];
  volumes?: string[];
  depends_on?: Record<string, { condition?: string }> | string[];
  healthcheck?: { test?: string[] | string; [key: string]: unknown };
  [key: string]: unknown;
}
interface ComposeFile {
  name?: string;
  services: Record<string, ComposeService>;
  volumes?: Record<string, unknown>;
  [key: string]: unknown;
}

const compose = parseYaml(read('docker-compose.yml'), { merge: true }) as ComposeFile;

class MissingVariable extends Error {}

/** Compose's interpolation: `$$`, `$VAR`, `${VAR}`, `${VAR:-default}`, `${VAR-default}`, `${VAR:?err}`, `${VAR?err}`, `${VAR:+alt}`, `${VAR+alt}`. */
function interpolate(text: string, env: Env): string {
  return text.replace(/\$(?:\$|\{([^}]*)\}|([A-Za-z_][A-Za-z0-9_]*))/g, (match, braced: string | undefined, bare: string | undefined) => {
    if (match === '$$') return '$';
    if (bare !== undefined) return env[bare] ?? '';
    const m = /^([A-Za-z_][A-Za-z0-9_]*)(?:(:?[-?+])([\s\S]*))?$/.exec(braced!);
    if (!m) throw new Error(`invalid interpolation ${match}`);
    const [, name, op, arg = ''] = m;
    const value = env[name];
    const unset = value === undefined;
    const empty = unset || value === '';
    switch (op) {
      case undefined:
        return value ?? '';
      case ':-':
        return empty ? arg : value!;
      case '-':
        return unset ? arg : value!;
      case ':+':
        return empty ? '' : arg;
      case '+':
        return unset ? '' : arg;
      case ':?':
      case '?':
        if (op === ':?' ? empty : unset) throw new MissingVariable(`${name}: ${arg}`);
        return value!;
      default:
        throw new Error(`invalid interpolation ${match}`);
    }
  });
}

/** A service's environment as written (before interpolation). */
function rawEnvironment(service: string): Record<string, string> {
  const environment = compose.services[service]?.environment ?? {};
  if (Array.isArray(environment)) {
    return Object.fromEntries(environment.map((line) => [line.split('=')[0], line.slice(line.indexOf('=') + 1)]));
  }
  return Object.fromEntries(Object.entries(environment).map(([k, v]) => [k, v === null ? '' : String(v)]));
}

const interpolateAll = (values: Record<string, string>, env: Env) =>
  Object.fromEntries(Object.entries(values).map(([k, v]) => [k, interpolate(v, env)]));

/** Secrets as an operator makes them: by running deploy/compose/generate-env.sh. */
function generateSecrets(): Record<string, string> {
  const result = spawnSync('sh', [join(ROOT, 'deploy/compose/generate-env.sh')], { encoding: 'utf8' });
  if (result.status !== 0) throw new Error(`generate-env.sh failed: ${result.stderr}`);
  return Object.fromEntries(
    result.stdout
      .trim()
      .split('\n')
      .map((line) => [line.slice(0, line.indexOf('=')), line.slice(line.indexOf('=') + 1)]),
  );
}
const SECRETS = generateSecrets();

/** The environment compose gives an app's container, with the generated secrets and every default. */
const composeEnv = (service: string): Record<string, string> => interpolateAll(rawEnvironment(service), SECRETS);

/** Property names of a config class: exactly what loadConfig accepts (it validates with whitelist: true). */
function configProperties(schema: new () => object): Set<string> {
  return new Set(getMetadataStorage().getTargetValidationMetadatas(schema, '', true, false).map((m) => m.propertyName));
}

/** Settings without a default and without a condition (IsOptional, ValidateIf) that would let them be absent. */
function unconditionallyRequired(schema: new () => object): string[] {
  const metadata = getMetadataStorage().getTargetValidationMetadatas(schema, '', true, false);
  const defaults = new schema() as Record<string, unknown>;
  return sorted(
    new Set(
      metadata
        .map((m) => m.propertyName)
        .filter((p) => defaults[p] === undefined)
        .filter((p) => !metadata.some((m) => m.propertyName === p && m.type === ValidationTypes.CONDITIONAL_VALIDATION)),
    ),
  );
}

// ---- Dockerfile: stages ----------------------------------------------------------------------------------------------

interface Stage {
  name: string;
  from: string;
  lines: string[];
}
function dockerfileStages(): Stage[] {
  const lines = read('Dockerfile')
    .replace(/\\\n/g, ' ')
    .split('\n')
    .map((l) => l.trim())
    .filter((l) => l && !l.startsWith('#'));
  const stages: Stage[] = [];
  for (const line of lines) {
    const from = /^FROM\s+(\S+)(?:\s+AS\s+(\S+))?$/i.exec(line);
    if (from) stages.push({ name: from[2] ?? `stage-${stages.length}`, from: from[1], lines: [] });
    else stages.at(-1)?.lines.push(line);
  }
  return stages;
}

// ---- deploy/compose/nats.conf: a minimal parser for the subset the file uses ------------------------------------------

type ConfValue = string | number | boolean | { variable: string } | ConfValue[] | { [key: string]: ConfValue };

/** Objects `{}` (key, optional `:`/`=`, value), arrays `[]`, quoted and bare strings, numbers, booleans, `$VAR`, `#` comments. */
function parseNatsConf(text: string): Record<string, ConfValue> {
  const tokens: string[] = [];
  const lexer = /\s+|,|#[^\n]*|\/\/[^\n]*|([{}[\]:=])|"((?:[^"\\]|\\.)*)"|([^\s,{}[\]:=#"]+)/gy;
  let m: RegExpExecArray | null;
  while (lexer.lastIndex < text.length && (m = lexer.exec(text))) {
    if (m[1] !== undefined) tokens.push(m[1]);
    else if (m[2] !== undefined) tokens.push(`"${m[2]}`);
    else if (m[3] !== undefined) tokens.push(m[3]);
  }
  if (lexer.lastIndex < text.length) throw new Error(`nats.conf: cannot read from offset ${lexer.lastIndex}`);
  let at = 0;
  const next = () => {
    if (at >= tokens.length) throw new Error('nats.conf: unexpected end');
    return tokens[at++];
  };
  const scalar = (token: string): ConfValue => {
    if (token.startsWith('"')) return token.slice(1);
    if (token.startsWith('$')) return { variable: token.slice(1) };
    if (/^(true|yes|on)$/i.test(token)) return true;
    if (/^(false|no|off)$/i.test(token)) return false;
    if (/^-?\d+$/.test(token)) return Number(token);
    return token;
  };
  const value = (): ConfValue => {
    const token = next();
    if (token === '{') return object('}');
    if (token === '[') {
      const items: ConfValue[] = [];
      while (tokens[at] !== ']') items.push(value());
      at++;
      return items;
    }
    return scalar(token);
  };
  const object = (end: string | null): Record<string, ConfValue> => {
    const result: Record<string, ConfValue> = {};
    while (end === null ? at < tokens.length : tokens[at] !== end) {
      const key = next().replace(/^"/, '');
      if (tokens[at] === ':' || tokens[at] === '=') at++;
      if (key in result) throw new Error(`nats.conf: duplicate key ${key}`);
      result[key] = value();
    }
    if (end !== null) at++;
    return result;
  };
  return object(null);
}

interface ConfUser {
  user: string;
  password: { variable: string } | string;
  permissions: {
    publish: { allow: string[]; deny?: string[] };
    subscribe: { allow: string[]; deny?: string[] };
    allow_responses?: boolean;
  };
}
const natsConf = parseNatsConf(read(NATS_CONF));
const confUsers = (((natsConf.authorization as Record<string, ConfValue>)?.users ?? []) as unknown as ConfUser[]).filter(Boolean);
const confUser = (app: string) => confUsers.find((u) => u.user === app);

// ======================================================================================================================

describe('docker-compose.yml', () => {
  const services = Object.keys(compose.services ?? {});

  it('is a compose file of the expected shape (static lint: no container engine or compose CLI here)', () => {
    const topLevel = ['name', 'services', 'volumes', 'networks', 'configs', 'secrets'];
    expect(Object.keys(compose).filter((k) => !k.startsWith('x-') && !topLevel.includes(k))).toEqual([]);
    expect(sorted(services)).toEqual(sorted([...APPS, 'eventstore', 'mongo', 'nats']));

    const serviceKeys = new Set([
      'build', 'image', 'command', 'entrypoint', 'environment', 'env_file', 'ports', 'expose', 'volumes', 'depends_on',
      'healthcheck', 'restart', 'read_only', 'tmpfs', 'cap_drop', 'cap_add', 'security_opt', 'networks', 'user',
      'init', 'stop_grace_period', 'stop_signal', 'labels', 'logging', 'deploy', 'secrets', 'configs', 'ulimits',
    ]);
    const healthcheckKeys = new Set(['test', 'interval', 'timeout', 'retries', 'start_period', 'disable']);
    const declaredVolumes = new Set(Object.keys(compose.volumes ?? {}));
    const targets = new Set(dockerfileStages().map((s) => s.name));
    const healthchecked = new Set(dockerfileStages().filter((s) => s.lines.some((l) => l.startsWith('HEALTHCHECK'))).map((s) => s.name));

    for (const [name, service] of Object.entries(compose.services)) {
      expect({ name, unknown: Object.keys(service).filter((k) => !serviceKeys.has(k)) }).toEqual({ name, unknown: [] });
      expect({ name, hasImageOrBuild: Boolean(service.image || service.build) }).toEqual({ name, hasImageOrBuild: true });
      if (service.healthcheck) {
        expect(Object.keys(service.healthcheck).filter((k) => !healthcheckKeys.has(k))).toEqual([]);
        expect(Array.isArray(service.healthcheck.test) && ['CMD', 'CMD-SHELL'].includes(service.healthcheck.test[0])).toBe(true);
        for (const key of ['interval', 'timeout', 'start_period']) {
          if (key in service.healthcheck) expect(String(service.healthcheck[key])).toMatch(/^\d+(ms|s|m|h)$/);
        }
      }
      for (const volume of service.volumes ?? []) {
        const source = volume.split(':')[0];
        if (source.startsWith('.') || source.startsWith('/')) expect({ name, source, exists: existsSync(join(ROOT, source)) }).toEqual({ name, source, exists: true });
        else expect({ name, source, declared: declaredVolumes.has(source) }).toEqual({ name, source, declared: true });
      }
      const dependsOn = service.depends_on ?? {};
      expect(Array.isArray(dependsOn)).toBe(false);
      for (const [dependency, { condition }] of Object.entries(dependsOn as Record<string, { condition?: string }>)) {
        expect(services).toContain(dependency);
        expect(['service_started', 'service_healthy', 'service_completed_successfully']).toContain(condition);
        if (condition === 'service_healthy') {
          const other = compose.services[dependency];
          const target = typeof other.build === 'object' ? other.build.target : undefined;
          expect({ dependency, healthcheck: Boolean(other.healthcheck) || (target !== undefined && healthchecked.has(target)) }).toEqual({
            dependency,
            healthcheck: true,
          });
        }
      }
    }

    // The apps: built from this repository, one Dockerfile target each, hardened.
    for (const app of APPS) {
      const service = compose.services[app];
      expect(service.build).toEqual({ context: '.', target: app });
      expect(targets).toContain(app);
      expect({ app, read_only: service.read_only, cap_drop: service.cap_drop, security_opt: service.security_opt }).toEqual({
        app,
        read_only: true,
        cap_drop: ['ALL'],
        security_opt: ['no-new-privileges:true'],
      });
    }

    // No dependency cycle (compose would refuse to start).
    const visiting = new Set<string>();
    const done = new Set<string>();
    const visit = (name: string, path: string[]) => {
      if (done.has(name)) return;
      if (visiting.has(name)) throw new Error(`depends_on cycle: ${[...path, name].join(' -> ')}`);
      visiting.add(name);
      for (const dependency of Object.keys(compose.services[name].depends_on ?? {})) visit(dependency, [...path, name]);
      visiting.delete(name);
      done.add(name);
    };
    services.forEach((s) => visit(s, []));
  });

  it('runs the production-shaped engines with health checks: EventStoreDB 24.10, MongoDB 7 replica set, NATS 2.10 with JetStream', () => {
    const { eventstore, mongo, nats } = compose.services;
    expect(eventstore.image).toBe('eventstore/eventstore:24.10');
    expect(rawEnvironment('eventstore')).toMatchObject({ EVENTSTORE_INSECURE: 'true', EVENTSTORE_CLUSTER_SIZE: '1' });
    expect((eventstore.healthcheck?.test as string[]).join(' ')).toContain('/health/live');

    expect(mongo.image).toBe('mongo:7');
    const command = mongo.command as string[];
    expect(command[command.indexOf('--replSet') + 1]).toBe('rs0');
    const mongoCheck = (mongo.healthcheck?.test as string[]).join(' ');
    expect(mongoCheck).toContain("rs.initiate({ _id: 'rs0'");
    expect(mongoCheck).toContain("host: 'mongo:27017'");
    expect(mongoCheck).toContain('isWritablePrimary');

    expect(nats.image).toBe('nats:2.10-alpine');
    expect(nats.volumes).toContain(`./${NATS_CONF}:/etc/nats/authpipe.conf:ro`);
    expect(nats.command).toEqual(['--config', '/etc/nats/authpipe.conf']);
    expect(natsConf.jetstream).toMatchObject({ store_dir: '/data/jetstream' });
    expect(nats.volumes?.some((v) => /^[a-z-]+:\/data$/.test(v))).toBe(true);
    expect(natsConf.http).toBe('127.0.0.1:8222');
    expect((nats.healthcheck?.test as string[]).join(' ')).toContain('http://127.0.0.1:8222/healthz');
  });

  it('passes each app only settings that its config class reads', () => {
    for (const app of APPS) {
      const known = configProperties(CONFIG_CLASSES[app]);
      expect(known.size).toBeGreaterThan(5);
      const unknown = Object.keys(rawEnvironment(app)).filter((name) => !known.has(name));
      expect({ app, unknown }).toEqual({ app, unknown: [] });
    }
  });

  it('sets every setting an app requires, and each app accepts the resulting environment', () => {
    expect(unconditionallyRequired(QueryApiConfig)).toEqual(['AUTHPIPE_ADMIN_TOKEN']);
    for (const app of APPS) {
      const env = composeEnv(app);
      const missing = unconditionallyRequired(CONFIG_CLASSES[app]).filter((name) => !env[name]);
      expect({ app, missing }).toEqual({ app, missing: [] });
      // The conditional ones (EVENTSTORE_URL, MONGODB_URL, AUTHPIPE_MASTER_KEYS) and every format: the real loader.
      expect(() => loadConfig(CONFIG_CLASSES[app], env)).not.toThrow();
    }
    // The master key ring that generate-env.sh makes is one vault can use.
    expect(() => LocalKeyRing.fromSettings(loadConfig(VaultConfig, composeEnv('vault')))).not.toThrow();
  });

  it('stops with a message when a secret is missing, and commits none', () => {
    const secretNames = /PASSWORD|SECRET|TOKEN|MASTER_KEY/;
    for (const service of services) {
      for (const [name, raw] of Object.entries(rawEnvironment(service))) {
        if (!secretNames.test(name)) continue;
        expect({ service, name, raw }).toEqual({ service, name, raw: expect.stringMatching(/^\$\{[A-Z0-9_]+:\?[^}]+\}$/) });
      }
    }
    for (const [app, secret] of [
      ['vault', 'AUTHPIPE_MASTER_KEYS'],
      ['query-api', 'AUTHPIPE_ADMIN_TOKEN'],
    ] as const) {
      expect(rawEnvironment(app)[secret]).toMatch(new RegExp(`^\\$\\{${secret}:\\?`));
      const { [secret]: _removed, ...without } = SECRETS;
      expect(() => interpolateAll(rawEnvironment(app), without)).toThrow(MissingVariable);
    }
    for (const app of APPS) {
      const { NATS_USER, NATS_PASSWORD } = rawEnvironment(app);
      expect(NATS_USER).toBe(app);
      expect(NATS_PASSWORD).toMatch(/^\$\{AUTHPIPE_NATS_PASSWORD_[A-Z_]+:\?[^}]+\}$/);
    }
  });

  it('runs the production adapters: EventStoreDB for events, MongoDB for read models, NATS for the rest', () => {
    for (const app of APPS) {
      const env = composeEnv(app);
      expect(env.NATS_URL).toBe('nats://nats:4222');
      if (EVENT_STORE_APPS.includes(app)) {
        expect({ app, AUTHPIPE_EVENT_STORE: env.AUTHPIPE_EVENT_STORE, EVENTSTORE_URL: env.EVENTSTORE_URL }).toEqual({
          app,
          AUTHPIPE_EVENT_STORE: 'eventstoredb',
          EVENTSTORE_URL: 'esdb://eventstore:2113?tls=false',
        });
        expect(Object.keys(compose.services[app].depends_on ?? {})).toContain('eventstore');
      } else {
        // vault keeps no events: it gets no event store settings.
        expect(env.AUTHPIPE_EVENT_STORE).toBeUndefined();
        expect(env.EVENTSTORE_URL).toBeUndefined();
      }
      expect(Object.keys(compose.services[app].depends_on ?? {})).toContain('nats');
    }
    expect(composeEnv('query-api')).toMatchObject({ AUTHPIPE_READ_MODELS: 'mongodb', MONGODB_URL: 'mongodb://mongo:27017/?replicaSet=rs0' });
    expect(Object.keys(compose.services['query-api'].depends_on ?? {})).toContain('mongo');
    // nats.conf grants vault its buckets under the default prefix.
    expect(rawEnvironment('vault').AUTHPIPE_VAULT_BUCKET_PREFIX).toBeUndefined();
  });

  it('publishes the HTTP ports of oauth-gateway (3000) and query-api (3001) only, and binds those apps to 0.0.0.0', () => {
    for (const service of services) {
      const ports = (compose.services[service].ports ?? []).map((p) => interpolate(p, {}));
      const app = service as App;
      if (HTTP_PORTS[app]) {
        expect(ports).toEqual([`127.0.0.1:${HTTP_PORTS[app]}:${HTTP_PORTS[app]}`]);
        expect(composeEnv(app).AUTHPIPE_BIND_HOST).toBe('0.0.0.0');
      } else {
        expect({ service, ports }).toEqual({ service, ports: [] });
      }
    }
    expect(interpolate(compose.services['oauth-gateway'].ports![0], { AUTHPIPE_PUBLISH_ADDRESS: '0.0.0.0' })).toBe('0.0.0.0:3000:3000');
  });
});

describe('Dockerfile and .dockerignore', () => {
  const stages = dockerfileStages();
  const stage = (name: string) => {
    const found = stages.find((s) => s.name === name);
    if (!found) throw new Error(`Dockerfile has no stage ${name}`);
    return found;
  };
  /** A stage's lines, its ancestors' included (FROM <stage>). */
  const inherited = (name: string): string[] => {
    const s = stage(name);
    const parent = stages.find((p) => p.name === s.from);
    return [...(parent ? inherited(parent.name) : []), ...s.lines];
  };

  it('builds on a pinned Node 20 bookworm-slim image: npm ci, npm run build, npm ci --omit=dev', () => {
    const source = read('Dockerfile');
    expect(source).toMatch(/^ARG NODE_VERSION=20\.\d+\.\d+$/m);
    expect(stage('base').from).toBe('node:${NODE_VERSION}-bookworm-slim');
    expect(stage('deps').lines).toContain('RUN npm ci --ignore-scripts');
    expect(inherited('build')).toContain('RUN npm run build');
    expect(stage('prod-deps').lines.some((l) => /^RUN npm ci --omit=dev\b/.test(l))).toBe(true);
  });

  it('has one target per app that runs its main.js as the node user in production mode, with a health check', () => {
    for (const app of APPS) {
      const lines = inherited(app);
      expect(stage(app).from).toBe('runtime');
      expect(lines).toContain('ENV NODE_ENV=production');
      expect(lines.filter((l) => l.startsWith('USER ')).at(-1)).toBe('USER node');
      expect(lines.filter((l) => l.startsWith('CMD ')).at(-1)).toBe(`CMD ["node", "dist/apps/${app}/src/main.js"]`);
      expect(lines.filter((l) => l.startsWith('HEALTHCHECK ')).at(-1)).toContain(`CMD ["node", "nats-healthcheck.js", "${app}"]`);
      // Its own compiled app only, beside the shared libraries.
      const copies = lines.filter((l) => l.startsWith('COPY --from=build'));
      expect(copies).toEqual([`COPY --from=build /app/dist/libs ./dist/libs`, `COPY --from=build /app/dist/apps/${app} ./dist/apps/${app}`]);
      expect(lines.includes('ENV AUTHPIPE_BIND_HOST=0.0.0.0')).toBe(HTTP_PORTS[app] !== undefined);
    }
    // Build-time only dependencies stay out of the runtime images.
    expect(inherited('runtime').some((l) => l.includes('--from=deps'))).toBe(false);
  });

  it('sends only what the Dockerfile copies to the build context', () => {
    const ignore = read('.dockerignore')
      .split('\n')
      .map((l) => l.trim())
      .filter((l) => l && !l.startsWith('#'));
    expect(ignore[0]).toBe('*');
    const included = ignore.filter((l) => l.startsWith('!')).map((l) => l.slice(1));
    const sources = stages
      .flatMap((s) => s.lines)
      .filter((l) => l.startsWith('COPY ') && !l.includes('--from='))
      .flatMap((l) => l.split(/\s+/).slice(1, -1).filter((t) => !t.startsWith('--')));
    expect(sources.length).toBeGreaterThan(5);
    for (const source of sources) {
      expect({ source, exists: existsSync(join(ROOT, source)) }).toEqual({ source, exists: true });
      expect({ source, sent: included.some((inc) => source === inc || source.startsWith(`${inc}/`)) }).toEqual({ source, sent: true });
    }
  });
});

describe('deploy/compose/nats.conf (static)', () => {
  it('gives each app a user with a password from the environment of the nats service, the same one the app gets', () => {
    expect(sorted(confUsers.map((u) => u.user))).toEqual(sorted(APPS));
    const authorization = natsConf.authorization as Record<string, unknown>;
    expect(Object.keys(authorization)).toEqual(['users']);
    expect(natsConf.no_auth_user).toBeUndefined();
    expect(natsConf.accounts).toBeUndefined();
    const natsServiceEnv = rawEnvironment('nats');
    for (const app of APPS) {
      const user = confUser(app)!;
      expect(typeof user.password).toBe('object');
      const variable = (user.password as { variable: string }).variable;
      // The nats container gets the variable from the same compose variable as the app's NATS_PASSWORD.
      expect({ app, variable, value: natsServiceEnv[variable] }).toEqual({ app, variable, value: rawEnvironment(app).NATS_PASSWORD });
    }
  });

  it("allows each app exactly the subjects of the policy: its own requests and health, its calls, its KV buckets", () => {
    for (const app of APPS) {
      const { publish, subscribe, allow_responses } = confUser(app)!.permissions;
      expect({ app, publish: sorted(publish.allow) }).toEqual({ app, publish: sorted(expectedPublish(app)) });
      expect({ app, subscribe: sorted(subscribe.allow) }).toEqual({ app, subscribe: sorted(expectedSubscribe(app)) });
      expect({ app, allow_responses }).toEqual({ app, allow_responses: true });
    }
  });

  it("grants every request that an app's code sends (RpcClient.request calls under apps/<app>/src)", () => {
    const sourceFiles = (dir: string): string[] =>
      readdirSync(join(ROOT, dir), { withFileTypes: true }).flatMap((e) =>
        e.isDirectory() ? sourceFiles(join(dir, e.name)) : e.name.endsWith('.ts') && !e.name.endsWith('.spec.ts') ? [join(dir, e.name)] : [],
      );
    const requestsIn = (dir: string): string[] =>
      sourceFiles(dir)
        .flatMap((file) => [...read(file).matchAll(/\.request\(\s*'(\w+)'/g)].map((m) => m[1]))
        .filter((name): name is RpcName => name in Rpc)
        .map((name) => Rpc[name].subject);
    for (const app of APPS) {
      const ungranted = sorted(new Set(requestsIn(`apps/${app}/src`).filter((subject) => !CALLS[app].includes(subject))));
      expect({ app, ungranted }).toEqual({ app, ungranted: [] });
    }
    expect(requestsIn('apps/oauth-gateway/src')).toContain(Rpc.vaultStoreCredential.subject);
    // Shared libraries send no request of their own, so the scan above sees them all.
    expect(requestsIn('libs')).toEqual([]);
  });

  it('every RPC subject is served by one app and can be sent only by its callers', () => {
    const canPublish = (app: App, subject: string) => confUser(app)!.permissions.publish.allow.some((p) => subjectMatches(p, subject));
    const canSubscribe = (app: App, subject: string) => confUser(app)!.permissions.subscribe.allow.some((p) => subjectMatches(p, subject));
    for (const { subject } of Object.values(Rpc) as { subject: string }[]) {
      expect({ subject, servers: APPS.filter((a) => canSubscribe(a, subject)) }).toEqual({
        subject,
        servers: APPS.filter((a) => SERVES[a].some((p) => subject.startsWith(`${p}.`))),
      });
      expect({ subject, callers: APPS.filter((a) => canPublish(a, subject)) }).toEqual({ subject, callers: APPS.filter((a) => CALLS[a].includes(subject)) });
    }
    // The two rules the brief names.
    expect(APPS.filter((a) => canPublish(a, Rpc.vaultReadCredential.subject))).toEqual(['query-api', 'refresher', 'health-monitor']);
    for (const subject of ['authpipe.query.api-key.authenticate', 'authpipe.query.anything', 'authpipe.refresher.refresh', 'authpipe.refresher.anything']) {
      expect({ subject, vault: canPublish('vault', subject) }).toEqual({ subject, vault: false });
    }
    expect(confUser('vault')!.permissions.publish.allow.filter((p) => p.startsWith('authpipe.'))).toEqual(['authpipe.vault.health']);
  });
});

// ======================================================================================================================

describe('deploy/compose/nats.conf on a real nats-server', () => {
  const codec = JSONCodec<unknown>();
  let dir: string;
  let server: ChildProcess;
  let serverLog = '';
  let url: string;
  let monitorPort: number;
  let vault: INestMicroservice | undefined;
  const connections: NatsConnection[] = [];
  const clients: RpcClient[] = [];

  const password = (app: App) => composeEnv(app).NATS_PASSWORD;
  const as = async (app: App): Promise<NatsConnection> => {
    const nc = await connect({ servers: url, user: app, pass: password(app), name: `deployment-test-${app}`, maxReconnectAttempts: 0 });
    connections.push(nc);
    return nc;
  };
  /** An RpcClient built the way the app builds it, from the environment compose gives it. */
  const rpcAs = (app: App): RpcClient => {
    const client = createRpcClient(loadConfig(CONFIG_CLASSES[app], { ...composeEnv(app), NATS_URL: url }), app);
    clients.push(client);
    return client;
  };

  type Outcome = 'answered' | 'denied' | 'no-responders' | 'timeout';
  /** A request as Nest's client sends it: answered, refused by the server's permissions, or unanswered. */
  async function ask(nc: NatsConnection, subject: string): Promise<Outcome> {
    try {
      await nc.request(subject, codec.encode({ pattern: subject, data: {}, id: randomBytes(6).toString('hex') }), { timeout: 3000 });
      return 'answered';
    } catch (err) {
      const code = (err as NatsError).code;
      if (code === 'PERMISSIONS_VIOLATION') return 'denied';
      if (code === '503') return 'no-responders';
      if (code === 'TIMEOUT') return 'timeout';
      throw err;
    }
  }
  /** Whether the server accepts a subscription of this user to the subject. */
  async function subscribeOutcome(nc: NatsConnection, subject: string): Promise<'allowed' | 'denied'> {
    let denied = false;
    const sub = nc.subscribe(subject, { callback: (err) => (denied ||= (err as NatsError | null)?.code === 'PERMISSIONS_VIOLATION') });
    await nc.flush();
    await new Promise((resolve) => setTimeout(resolve, 100));
    if (!sub.isClosed()) sub.unsubscribe();
    return denied ? 'denied' : 'allowed';
  }
  /** node deploy/compose/nats-healthcheck.js <app>, with the settings the app's container has. */
  function runHealthcheck(app: App): Promise<{ code: number | null; output: string }> {
    return new Promise((resolve) => {
      const child = spawn(process.execPath, [join(ROOT, HEALTHCHECK_JS), app], {
        cwd: ROOT,
        env: { PATH: process.env.PATH, NATS_URL: url, NATS_USER: composeEnv(app).NATS_USER, NATS_PASSWORD: password(app) },
        stdio: ['ignore', 'pipe', 'pipe'],
      });
      let output = '';
      child.stdout!.on('data', (c) => (output += c));
      child.stderr!.on('data', (c) => (output += c));
      child.once('exit', (code) => resolve({ code, output }));
    });
  }
  const violations = () => serverLog.split('\n').filter((l) => /Violation/.test(l));

  beforeAll(async () => {
    dir = mkdtempSync(join(tmpdir(), 'authpipe-compose-nats-'));
    const port = await freePort();
    monitorPort = await freePort();
    url = `nats://127.0.0.1:${port}`;
    // The committed file, with only where it listens and stores moved into this test's temp dir.
    const replaceOnce = (text: string, pattern: RegExp, by: string) => {
      if (!pattern.test(text)) throw new Error(`${NATS_CONF} no longer has ${pattern}`);
      return text.replace(pattern, by);
    };
    let conf = read(NATS_CONF);
    conf = replaceOnce(conf, /^port: 4222$/m, `listen: "127.0.0.1:${port}"`);
    conf = replaceOnce(conf, /^http: "127\.0\.0\.1:8222"$/m, `http: "127.0.0.1:${monitorPort}"`);
    conf = replaceOnce(conf, /store_dir: \/data\/jetstream/, `store_dir: "${join(dir, 'jetstream')}"`);
    writeFileSync(join(dir, 'nats.conf'), conf);
    // The nats container's environment as compose makes it: the passwords, nothing else.
    const natsEnv = interpolateAll(rawEnvironment('nats'), SECRETS);
    server = spawn(natsServerBinary(), ['-c', join(dir, 'nats.conf')], { env: { PATH: process.env.PATH, ...natsEnv }, stdio: ['ignore', 'ignore', 'pipe'] });
    await new Promise<void>((resolve, reject) => {
      const timer = setTimeout(() => reject(new Error(`nats-server did not start with ${NATS_CONF}: ${serverLog.slice(-800)}`)), 10_000);
      server.stderr!.on('data', (chunk: Buffer) => {
        serverLog += chunk.toString();
        if (serverLog.includes('Server is ready')) {
          clearTimeout(timer);
          resolve();
        }
      });
      server.once('exit', (code) => {
        clearTimeout(timer);
        reject(new Error(`nats-server exited with ${code} on ${NATS_CONF}: ${serverLog.slice(-800)}`));
      });
    });

    // The real vault, configured from compose (grace period 0: nothing is in flight when the test closes it).
    vault = await startVault(
      loadConfig(VaultConfig, { ...composeEnv('vault'), NATS_URL: url, AUTHPIPE_LOG_LEVEL: 'warn', AUTHPIPE_SHUTDOWN_GRACE_MS: '0' }),
    );
    // Stand-ins for the other apps' NATS servers, as their users: they answer on what the app serves and its health.
    for (const app of APPS.filter((a) => a !== 'vault')) {
      const nc = await as(app);
      for (const subject of [...SERVES[app].map((p) => `${p}.>`), healthSubject(app)]) {
        nc.subscribe(subject, {
          queue: app,
          callback: (err, msg) => {
            if (!err) msg.respond(codec.encode({ response: { app, status: 'ok', uptimeSeconds: 0 }, isDisposed: true }));
          },
        });
      }
      await nc.flush();
    }
  });

  afterAll(async () => {
    await Promise.all(clients.map((c) => c.close().catch(() => undefined)));
    await Promise.all(connections.map((c) => c.close().catch(() => undefined)));
    if (vault) await vault.close();
    if (server && server.exitCode === null) {
      await new Promise<void>((resolve) => {
        server.once('exit', () => resolve());
        server.kill('SIGTERM');
      });
    }
    if (dir) rmSync(dir, { recursive: true, force: true });
  });

  it('starts with the committed file and the generated passwords; the compose health check endpoint answers', async () => {
    const response = await fetch(`http://127.0.0.1:${monitorPort}/healthz`);
    expect(response.status).toBe(200);
  });

  it('each app container health check passes with its own user (vault: the real app)', async () => {
    // listen() can resolve before the server has seen vault's subscriptions: retry for a few seconds.
    const deadline = Date.now() + 5_000;
    let vaultCheck = await runHealthcheck('vault');
    while (vaultCheck.code !== 0 && Date.now() < deadline) {
      await new Promise((resolve) => setTimeout(resolve, 100));
      vaultCheck = await runHealthcheck('vault');
    }
    expect(vaultCheck).toEqual({ code: 0, output: 'healthy: authpipe.vault.health answered ok\n' });
    for (const app of APPS.filter((a) => a !== 'vault')) {
      expect(await runHealthcheck(app)).toEqual({ code: 0, output: `healthy: authpipe.${app}.health answered ok\n` });
    }
  });

  it('carries real requests between the apps through vault, with the RPC clients the apps build from compose', async () => {
    const tenantId = `org_${randomBytes(5).toString('hex')}`;
    const connectionId = connectionIdFor(tenantId, 'gmail', 'user-1');
    const clientSecret = `client-secret-${randomBytes(8).toString('hex')}`;
    const credential = { type: 'oauth2' as const, accessToken: `at-${randomBytes(8).toString('hex')}`, refreshToken: `rt-${randomBytes(8).toString('hex')}` };

    const [gateway, queryApi, refresher, healthMonitor] = (['oauth-gateway', 'query-api', 'refresher', 'health-monitor'] as const).map(rpcAs);
    await expect(queryApi.request('vaultStoreTenantSecret', { tenantId, ownerId: 'integration-gmail', field: 'client_secret', value: clientSecret })).resolves.toEqual({
      version: 1,
    });
    for (const [caller, client] of [
      ['oauth-gateway', gateway],
      ['refresher', refresher],
    ] as const) {
      await expect(client.request('vaultReadTenantSecret', { tenantId, ownerId: 'integration-gmail', field: 'client_secret', caller })).resolves.toEqual({
        version: 1,
        value: clientSecret,
      });
    }
    await expect(gateway.request('vaultStoreCredential', { tenantId, connectionId, provider: 'gmail', credential })).resolves.toEqual({ version: 1 });
    for (const [caller, client] of [
      ['query-api', queryApi],
      ['health-monitor', healthMonitor],
      ['refresher', refresher],
    ] as const) {
      await expect(client.request('vaultReadCredential', { tenantId, connectionId, caller })).resolves.toEqual({ version: 1, provider: 'gmail', credential });
    }
    const refreshed = { ...credential, accessToken: `at-${randomBytes(8).toString('hex')}` };
    await expect(refresher.request('vaultStoreCredential', { tenantId, connectionId, provider: 'gmail', credential: refreshed, expectedVersion: 1 })).resolves.toEqual({
      version: 2,
    });
  });

  it("runs oauth-gateway's JetStream KV flow store as its user", async () => {
    const store = await JetStreamKvFlowStore.open(await as('oauth-gateway'), { sessions: 600, requests: 600 });
    const expiresAt = new Date(Date.now() + 600_000).toISOString();
    const session = { tenantId: 'org_kv', provider: 'gmail', userId: 'user-1', scopes: ['email'], expiresAt };
    await store.putSession('session-hash', session);
    expect(await store.takeSession('session-hash')).toEqual(session);
    expect(await store.takeSession('session-hash')).toBeNull();
    const request = { ...session, redirectUri: 'http://localhost:3000/v1/oauth/callback/gmail', correlationId: 'c-1' };
    await store.putAuthorizationRequest('state-hash', request);
    expect(await store.takeAuthorizationRequest('state-hash')).toEqual(request);
  });

  // From here on, tests provoke violations on purpose.
  it('logged no permission violation for anything the apps did so far', () => {
    expect(violations()).toEqual([]);
  });

  it('lets each app send exactly the requests of the policy and get answers, and refuses every other one', async () => {
    const subjects = [...Object.values(Rpc).map((r) => r.subject), ...APPS.map(healthSubject)];
    const outcomes: Record<string, Record<string, Outcome>> = {};
    const expected: Record<string, Record<string, Outcome>> = {};
    await Promise.all(
      APPS.map(async (app) => {
        const nc = await as(app);
        const allowed = new Set([...CALLS[app], healthSubject(app)]);
        outcomes[app] = Object.fromEntries(await Promise.all(subjects.map(async (s) => [s, await ask(nc, s)] as const)));
        expected[app] = Object.fromEntries(subjects.map((s) => [s, allowed.has(s) ? 'answered' : 'denied']));
      }),
    );
    expect(outcomes).toEqual(expected);
  });

  it('refuses anonymous connections and wrong passwords', async () => {
    await expect(connect({ servers: url, maxReconnectAttempts: 0 })).rejects.toMatchObject({ code: 'AUTHORIZATION_VIOLATION' });
    await expect(connect({ servers: url, user: 'vault', pass: password('query-api'), maxReconnectAttempts: 0 })).rejects.toMatchObject({
      code: 'AUTHORIZATION_VIOLATION',
    });
  });

  it('vault cannot publish to other apps (authpipe.query.>, authpipe.refresher.>, events), nor touch streams beyond its buckets', async () => {
    const nc = await as('vault');
    for (const subject of [
      'authpipe.query.api-key.authenticate',
      'authpipe.query.anything',
      'authpipe.refresher.refresh',
      'authpipe.refresher.anything',
      'authpipe.oauth-gateway.health',
      'authpipe.events.anything',
      '$JS.API.STREAM.DELETE.KV_authpipe_vault_secrets',
      '$JS.API.STREAM.PURGE.KV_authpipe_vault_data_keys',
      '$JS.API.STREAM.INFO.KV_authpipe_connect_sessions',
      '$JS.API.STREAM.LIST',
      '$KV.authpipe_connect_sessions.x',
    ]) {
      expect({ subject, outcome: await ask(nc, subject) }).toEqual({ subject, outcome: 'denied' });
    }
  });

  it("no other app can read vault's buckets or serve (impersonate) another app's subjects", async () => {
    for (const app of APPS.filter((a) => a !== 'vault')) {
      const nc = await as(app);
      for (const subject of [
        '$JS.API.STREAM.MSG.GET.KV_authpipe_vault_secrets',
        '$JS.API.DIRECT.GET.KV_authpipe_vault_secrets.$KV.authpipe_vault_secrets.x',
        '$JS.API.STREAM.INFO.KV_authpipe_vault_data_keys',
        '$JS.API.CONSUMER.CREATE.KV_authpipe_vault_secrets',
        '$KV.authpipe_vault_secrets.x',
      ]) {
        expect({ app, subject, outcome: await ask(nc, subject) }).toEqual({ app, subject, outcome: 'denied' });
      }
      expect({ app, outcome: await subscribeOutcome(nc, '$KV.authpipe_vault_secrets.>') }).toEqual({ app, outcome: 'denied' });
    }
    const subjects = [...Object.values(Rpc).map((r) => r.subject), ...APPS.map(healthSubject)];
    const outcomes: Record<string, Record<string, string>> = {};
    const expected: Record<string, Record<string, string>> = {};
    await Promise.all(
      APPS.map(async (app) => {
        const nc = await as(app);
        const own = (subject: string) => SERVES[app].some((p) => subject.startsWith(`${p}.`)) || subject === healthSubject(app);
        outcomes[app] = Object.fromEntries(await Promise.all(subjects.map(async (s) => [s, await subscribeOutcome(nc, s)] as const)));
        expected[app] = Object.fromEntries(subjects.map((s) => [s, own(s) ? 'allowed' : 'denied']));
      }),
    );
    expect(outcomes).toEqual(expected);
    expect(violations().length).toBeGreaterThan(0);
  });
});
