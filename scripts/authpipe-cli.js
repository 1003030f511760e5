#!/usr/bin/env node
'use strict';
// Operator commands against a running query-api, authenticated with the admin token.
//   npm run authpipe -- tenant create <tenantId> <name>
//   npm run authpipe -- api-key create <tenantId> [label]
//   npm run authpipe -- tenant erase <tenantId>          crypto-shred: destroys the tenant's data keys
//   npm run authpipe -- key rotate <tenantId>            a new data key version for the tenant
//   npm run authpipe -- vault rewrap                     move every key and secret to the newest versions, with progress
// Settings: AUTHPIPE_QUERY_URL (default http://127.0.0.1:3001), AUTHPIPE_ADMIN_TOKEN (default: .authpipe/admin-token).
const { existsSync, readFileSync } = require('node:fs');
const { join } = require('node:path');

const USAGE = `usage:
  npm run authpipe -- tenant create <tenantId> <name>
  npm run authpipe -- api-key create <tenantId> [label]
  npm run authpipe -- tenant erase <tenantId>
  npm run authpipe -- key rotate <tenantId>
  npm run authpipe -- vault rewrap`;

function adminToken() {
  if (process.env.AUTHPIPE_ADMIN_TOKEN) return process.env.AUTHPIPE_ADMIN_TOKEN;
  const file = join(__dirname, '..', '.authpipe', 'admin-token');
  if (existsSync(file)) return readFileSync(file, 'utf8').trim();
  throw new Error('no admin token: set AUTHPIPE_ADMIN_TOKEN (npm start keeps one in .authpipe/admin-token)');
}

const post = (path, body) => call('POST', path, body);

async function call(method, path, body) {
  const base = process.env.AUTHPIPE_QUERY_URL ?? 'http://127.0.0.1:3001';
  let res;
  try {
    res = await fetch(`${base}${path}`, {
      method,
      headers: { authorization: `Bearer ${adminToken()}`, 'content-type': 'application/json' },
      ...(body === undefined ? {} : { body: JSON.stringify(body) }),
    });
  } catch (err) {
    throw new Error(`cannot reach query-api at ${base} (${err.cause?.code ?? err.message}); is the platform running (npm start)?`);
  }
  const payload = await res.json().catch(() => ({}));
  if (!res.ok) throw new Error(`${payload.code ?? res.status}: ${payload.detail ?? payload.title ?? 'request failed'}`);
  return payload;
}

async function main([noun, verb, ...args]) {
  if (noun === 'tenant' && verb === 'create' && args.length >= 2) {
    const tenant = await post('/v1/admin/tenants', { tenantId: args[0], name: args.slice(1).join(' ') });
    console.log(`tenant ${tenant.tenantId} created`);
  } else if (noun === 'api-key' && verb === 'create' && args.length >= 1) {
    const key = await post(`/v1/admin/tenants/${encodeURIComponent(args[0])}/api-keys`, { label: args.slice(1).join(' ') || 'default' });
    console.log(`API key ${key.keyId} for ${args[0]} (shown once, store it now):\n${key.apiKey}`);
  } else if (noun === 'tenant' && verb === 'erase' && args.length === 1) {
    const erased = await call('DELETE', `/v1/admin/tenants/${encodeURIComponent(args[0])}`);
    console.log(`tenant ${erased.tenantId} erased at ${erased.erasedAt}: its data keys are destroyed, nothing of it decrypts any more`);
  } else if (noun === 'key' && verb === 'rotate' && args.length === 1) {
    const rotated = await post(`/v1/admin/tenants/${encodeURIComponent(args[0])}/rotate-key`, {});
    console.log(`tenant ${rotated.tenantId} now encrypts with data key v${rotated.activeVersion}; run "vault rewrap" to move older secrets`);
  } else if (noun === 'vault' && verb === 'rewrap') {
    await rewrap();
  } else {
    console.error(USAGE);
    process.exit(2);
  }
}

/** Start (or resume) the rewrap and draw its progress until it is done. */
async function rewrap() {
  let status = await post('/v1/admin/vault/rewrap', {});
  const started = Date.now();
  const tty = process.stdout.isTTY;
  for (;;) {
    const total = Math.max(status.total, status.processed, 1);
    const share = Math.min(1, status.processed / total);
    const bar = '#'.repeat(Math.round(share * 30)).padEnd(30, '.');
    const elapsed = (Date.now() - started) / 1000;
    const rate = elapsed > 0 ? status.processed / elapsed : 0;
    const left = rate > 0 ? Math.max(0, (total - status.processed) / rate) : 0;
    const line = `[${bar}] ${status.processed}/${status.total} records, ${status.rewrapped} rewrapped, ${status.failed} failed, ${rate.toFixed(0)}/s, ~${left.toFixed(0)} s left (master key ${status.masterKeyVersion})`;
    process.stdout.write(tty ? `\r${line}` : `${line}\n`);
    if (status.state !== 'running') break;
    await new Promise((r) => setTimeout(r, 500));
    status = await call('GET', '/v1/admin/vault/rewrap');
  }
  process.stdout.write('\n');
  if (status.state === 'failed') throw new Error(`rewrap failed: ${status.error ?? 'see vault logs'}; run it again to resume`);
  console.log(`rewrap ${status.state}: ${status.rewrapped} records rewritten, ${status.failed} left as they were`);
}

main(process.argv.slice(2)).catch((err) => {
  console.error(`authpipe: ${err.message}`);
  process.exit(1);
});
