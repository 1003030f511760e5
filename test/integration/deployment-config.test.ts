import 'reflect-metadata';
import { ChildProcess, spawn, spawnSync } from 'node:child_process';
import { randomBytes } from 'node:crypto';
import { existsSync, mkdtempSync, readdirSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { FactoryProvider, INestMicroservice } from '@nestjs/common';
import { getMetadataStorage, ValidationTypes } from 'class-validator';
import { AckPolicy, connect, ConnectionOptions, JSONCodec, NatsConnection, NatsError } from 'nats';
// `yaml` comes with testcontainers (docker-compose); it is not a direct dependency of the project.
import { parse as parseYaml } from 'yaml';
import { loadConfig, PlatformConfig } from '@authpipe/config';
import {
  AUDIT_STREAM,
  AUDIT_SUBJECT_PREFIX,
  connectionIdFor,
  connectionStream,
  createEvent,
  healthSubject,
  INTEGRATION_STREAM,
  INTEGRATION_SUBJECT_PREFIX,
  IntegrationEventMessage,
  RecordedEvent,
  Rpc,
  RpcName,
  tenantStream,
} from '@authpipe/contracts';
import type { EventStore, EventSubscription } from '@authpipe/event-store';
import { connectNats, createRpcClient, inboxPrefix, natsServerOptions, RpcClient } from '@authpipe/messaging';
import { HealthMonitorConfig } from '../../apps/health-monitor/src/health-monitor.config';
import { JetStreamKvFlowStore } from '../../apps/oauth-gateway/src/flow-store/jetstream-kv-flow-store';
import { GatewayConfig } from '../../apps/oauth-gateway/src/gateway.config';
import { JetStreamAuditLog as AuditReader } from '../../apps/query-api/src/audit/jetstream-audit-log';
import { QueryApiConfig } from '../../apps/query-api/src/query-api.config';
import { INTEGRATION_RELAY, integrationRelayProviders } from '../../apps/query-api/src/relay/integration-relay.runner';
import { IntegrationRelay, RELAY_CHECKPOINT_BUCKET } from '../../apps/query-api/src/relay/integration-relay';
import { JetStreamKvRefreshLock } from '../../apps/refresher/src/lock/jetstream-kv/jetstream-kv-refresh-lock';
import { RefresherConfig } from '../../apps/refresher/src/refresher.config';
import { LocalKeyRing } from '../../apps/vault/src/crypto/local-key-ring';
import { vaultBucketNames } from '../../apps/vault/src/storage/jetstream-kv-secret-store';
import { startVault } from '../../apps/vault/src/start-vault';
import { VaultConfig } from '../../apps/vault/src/vault.config';
import { freePort, natsServerBinary } from '../support/nats-server';

/*
 * The deployment files (Dockerfile, .dockerignore, docker-compose.yml, deploy/compose/) checked without a container
 * engine: statically against the apps' config classes and the RPC contracts, and deploy/compose/nats.conf on a real
 * nats-server, with the real vault, the real RPC clients and the apps' real JetStream code paths (KV stores, the
 * refresh lock, the audit writer and reader, the integration event relay) connecting as their users, through the
 * connections libs/messaging opens (each with its app's inbox prefix).
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
 * be able to send. A test below checks that the requests in an app's code are exactly these.
 */
const CALLS: Record<App, string[]> = {
  // Connect flows store the credential (OAuth and API-key connect); the session flow reads the client secret.
  'oauth-gateway': ['authpipe.vault.credential.store', 'authpipe.vault.secret.read', 'authpipe.query.api-key.authenticate', 'authpipe.query.integration.get'],
  vault: [],
  // Credentials API and on-demand refresh; integrations (client secrets); disconnect (reads the credential and the
  // client secret to revoke at the provider, then erases); tenant administration (key rotation, rewrap, erasure).
  'query-api': [
    'authpipe.vault.credential.read',
    'authpipe.vault.credential.erase',
    'authpipe.vault.secret.store',
    'authpipe.vault.secret.read',
    'authpipe.vault.secret.erase',
    'authpipe.vault.keys.rotate-tenant',
    'authpipe.vault.keys.rewrap.start',
    'authpipe.vault.keys.rewrap.status',
    'authpipe.vault.tenant.erase',
    'authpipe.refresher.refresh',
  ],
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
 * JetStream KV buckets each app opens, and how it reads them: buckets created with direct get (the client's default)
 * are read that way, those created with allow_direct off (JetStreamKvSecretStore, JetStreamKvRefreshLock) through
 * the stream leader. `listed`: the app lists keys (an ephemeral ordered consumer on the bucket's stream).
 */
interface BucketUse {
  name: string;
  read: 'direct' | 'leader';
  listed?: boolean;
}
const BUCKETS: Record<App, BucketUse[]> = {
  'oauth-gateway': ['authpipe_connect_sessions', 'authpipe_oauth_states'].map((name) => ({ name, read: 'direct' as const })),
  // Rewrap lists both buckets; tenant erasure lists the tenant's secrets.
  vault: Object.values(vaultBucketNames(new VaultConfig().AUTHPIPE_VAULT_BUCKET_PREFIX)).map((name) => ({ name, read: 'leader' as const, listed: true })),
  // The integration relay's checkpoints.
  'query-api': [{ name: RELAY_CHECKPOINT_BUCKET, read: 'direct' }],
  // The refresh lock (REFRESH_LOCK=jetstream-kv, the default).
  refresher: [{ name: new RefresherConfig().REFRESH_LOCK_BUCKET, read: 'leader' }],
  'health-monitor': [],
};

/**
 * JetStream streams (other than KV buckets) each app uses. A writer publishes to the stream's subjects and creates it
 * when absent; a reader reads through one ephemeral consumer per read (create, info, next, delete).
 */
interface StreamUse {
  stream: string;
  writes?: string;
  reads?: true;
}
const STREAMS: Record<App, StreamUse[]> = {
  'oauth-gateway': [],
  // The audit of secret reads, written before each read is answered.
  vault: [{ stream: AUDIT_STREAM, writes: `${AUDIT_SUBJECT_PREFIX}.>` }],
  // The integration event relay, and the audit API's reader.
  'query-api': [
    { stream: INTEGRATION_STREAM, writes: `${INTEGRATION_SUBJECT_PREFIX}.>` },
    { stream: AUDIT_STREAM, reads: true },
  ],
  refresher: [],
  'health-monitor': [],
};

/** Apps whose platform providers open an event store (vault keeps none). */
const EVENT_STORE_APPS: App[] = ['oauth-gateway', 'query-api', 'refresher', 'health-monitor'];
const HTTP_PORTS: Partial<Record<App, number>> = { 'oauth-gateway': 3000, 'query-api': 3001 };

const kvApi = ({ name, read, listed }: BucketUse): string[] => [
  `$JS.API.STREAM.INFO.KV_${name}`,
  `$JS.API.STREAM.CREATE.KV_${name}`,
  read === 'direct' ? `$JS.API.DIRECT.GET.KV_${name}.>` : `$JS.API.STREAM.MSG.GET.KV_${name}`,
  ...(listed ? [`$JS.API.CONSUMER.CREATE.KV_${name}`] : []),
  `$KV.${name}.>`,
];
const consumerApi = (stream: string): string[] => [
  `$JS.API.CONSUMER.CREATE.${stream}`,
  `$JS.API.CONSUMER.INFO.${stream}.*`,
  `$JS.API.CONSUMER.MSG.NEXT.${stream}.*`,
  `$JS.API.CONSUMER.DELETE.${stream}.*`,
];
const streamApi = ({ stream, writes, reads }: StreamUse): string[] => [
  `$JS.API.STREAM.INFO.${stream}`,
  ...(writes ? [`$JS.API.STREAM.CREATE.${stream}`, writes] : []),
  ...(reads ? consumerApi(stream) : []),
];
const usesJetStream = (app: App) => BUCKETS[app].length + STREAMS[app].length > 0;
const expectedPublish = (app: App): string[] => [
  ...CALLS[app],
  healthSubject(app),
  ...(usesJetStream(app) ? ['$JS.API.INFO'] : []),
  ...BUCKETS[app].flatMap(kvApi),
  ...STREAMS[app].flatMap(streamApi),
];
/** Each user's replies come to its own inbox prefix (libs/messaging inboxPrefix), and it may read no other inbox. */
const ownInbox = (user: string) => `_INBOX_${user}.>`;
const expectedSubscribe = (app: App): string[] => [...new Set([...SERVES[app].map((p) => `${p}.>`), `authpipe.${app}.>`, ownInbox(app)])];

/**
 * The `integrations` user, for outside subscribers of the integration events: named consumers (durable or not) on
 * AUTHPIPE_INTEGRATION, created, inspected, pulled from and acked, replies to its own inbox prefix. Nothing else: no
 * stream API (so no ordered consumer, which looks the stream up), no consumer deletion, no authpipe.* subject.
 */
const INTEGRATIONS = 'integrations';
const INTEGRATIONS_PERMISSIONS = {
  publish: [
    '$JS.API.INFO',
    `$JS.API.CONSUMER.CREATE.${INTEGRATION_STREAM}`,
    `$JS.API.CONSUMER.CREATE.${INTEGRATION_STREAM}.>`,
    `$JS.API.CONSUMER.INFO.${INTEGRATION_STREAM}.*`,
    `$JS.API.CONSUMER.MSG.NEXT.${INTEGRATION_STREAM}.*`,
    `$JS.ACK.${INTEGRATION_STREAM}.>`,
  ],
  subscribe: [ownInbox(INTEGRATIONS)],
};
const USERS = [...APPS, INTEGRATIONS];

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

  it('is a compose file of the expected shape (Compose\'s own check: compose-lint.test.ts)', () => {
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
    // nats.conf grants vault its buckets under the default prefix, the refresher its lock bucket (the JetStream KV
    // lock, the default) and query-api the relay's stream and checkpoints (the relay is on by default).
    expect(rawEnvironment('vault').AUTHPIPE_VAULT_BUCKET_PREFIX).toBeUndefined();
    const refresher = loadConfig(RefresherConfig, composeEnv('refresher'));
    expect({ lock: refresher.REFRESH_LOCK, bucket: refresher.REFRESH_LOCK_BUCKET }).toEqual({ lock: 'jetstream-kv', bucket: BUCKETS.refresher[0].name });
    expect(loadConfig(QueryApiConfig, composeEnv('query-api')).INTEGRATION_RELAY).toBe('on');
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
      // Every app listens on the container's interfaces: the HTTP API, or health and metrics on HEALTH_PORT.
      expect(lines.includes('ENV AUTHPIPE_BIND_HOST=0.0.0.0')).toBe(true);
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
    expect(sorted(confUsers.map((u) => u.user))).toEqual(sorted(USERS));
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
    // The integrations user: no app uses it, its password is required all the same (an empty one would let anyone
    // in: nats-server takes it as no password), and generate-env.sh makes one.
    const integrations = confUser(INTEGRATIONS)!;
    expect(integrations.password).toEqual({ variable: 'AUTHPIPE_NATS_PASSWORD_INTEGRATIONS' });
    expect(natsServiceEnv.AUTHPIPE_NATS_PASSWORD_INTEGRATIONS).toMatch(/^\$\{AUTHPIPE_NATS_PASSWORD_INTEGRATIONS:\?[^}]+\}$/);
    expect(SECRETS.AUTHPIPE_NATS_PASSWORD_INTEGRATIONS).toMatch(/^[A-Za-z][A-Za-z0-9]{15,}$/);
    expect(new Set(Object.values(SECRETS)).size).toBe(Object.keys(SECRETS).length);
  });

  it('allows each app exactly the subjects of the policy: its own requests and health, its calls, its KV buckets and streams', () => {
    for (const app of APPS) {
      const { publish, subscribe, allow_responses } = confUser(app)!.permissions;
      expect({ app, publish: sorted(publish.allow) }).toEqual({ app, publish: sorted(expectedPublish(app)) });
      expect({ app, subscribe: sorted(subscribe.allow) }).toEqual({ app, subscribe: sorted(expectedSubscribe(app)) });
      expect({ app, allow_responses }).toEqual({ app, allow_responses: true });
      expect({ app, deny: [publish.deny, subscribe.deny] }).toEqual({ app, deny: [undefined, undefined] });
    }
    // Outside subscribers: consumers on the integration stream, and their own inbox. They answer no request.
    const { publish, subscribe, allow_responses } = confUser(INTEGRATIONS)!.permissions;
    expect({ publish: sorted(publish.allow), subscribe: sorted(subscribe.allow), allow_responses }).toEqual({
      publish: sorted(INTEGRATIONS_PERMISSIONS.publish),
      subscribe: sorted(INTEGRATIONS_PERMISSIONS.subscribe),
      allow_responses: undefined,
    });
  });

  it("gives each user its own inbox prefix, the one the app's connections use, and no other inbox", () => {
    for (const app of APPS) {
      const config = loadConfig(CONFIG_CLASSES[app], composeEnv(app));
      // Nest's RPC client and server, and the raw connection (vault's is named vault-store): all the same prefix.
      const prefixes = new Set([inboxPrefix(config, app), inboxPrefix(config, `${app}-store`), natsServerOptions(config, app).options?.inboxPrefix]);
      expect({ app, prefixes: [...prefixes] }).toEqual({ app, prefixes: [`_INBOX_${app}`] });
    }
    for (const user of USERS) {
      const { publish, subscribe } = confUser(user)!.permissions;
      expect({ user, inboxes: subscribe.allow.filter((p) => p.startsWith('_INBOX') || p.startsWith('>') || p.startsWith('*')) }).toEqual({
        user,
        inboxes: [ownInbox(user)],
      });
      expect({ user, publishToInbox: publish.allow.filter((p) => p.startsWith('_INBOX') || p.startsWith('>') || p.startsWith('*')) }).toEqual({
        user,
        publishToInbox: [],
      });
    }
    // The container health check uses the same rule: it passes below, on the real server.
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
    // Every request call names its RPC literally, so the scan sees them all (no request(name) through a variable).
    const unreadable = (dir: string): string[] =>
      sourceFiles(dir).flatMap((file) =>
        [...read(file).matchAll(/\.request\s*(?:<[^>()]*>)?\(\s*([^,)]*)/g)]
          .map((m) => m[1].trim())
          .filter((arg) => !(/^'(\w+)'$/.test(arg) && arg.slice(1, -1) in Rpc))
          .map((arg) => `${file}: request(${arg}`),
      );
    for (const app of APPS) {
      expect({ app, unreadable: unreadable(`apps/${app}/src`) }).toEqual({ app, unreadable: [] });
      const sent = new Set(requestsIn(`apps/${app}/src`));
      const ungranted = sorted([...sent].filter((subject) => !CALLS[app].includes(subject)));
      // And nothing is granted that the code does not send.
      const unused = sorted(CALLS[app].filter((subject) => !sent.has(subject)));
      expect({ app, ungranted, unused }).toEqual({ app, ungranted: [], unused: [] });
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
    expect(confUser('vault')!.permissions.publish.allow.filter((p) => p.startsWith('authpipe.'))).toEqual(['authpipe.vault.health', 'authpipe.audit.reads.>']);
    expect(confUser(INTEGRATIONS)!.permissions.publish.allow.filter((p) => p.startsWith('authpipe.'))).toEqual([]);
  });

  it('each bucket and stream is written and managed by its owner only, and read only by the apps of the policy', () => {
    const canPublish = (user: string, subject: string) => confUser(user)!.permissions.publish.allow.some((p) => subjectMatches(p, subject));
    /** A concrete subject that a granted pattern covers. */
    const example = (pattern: string) => pattern.replace(/\*/g, 'x').replace(/>$/, 'x.y');
    const who = (subject: string) => USERS.filter((u) => canPublish(u, subject));
    for (const app of APPS) {
      for (const bucket of BUCKETS[app]) {
        for (const subject of [...kvApi(bucket), `$JS.API.CONSUMER.CREATE.KV_${bucket.name}`, `$JS.API.STREAM.DELETE.KV_${bucket.name}`].map(example)) {
          expect({ subject, users: who(subject) }).toEqual({ subject, users: kvApi(bucket).map(example).includes(subject) ? [app] : [] });
        }
      }
    }
    const audit = `${AUDIT_SUBJECT_PREFIX}.org_x`;
    const integration = `${INTEGRATION_SUBJECT_PREFIX}.org_x.gmail.Revoked`;
    expect({
      [audit]: who(audit),
      [integration]: who(integration),
      createAudit: who(`$JS.API.STREAM.CREATE.${AUDIT_STREAM}`),
      createIntegration: who(`$JS.API.STREAM.CREATE.${INTEGRATION_STREAM}`),
      readAudit: who(`$JS.API.CONSUMER.CREATE.${AUDIT_STREAM}`),
      readIntegration: who(`$JS.API.CONSUMER.CREATE.${INTEGRATION_STREAM}`),
      ackIntegration: who(`$JS.ACK.${INTEGRATION_STREAM}.c.1.1.1.1.0`),
      ackAudit: who(`$JS.ACK.${AUDIT_STREAM}.c.1.1.1.1.0`),
      anyStreamDeleteOrPurge: [AUDIT_STREAM, INTEGRATION_STREAM].flatMap((s) => [...who(`$JS.API.STREAM.DELETE.${s}`), ...who(`$JS.API.STREAM.PURGE.${s}`)]),
      msgDelete: [AUDIT_STREAM, INTEGRATION_STREAM].flatMap((s) => who(`$JS.API.STREAM.MSG.DELETE.${s}`)),
    }).toEqual({
      [audit]: ['vault'],
      [integration]: ['query-api'],
      createAudit: ['vault'],
      createIntegration: ['query-api'],
      readAudit: ['query-api'],
      readIntegration: [INTEGRATIONS],
      ackIntegration: [INTEGRATIONS],
      ackAudit: [],
      anyStreamDeleteOrPurge: [],
      msgDelete: [],
    });
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
  const relays: IntegrationRelay[] = [];

  const password = (user: string) => (user === INTEGRATIONS ? SECRETS.AUTHPIPE_NATS_PASSWORD_INTEGRATIONS : composeEnv(user).NATS_PASSWORD);
  /** An app's config as compose gives it, pointed at this test's server. */
  const configOf = <C extends PlatformConfig>(app: App, schema: new () => C = CONFIG_CLASSES[app] as new () => C): C =>
    loadConfig(schema, { ...composeEnv(app), NATS_URL: url });
  /** The app's own NATS connection, opened as the app opens it (libs/messaging connectNats: its user, its inbox prefix). */
  const as = async (app: App): Promise<NatsConnection> => {
    const nc = await connectNats(configOf(app), app);
    connections.push(nc);
    return nc;
  };
  /** A plain connection as a user, with the options given (no inbox prefix: nats.js's default `_INBOX`). */
  const raw = async (user: string, options: ConnectionOptions = {}): Promise<NatsConnection> => {
    const nc = await connect({ servers: url, user, pass: password(user), name: `deployment-test-${user}`, maxReconnectAttempts: 0, ...options });
    connections.push(nc);
    return nc;
  };
  /** An outside subscriber, connected as the README says: the integrations user and its inbox prefix. */
  const asIntegrations = () => raw(INTEGRATIONS, { inboxPrefix: `_INBOX_${INTEGRATIONS}` });
  /** An RpcClient built the way the app builds it, from the environment compose gives it. */
  const rpcAs = (app: App): RpcClient => {
    const client = createRpcClient(configOf(app), app);
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
  /** Whether the server accepts a subscription of this user to the subject; `received` counts what it got meanwhile. */
  async function subscribeOutcome(nc: NatsConnection, subject: string, waitMs = 100, received?: { count: number }): Promise<'allowed' | 'denied'> {
    let denied = false;
    const sub = nc.subscribe(subject, {
      callback: (err) => {
        if (err) denied ||= (err as NatsError).code === 'PERMISSIONS_VIOLATION';
        else if (received) received.count++;
      },
    });
    await nc.flush();
    await new Promise((resolve) => setTimeout(resolve, waitMs));
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
  async function waitFor<T>(what: string, probe: () => Promise<T | undefined>, timeoutMs = 10_000): Promise<T> {
    const deadline = Date.now() + timeoutMs;
    for (;;) {
      const value = await probe();
      if (value !== undefined) return value;
      if (Date.now() > deadline) throw new Error(`timed out waiting for ${what}; violations: ${JSON.stringify(violations())}`);
      await new Promise((resolve) => setTimeout(resolve, 50));
    }
  }

  /** An event store holding the given events, for the relay (EventStoreDB is what compose runs; not needed here). */
  function storeOf(events: RecordedEvent[]): EventStore {
    return {
      appendToStream: () => Promise.reject(new Error('read-only test store')),
      readStream: async () => [],
      close: async () => undefined,
      subscribeToAll(handler, options = {}): EventSubscription {
        let stopped = false;
        let close!: () => void;
        let fail!: (err: unknown) => void;
        const closed = new Promise<void>((resolve, reject) => ((close = resolve), (fail = reject)));
        const caughtUp = (async () => {
          for (const event of events) {
            if (stopped) return;
            if (options.fromPosition === undefined || event.position > options.fromPosition) await handler(event);
          }
        })();
        caughtUp.catch(fail);
        return {
          caughtUp,
          closed,
          stop: async () => {
            stopped = true;
            await caughtUp.catch(() => undefined);
            close();
          },
        };
      },
    };
  }

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

    // The real vault, configured from compose (grace period 0: nothing is in flight when the test closes it). It
    // opens its buckets and creates the audit stream as its user.
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
    await Promise.all(relays.map((r) => r.stop().catch(() => undefined)));
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

  const tenantId = `org_${randomBytes(5).toString('hex')}`;
  const connectionId = connectionIdFor(tenantId, 'gmail', 'user-1');

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

  it('carries real requests between the apps through vault, with the RPC clients the apps build from compose (reads audited)', async () => {
    const clientSecret = `client-secret-${randomBytes(8).toString('hex')}`;
    const credential = { type: 'oauth2' as const, accessToken: `at-${randomBytes(8).toString('hex')}`, refreshToken: `rt-${randomBytes(8).toString('hex')}` };
    const secret = { tenantId, ownerId: 'integration-gmail', field: 'client_secret' as const };

    const [gateway, queryApi, refresher, healthMonitor] = (['oauth-gateway', 'query-api', 'refresher', 'health-monitor'] as const).map(rpcAs);
    await expect(queryApi.request('vaultStoreTenantSecret', { ...secret, value: clientSecret })).resolves.toEqual({ version: 1 });
    for (const [caller, client] of [
      ['oauth-gateway', gateway],
      ['refresher', refresher],
      ['query-api:disconnect', queryApi],
    ] as const) {
      await expect(client.request('vaultReadTenantSecret', { ...secret, caller })).resolves.toEqual({ version: 1, value: clientSecret });
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
    // query-api's other requests to the refresher: answered by the stand-in.
    await expect(queryApi.request('refresherRefresh', { tenantId, connectionId, trigger: 'on_demand' })).resolves.toBeDefined();
  });

  it("runs vault's key administration for query-api: rotation, the rewrap (which lists both buckets), erasures (tenant erasure lists and purges)", async () => {
    const queryApi = rpcAs('query-api');
    const gateway = rpcAs('oauth-gateway');
    await expect(queryApi.request('vaultRotateTenantKey', { tenantId })).resolves.toEqual({ tenantId, activeVersion: 2 });
    await queryApi.request('vaultStartRewrap', {});
    const done = await waitFor('the rewrap to finish', async () => {
      const status = await queryApi.request('vaultRewrapStatus', {});
      return status.state === 'done' || status.state === 'failed' ? status : undefined;
    });
    expect(done).toMatchObject({ state: 'done', failed: 0 });
    expect(done.total).toBeGreaterThanOrEqual(3); // the tenant's data keys, its credential and its client secret

    // Disconnect and integration removal: erase one record each.
    await expect(queryApi.request('vaultEraseCredential', { tenantId, connectionId })).resolves.toBeDefined();
    await expect(queryApi.request('vaultEraseTenantSecret', { tenantId, ownerId: 'integration-gmail', field: 'client_secret' })).resolves.toBeDefined();
    await expect(queryApi.request('vaultReadCredential', { tenantId, connectionId, caller: 'query-api' })).rejects.toMatchObject({ code: 'NOT_FOUND' });

    // Tenant erasure, on another tenant with records left to purge.
    const erased = `org_${randomBytes(5).toString('hex')}`;
    const erasedConnection = connectionIdFor(erased, 'gmail', 'user-2');
    await gateway.request('vaultStoreCredential', { tenantId: erased, connectionId: erasedConnection, provider: 'gmail', credential: { type: 'api_key', apiKey: 'k-1' } });
    await queryApi.request('vaultStoreTenantSecret', { tenantId: erased, ownerId: 'integration-gmail', field: 'client_secret', value: 'cs-2' });
    await expect(queryApi.request('vaultEraseTenant', { tenantId: erased })).resolves.toMatchObject({ tenantId: erased });
    await expect(queryApi.request('vaultReadCredential', { tenantId: erased, connectionId: erasedConnection, caller: 'query-api' })).rejects.toBeDefined();
  });

  it("runs query-api's audit reader as its user: pages of one tenant's audited reads", async () => {
    const reader = new AuditReader(await as('query-api'));
    const all = await reader.list(tenantId, { limit: 100 });
    expect(all.items.map((r) => `${r.kind}:${r.caller}`)).toEqual([
      'tenant_secret:oauth-gateway',
      'tenant_secret:refresher',
      'tenant_secret:query-api:disconnect',
      'credential:query-api',
      'credential:health-monitor',
      'credential:refresher',
    ]);
    expect(all.next).toBeUndefined();
    expect((await reader.list(tenantId, { limit: 2 })).items).toEqual(all.items.slice(0, 2));
    expect((await reader.list(tenantId, { limit: 2, after: all.items[1].seq })).items).toEqual(all.items.slice(2, 4));
    expect((await reader.list(tenantId, { limit: 10, since: new Date(all.items[3].at) })).items).toEqual(all.items.slice(3));
    expect((await reader.list(tenantId, { limit: 10, connectionId })).items).toEqual(all.items.slice(3));
    // Each page deleted its consumer.
    expect((await (await (await as('vault')).jetstreamManager()).streams.info(AUDIT_STREAM)).state.consumer_count).toBe(0);
  });

  it("runs query-api's integration relay as its user, and an outside subscriber reads the events as the integrations user", async () => {
    let minute = 0;
    // Revisions count within each stream (the relay handles a stream's events in revision order, once each).
    const recorded = (streamId: string, event: Parameters<typeof createEvent>[0], position: bigint, revision = 0n): RecordedEvent =>
      ({
        ...createEvent(event, { correlationId: `c-${position}`, producer: 'deployment-test', now: new Date(Date.UTC(2026, 5, 1, 10, minute++)) }),
        streamId,
        revision,
        position,
      }) as RecordedEvent;
    const events = [
      recorded(tenantStream(tenantId), { type: 'TenantCreated', data: { tenantId, name: 'Deployment' } }, 1n),
      recorded(
        connectionStream(connectionId),
        {
          type: 'Connected',
          data: { connectionId, tenantId, provider: 'gmail', userId: 'user-1', scopes: ['openid'], expiresAt: null, refreshable: false, credentialVersion: 1 },
        },
        2n,
      ),
      recorded(
        connectionStream(connectionId),
        { type: 'Revoked', data: { connectionId, tenantId, provider: 'gmail', reason: 'probe_unauthorized', detectedBy: 'health-monitor' } },
        3n,
        1n,
      ),
    ];
    // The relay as query-api's module wires it, on query-api's own connection.
    const startRelay = async (upTo: RecordedEvent[]) => {
      const [provider] = integrationRelayProviders(configOf('query-api', QueryApiConfig)) as FactoryProvider[];
      expect(provider.provide).toBe(INTEGRATION_RELAY);
      const relay = (await provider.useFactory(await as('query-api'), storeOf(upTo))) as IntegrationRelay;
      relays.push(relay);
      relay.start();
      let timer: NodeJS.Timeout | undefined;
      await Promise.race([
        relay.caughtUp,
        new Promise((_, reject) => (timer = setTimeout(() => reject(new Error(`relay did not catch up; violations: ${JSON.stringify(violations())}`)), 10_000))),
      ]).finally(() => clearTimeout(timer));
      await relay.stop();
      return relay;
    };
    expect((await startRelay(events.slice(0, 2))).position).toBe(2n);
    // Restarted with one more event: it resumes from its checkpoint (read back from its bucket) and saves the next.
    expect((await startRelay(events)).position).toBe(3n);

    // The outside subscriber, as deploy/compose/README.md says: a durable consumer, pulled and acked.
    const nc = await asIntegrations();
    const jsm = await nc.jetstreamManager();
    const durable = `deployment-test-${randomBytes(3).toString('hex')}`;
    await jsm.consumers.add(INTEGRATION_STREAM, { durable_name: durable, ack_policy: AckPolicy.Explicit, filter_subject: `${INTEGRATION_SUBJECT_PREFIX}.${tenantId}.>` });
    const consumer = await nc.jetstream().consumers.get(INTEGRATION_STREAM, durable);
    const received: IntegrationEventMessage[] = [];
    for await (const m of await consumer.fetch({ max_messages: 10, expires: 1_000 })) {
      received.push(m.json<IntegrationEventMessage>());
      m.ack();
    }
    expect(received.map((e) => [e.type, e.tenantId, e.connectionId])).toEqual([
      ['Connected', tenantId, connectionId],
      ['Revoked', tenantId, connectionId],
    ]);
    await waitFor('the acks', async () => ((await consumer.info()).num_ack_pending === 0 ? true : undefined));
    expect((await consumer.info()).num_pending).toBe(0);
  });

  it("runs the refresher's JetStream KV refresh lock as its user", async () => {
    const config = configOf('refresher', RefresherConfig);
    const open = async (owner: string) =>
      JetStreamKvRefreshLock.open(await as('refresher'), {
        bucket: config.REFRESH_LOCK_BUCKET,
        replicas: config.REFRESH_LOCK_KV_REPLICAS,
        leaseMs: config.REFRESH_LOCK_LEASE_MS,
        owner,
      });
    const [a, b] = [await open('replica-a'), await open('replica-b')];
    const now = Date.now();
    const first = await a.tryAcquire(connectionId, now);
    if (!first.acquired) throw new Error('expected the lock');
    expect(await b.tryAcquire(connectionId, now)).toMatchObject({ acquired: false, holder: 'replica-a' });
    const renewed = await a.renew(first.lease, now + 1);
    expect(renewed!.token).toBeGreaterThan(first.lease.token);
    expect(await a.release(renewed!)).toBe(true);
    expect(await b.tryAcquire(connectionId, now + 2)).toMatchObject({ acquired: true });
  });

  it("runs oauth-gateway's JetStream KV flow store as its user", async () => {
    const store = await JetStreamKvFlowStore.open(await as('oauth-gateway'), { sessions: 600, requests: 600 });
    const expiresAt = new Date(Date.now() + 600_000).toISOString();
    const session = { tenantId: 'org_kv', provider: 'gmail', userId: 'user-1', scopes: ['email'], expiresAt };
    await store.putSession('session-hash', session);
    expect(await store.peekSession('session-hash')).toEqual(session);
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

  it("lets no user read another's replies: each may subscribe to its own inbox prefix only", async () => {
    // A credential read by query-api while every other user tries to listen in.
    const gateway = rpcAs('oauth-gateway');
    const snooped = `org_${randomBytes(5).toString('hex')}`;
    const snoopedConnection = connectionIdFor(snooped, 'gmail', 'user-3');
    const accessToken = `at-${randomBytes(8).toString('hex')}`;
    await gateway.request('vaultStoreCredential', { tenantId: snooped, connectionId: snoopedConnection, provider: 'gmail', credential: { type: 'oauth2', accessToken } });

    const outcomes: Record<string, Record<string, string>> = {};
    const expected: Record<string, Record<string, string>> = {};
    const heard = { count: 0 };
    const reading = new Promise((resolve) => setTimeout(resolve, 150)).then(() =>
      rpcAs('query-api').request('vaultReadCredential', { tenantId: snooped, connectionId: snoopedConnection, caller: 'query-api' }),
    );
    await Promise.all(
      USERS.map(async (user) => {
        const nc = await raw(user);
        const subjects = ['_INBOX.>', '_INBOX.abc', '>', '_INBOX_*.>', ...USERS.map(ownInbox)];
        outcomes[user] = Object.fromEntries(
          await Promise.all(subjects.map(async (s) => [s, await subscribeOutcome(nc, s, 400, s === ownInbox(user) ? undefined : heard)] as const)),
        );
        expected[user] = Object.fromEntries(subjects.map((s) => [s, s === ownInbox(user) ? 'allowed' : 'denied']));
      }),
    );
    await expect(reading).resolves.toMatchObject({ credential: { accessToken } });
    expect(outcomes).toEqual(expected);
    expect(heard.count).toBe(0);

    // No one may publish into an inbox (a forged reply), its own included.
    for (const user of USERS) {
      const nc = await raw(user);
      for (const subject of ['_INBOX.x', '_INBOX_vault.x', '_INBOX_query-api.x', `_INBOX_${user}.x`]) {
        expect({ user, subject, outcome: await ask(nc, subject) }).toEqual({ user, subject, outcome: 'denied' });
      }
    }
    // A client left on nats.js's default prefix gets no reply at all: its inbox subscription is refused.
    expect(await ask(await raw('query-api'), healthSubject('query-api'))).toBe('denied');
  });

  it('lets each app send exactly the requests of the policy and get answers, and refuses every other one', async () => {
    const subjects = [...Object.values(Rpc).map((r) => r.subject), ...APPS.map(healthSubject)];
    const outcomes: Record<string, Record<string, Outcome>> = {};
    const expected: Record<string, Record<string, Outcome>> = {};
    await Promise.all(
      USERS.map(async (user) => {
        const nc = user === INTEGRATIONS ? await asIntegrations() : await as(user as App);
        const allowed = new Set(user === INTEGRATIONS ? [] : [...CALLS[user as App], healthSubject(user as App)]);
        outcomes[user] = Object.fromEntries(await Promise.all(subjects.map(async (s) => [s, await ask(nc, s)] as const)));
        expected[user] = Object.fromEntries(subjects.map((s) => [s, allowed.has(s) ? 'answered' : 'denied']));
      }),
    );
    expect(outcomes).toEqual(expected);
  });

  it('refuses anonymous connections and wrong passwords', async () => {
    await expect(connect({ servers: url, maxReconnectAttempts: 0 })).rejects.toMatchObject({ code: 'AUTHORIZATION_VIOLATION' });
    await expect(connect({ servers: url, user: 'vault', pass: password('query-api'), maxReconnectAttempts: 0 })).rejects.toMatchObject({
      code: 'AUTHORIZATION_VIOLATION',
    });
    await expect(connect({ servers: url, user: INTEGRATIONS, pass: '', maxReconnectAttempts: 0 })).rejects.toMatchObject({ code: 'AUTHORIZATION_VIOLATION' });
  });

  it('vault cannot publish to other apps (authpipe.query.>, authpipe.refresher.>, events), nor touch streams beyond its own', async () => {
    const nc = await as('vault');
    for (const subject of [
      'authpipe.query.api-key.authenticate',
      'authpipe.query.anything',
      'authpipe.refresher.refresh',
      'authpipe.refresher.anything',
      'authpipe.oauth-gateway.health',
      'authpipe.events.anything',
      'authpipe.integration.org_x.gmail.Revoked',
      '$JS.API.STREAM.DELETE.KV_authpipe_vault_secrets',
      '$JS.API.STREAM.PURGE.KV_authpipe_vault_data_keys',
      '$JS.API.STREAM.UPDATE.KV_authpipe_vault_secrets',
      '$JS.API.CONSUMER.DURABLE.CREATE.KV_authpipe_vault_secrets.spy',
      '$JS.API.STREAM.DELETE.AUTHPIPE_AUDIT',
      '$JS.API.STREAM.PURGE.AUTHPIPE_AUDIT',
      '$JS.API.STREAM.MSG.DELETE.AUTHPIPE_AUDIT',
      '$JS.API.CONSUMER.CREATE.AUTHPIPE_AUDIT',
      '$JS.API.STREAM.INFO.KV_authpipe_connect_sessions',
      '$JS.API.STREAM.LIST',
      '$KV.authpipe_connect_sessions.x',
    ]) {
      expect({ subject, outcome: await ask(nc, subject) }).toEqual({ subject, outcome: 'denied' });
    }
  });

  it('only vault writes the audit and only query-api the integration events; neither stream can be deleted or purged', async () => {
    for (const user of USERS) {
      const nc = user === INTEGRATIONS ? await asIntegrations() : await as(user as App);
      for (const subject of [
        `${AUDIT_SUBJECT_PREFIX}.org_x`,
        `${INTEGRATION_SUBJECT_PREFIX}.org_x.gmail.Revoked`,
        `$JS.API.STREAM.DELETE.${AUDIT_STREAM}`,
        `$JS.API.STREAM.PURGE.${AUDIT_STREAM}`,
        `$JS.API.STREAM.UPDATE.${AUDIT_STREAM}`,
        `$JS.API.STREAM.DELETE.${INTEGRATION_STREAM}`,
        `$JS.API.STREAM.PURGE.${INTEGRATION_STREAM}`,
        `$JS.API.STREAM.MSG.DELETE.${INTEGRATION_STREAM}`,
      ]) {
        const writer = subject.startsWith(AUDIT_SUBJECT_PREFIX) ? 'vault' : subject.startsWith(INTEGRATION_SUBJECT_PREFIX) ? 'query-api' : undefined;
        const outcome = await ask(nc, subject);
        // A permitted write is answered by the stream (the payload is not a valid record, but nothing refuses it).
        expect({ user, subject, outcome }).toEqual({ user, subject, outcome: user === writer ? 'answered' : 'denied' });
      }
    }
  });

  it('the integrations user reads only the integration stream, through consumers, and nothing else', async () => {
    const nc = await asIntegrations();
    for (const subject of [
      `$JS.API.STREAM.INFO.${INTEGRATION_STREAM}`,
      `$JS.API.STREAM.INFO.${AUDIT_STREAM}`,
      `$JS.API.CONSUMER.CREATE.${AUDIT_STREAM}`,
      `$JS.API.CONSUMER.DELETE.${INTEGRATION_STREAM}.x`,
      `$JS.API.STREAM.MSG.GET.${INTEGRATION_STREAM}`,
      `$JS.API.DIRECT.GET.${INTEGRATION_STREAM}`,
      '$JS.API.STREAM.LIST',
      '$JS.API.STREAM.MSG.GET.KV_authpipe_vault_secrets',
      `$JS.API.CONSUMER.CREATE.KV_${RELAY_CHECKPOINT_BUCKET}`,
      `$KV.${RELAY_CHECKPOINT_BUCKET}.integration-events`,
      'authpipe.vault.credential.read',
      'authpipe.query.integration.get',
    ]) {
      expect({ subject, outcome: await ask(nc, subject) }).toEqual({ subject, outcome: 'denied' });
    }
    // An ordered consumer looks the stream up first: refused (deploy/compose/README.md: use a named consumer).
    await expect(nc.jetstream().consumers.get(INTEGRATION_STREAM)).rejects.toMatchObject({ code: 'PERMISSIONS_VIOLATION' });
    // Known limit of nats-server (nats-io/nats-server#8274, 2.9 and 2.10): a push consumer's deliver subject is not
    // checked against its creator's permissions, so whoever may create a consumer on a stream can have that stream's
    // messages sent to a subject with a literal subscriber, such as vault's request subjects (queue group `vault`).
    // What arrives there is the stream's own content (integration events), which vault refuses (strict payload
    // validation, unknown fields rejected): nothing is erased.
    const gateway = rpcAs('oauth-gateway');
    const target = `org_${randomBytes(5).toString('hex')}`;
    const targetConnection = connectionIdFor(target, 'gmail', 'user-1');
    await gateway.request('vaultStoreCredential', { tenantId: target, connectionId: targetConnection, provider: 'gmail', credential: { type: 'api_key', apiKey: 'k-3' } });
    const jsm = await nc.jetstreamManager();
    const pushed: string[] = [];
    for (const subject of [Rpc.vaultEraseCredential.subject, Rpc.vaultEraseTenant.subject]) {
      const ci = await jsm.consumers.add(INTEGRATION_STREAM, { deliver_subject: subject, deliver_group: 'vault', ack_policy: AckPolicy.None, inactive_threshold: 2_000_000_000 });
      pushed.push(ci.name);
    }
    // Delivered to vault (the stream holds the relayed events and query-api's test write).
    for (const name of pushed) {
      await waitFor(`deliveries of ${name}`, async () => ((await jsm.consumers.info(INTEGRATION_STREAM, name)).delivered.consumer_seq >= 3 ? true : undefined));
    }
    await new Promise((resolve) => setTimeout(resolve, 200));
    await expect(rpcAs('query-api').request('vaultReadCredential', { tenantId: target, connectionId: targetConnection, caller: 'query-api' })).resolves.toMatchObject({
      credential: { apiKey: 'k-3' },
    });
  });

  it("no other app can read vault's buckets or serve (impersonate) another app's subjects", async () => {
    for (const user of USERS.filter((a) => a !== 'vault')) {
      const nc = user === INTEGRATIONS ? await asIntegrations() : await as(user as App);
      for (const subject of [
        '$JS.API.STREAM.MSG.GET.KV_authpipe_vault_secrets',
        '$JS.API.DIRECT.GET.KV_authpipe_vault_secrets.$KV.authpipe_vault_secrets.x',
        '$JS.API.STREAM.INFO.KV_authpipe_vault_data_keys',
        '$JS.API.CONSUMER.CREATE.KV_authpipe_vault_secrets',
        '$KV.authpipe_vault_secrets.x',
      ]) {
        expect({ user, subject, outcome: await ask(nc, subject) }).toEqual({ user, subject, outcome: 'denied' });
      }
      expect({ user, outcome: await subscribeOutcome(nc, '$KV.authpipe_vault_secrets.>') }).toEqual({ user, outcome: 'denied' });
    }
    const subjects = [...Object.values(Rpc).map((r) => r.subject), ...APPS.map(healthSubject), `${AUDIT_SUBJECT_PREFIX}.org_x`, `${INTEGRATION_SUBJECT_PREFIX}.org_x.gmail.Revoked`];
    const outcomes: Record<string, Record<string, string>> = {};
    const expected: Record<string, Record<string, string>> = {};
    await Promise.all(
      USERS.map(async (user) => {
        const nc = user === INTEGRATIONS ? await asIntegrations() : await as(user as App);
        const own = (subject: string) =>
          user !== INTEGRATIONS && (SERVES[user as App].some((p) => subject.startsWith(`${p}.`)) || subject === healthSubject(user as App));
        outcomes[user] = Object.fromEntries(await Promise.all(subjects.map(async (s) => [s, await subscribeOutcome(nc, s)] as const)));
        expected[user] = Object.fromEntries(subjects.map((s) => [s, own(s) ? 'allowed' : 'denied']));
      }),
    );
    expect(outcomes).toEqual(expected);
    expect(violations().length).toBeGreaterThan(0);
  });
});
