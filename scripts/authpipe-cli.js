#!/usr/bin/env node
'use strict';
// Operator commands against a running query-api, authenticated with the admin token.
//   npm run authpipe -- tenant create <tenantId> <name>
//   npm run authpipe -- api-key create <tenantId> [label]
// Settings: AUTHPIPE_QUERY_URL (default http://127.0.0.1:3001), AUTHPIPE_ADMIN_TOKEN (default: .authpipe/admin-token).
const { existsSync, readFileSync } = require('node:fs');
const { join } = require('node:path');

const USAGE = `usage:
  npm run authpipe -- tenant create <tenantId> <name>
  npm run authpipe -- api-key create <tenantId> [label]`;

function adminToken() {
  if (process.env.AUTHPIPE_ADMIN_TOKEN) return process.env.AUTHPIPE_ADMIN_TOKEN;
  const file = join(__dirname, '..', '.authpipe', 'admin-token');
  if (existsSync(file)) return readFileSync(file, 'utf8').trim();
  throw new Error('no admin token: set AUTHPIPE_ADMIN_TOKEN (npm start keeps one in .authpipe/admin-token)');
}

async function post(path, body) {
  const base = process.env.AUTHPIPE_QUERY_URL ?? 'http://127.0.0.1:3001';
  let res;
  try {
    res = await fetch(`${base}${path}`, {
      method: 'POST',
      headers: { authorization: `Bearer ${adminToken()}`, 'content-type': 'application/json' },
      body: JSON.stringify(body),
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
  } else {
    console.error(USAGE);
    process.exit(2);
  }
}

main(process.argv.slice(2)).catch((err) => {
  console.error(`authpipe: ${err.message}`);
  process.exit(1);
});
