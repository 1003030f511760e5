#!/usr/bin/env node
'use strict';
// Operator commands on the event history (needs `npm run build`: it runs the compiled libs from dist/).
//   npm run replay -- rebuild [--tenant <tenantId>] [--from <position>] [--dry-run]
//   npm run replay -- history --connection <connectionId>
//   npm run replay -- history --tenant <tenantId> [--provider <provider> --user <userId>]
// Settings: the apps' own environment variables (NATS_URL, NATS_USER, NATS_PASSWORD, AUTHPIPE_EVENT_STORE,
// EVENTSTORE_URL, AUTHPIPE_EVENT_STREAM, AUTHPIPE_READ_MODELS, MONGODB_URL, MONGODB_DB).
const { existsSync } = require('node:fs');
const { join } = require('node:path');

const USAGE = `usage:
  npm run replay -- rebuild [--tenant <tenantId>] [--from <position>] [--dry-run]
      rebuild every read model from the history into fresh collections, swap them in once caught up
      --tenant    only that tenant's documents      --from     apply the events after <position> over the live collections
      --dry-run   rebuild into fresh collections, report, drop them (nothing live changes)
  npm run replay -- history --connection <connectionId>
  npm run replay -- history --tenant <tenantId> [--provider <provider> --user <userId>]
      the raw events of one stream as JSON lines, oldest first (a tenant's own events, or one connection's)`;

const DIST = join(__dirname, '..', 'dist', 'libs');
let interrupted = 0;

function load(lib) {
  const path = join(DIST, lib, 'src', 'index.js');
  if (!existsSync(path)) throw new UsageError(`${path} is missing: run "npm run build" first`, 1);
  return require(path);
}

class UsageError extends Error {
  constructor(message, exitCode = 2) {
    super(message);
    this.exitCode = exitCode;
  }
}

/** `--name value` and `--flag` options after the command; anything else is a usage error. */
function parseOptions(args, spec) {
  const options = {};
  for (let i = 0; i < args.length; i++) {
    const name = args[i].startsWith('--') ? args[i].slice(2) : undefined;
    if (!name || !(name in spec)) throw new UsageError(`unknown argument "${args[i]}"\n${USAGE}`);
    if (spec[name] === 'flag') options[name] = true;
    else {
      const value = args[++i];
      if (value === undefined || value.startsWith('--')) throw new UsageError(`--${name} needs a value\n${USAGE}`);
      options[name] = value;
    }
  }
  return options;
}

function config() {
  const { loadConfig, ReadModelConfig } = load('config');
  try {
    return loadConfig(ReadModelConfig);
  } catch (err) {
    throw new UsageError(err.message, 2);
  }
}

async function history(args) {
  const options = parseOptions(args, { connection: 'value', tenant: 'value', provider: 'value', user: 'value' });
  let subject;
  if (options.connection && !options.tenant && !options.provider && !options.user) subject = { connectionId: options.connection };
  else if (options.tenant && options.provider && options.user && !options.connection) {
    const { connectionIdFor } = load('contracts');
    subject = { connectionId: connectionIdFor(options.tenant, options.provider, options.user) };
  } else if (options.tenant && !options.provider && !options.user && !options.connection) subject = { tenantId: options.tenant };
  else throw new UsageError(`history: give --connection <id>, or --tenant <id>, or --tenant with --provider and --user\n${USAGE}`);

  const replay = load('replay');
  const env = await replay.openReplayEnvironment(config(), { readModels: false });
  try {
    const lines = await replay.eventHistory(env.events, subject);
    for (const line of lines) process.stdout.write(`${line}\n`);
    const stream = replay.historyStreamId(subject);
    process.stderr.write(`${lines.length} event${lines.length === 1 ? '' : 's'} in ${stream} (${env.eventStoreLabel})\n`);
  } finally {
    await env.close();
  }
}

async function rebuild(args) {
  const options = parseOptions(args, { tenant: 'value', from: 'value', 'dry-run': 'flag' });
  let fromPosition;
  if (options.from !== undefined) {
    if (!/^\d+$/.test(options.from)) throw new UsageError(`--from takes a position (a non-negative integer), not "${options.from}"`);
    fromPosition = BigInt(options.from);
  }
  if (fromPosition !== undefined && options['dry-run']) throw new UsageError('--dry-run rebuilds into fresh collections; --from writes the live ones: not both');
  const settings = config();
  const replay = load('replay');

  if (settings.AUTHPIPE_READ_MODELS !== 'mongodb' && !options['dry-run']) {
    throw new UsageError(
      [
        'rebuild: the read models are in memory (AUTHPIPE_READ_MODELS=memory): they live inside the query-api process and',
        'are rebuilt from the whole history every time query-api starts. This command cannot reach them: restart query-api',
        'to rebuild them. (With AUTHPIPE_READ_MODELS=mongodb this command rebuilds the shared MongoDB collections.)',
        'To check that the whole history replays and how fast, run: npm run replay -- rebuild --dry-run',
      ].join('\n'),
    );
  }

  const env = await replay.openReplayEnvironment(settings, { readModels: true });
  let store = env.store;
  let throwaway = false;
  if (!store) {
    // Memory + --dry-run: rebuild into a store of this process, then let it go.
    store = new (load('read-models').InMemoryReadModelStore)();
    throwaway = true;
  }

  const controller = new AbortController();
  const onSignal = () => {
    if (++interrupted > 1) process.exit(130);
    process.stderr.write('\ninterrupted: stopping; the fresh collections are dropped and nothing live changes (Ctrl-C again to quit at once)\n');
    controller.abort(new Error('interrupted by the operator'));
  };
  process.on('SIGINT', onSignal);
  process.on('SIGTERM', onSignal);

  const what = options.tenant ? `tenant ${options.tenant}` : 'every tenant';
  const mode =
    fromPosition !== undefined ? `replay of the events after position ${fromPosition} over the live read models (${what})`
    : options['dry-run'] ? `dry run: rebuild of ${what} into fresh collections, dropped afterwards`
    : `rebuild of ${what} into fresh collections, swapped in once caught up`;
  process.stderr.write(`${mode}\n  events: ${env.eventStoreLabel}\n  read models: ${throwaway ? 'a throwaway in-memory store in this process' : env.readModelsLabel}\n`);

  const bar = progressBar(replay.formatProgress);
  try {
    const result = await replay.rebuildReadModels({
      events: env.events,
      store,
      projections: replay.queryApiProjections(),
      head: env.head,
      ...(fromPosition === undefined ? {} : { fromPosition }),
      ...(options.tenant ? { tenantId: options.tenant } : {}),
      dryRun: Boolean(options['dry-run']),
      onProgress: bar.update,
      progressIntervalMs: bar.intervalMs,
      signal: controller.signal,
    });
    bar.end();
    printResult(result);
  } catch (err) {
    bar.end();
    throw err;
  } finally {
    process.off('SIGINT', onSignal);
    process.off('SIGTERM', onSignal);
    if (throwaway) await store.close();
    await env.close();
  }
}

/** A redrawn line on a terminal; on a pipe or a log, a plain line every few seconds and at each phase's end. */
function progressBar(formatProgress) {
  const tty = Boolean(process.stderr.isTTY);
  let phase;
  let drawn = false;
  let lastPlain = 0;
  let lastLine = '';
  return {
    intervalMs: tty ? 200 : 1_000,
    update(progress) {
      if (progress.phase === 'done') return; // the summary follows
      const line = formatProgress(progress);
      if (tty) {
        if (phase !== undefined && progress.phase !== phase && drawn) process.stderr.write('\n');
        process.stderr.write(`\r${line}\x1b[K`);
        drawn = true;
      } else {
        const now = Date.now();
        const complete = progress.fraction === 1 || progress.phase !== phase;
        if (line !== lastLine && (complete || now - lastPlain >= 5_000)) {
          process.stderr.write(`${line}\n`);
          lastPlain = now;
          lastLine = line;
        }
      }
      phase = progress.phase;
    },
    end() {
      if (tty && drawn) process.stderr.write('\n');
      drawn = false;
    },
  };
}

function printResult(result) {
  const seconds = (result.durationMs / 1000).toFixed(1);
  const rate = Math.round(result.eventsPerSecond).toLocaleString('en-US');
  const lines = [];
  if (result.mode === 'from-position') {
    lines.push(`replayed ${result.events} events after position ${result.fromPosition} over the live read models in ${seconds} s (${rate} events/s), up to position ${result.position}`);
  } else {
    const tenant = result.tenantId ? ` (${result.applied} of tenant ${result.tenantId})` : '';
    lines.push(`${result.dryRun ? 'dry run: rebuilt' : 'rebuilt'} ${result.events} events${tenant} up to position ${result.rebuiltTo} in ${seconds} s (${rate} events/s)`);
  }
  for (const c of result.collections) {
    const deleted = c.deleted ? `, ${c.deleted} stale deleted` : '';
    lines.push(`  ${c.live.padEnd(14)} ${String(c.documents).padStart(8)} documents  ${c.swap}${deleted}`);
  }
  if (result.caughtUpEvents) lines.push(`then applied ${result.caughtUpEvents} events appended meanwhile, up to position ${result.position}`);
  if (result.checkpoint) lines.push(`checkpoint ${result.checkpoint.name} at position ${result.checkpoint.position}`);
  for (const note of result.notes) lines.push(`note: ${note}`);
  process.stdout.write(`${lines.join('\n')}\n`);
}

async function main([command, ...args]) {
  if (command === 'rebuild') return rebuild(args);
  if (command === 'history') return history(args);
  throw new UsageError(command === undefined || command === '--help' || command === 'help' ? USAGE : `unknown command "${command}"\n${USAGE}`);
}

main(process.argv.slice(2)).then(
  () => process.exit(0),
  (err) => {
    process.stderr.write(`replay: ${err.message}\n`);
    process.exit(err instanceof UsageError ? err.exitCode : interrupted ? 130 : 1);
  },
);
