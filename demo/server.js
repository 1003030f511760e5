'use strict';
// The demo's backend, as a platform team would write it: plain node:http, the tenant's API key held here and used
// through @authpipe/node (from plain JavaScript). The page it serves gets connect URLs, connection facts and a
// masked preview of a credential; never the API key, never a whole token.
const http = require('node:http');
const { join } = require('node:path');

const ROOT = join(__dirname, '..');
const SDK = join(ROOT, 'packages', 'node-sdk', 'dist');

/** What each provider's connect session asks for in the demo. */
const SESSION_OPTIONS = {
  gmail: { scopes: ['https://www.googleapis.com/auth/gmail.readonly'] },
  discord: { scopes: ['identify', 'email'] },
  clicksend: {},
};

/** Bundles demo/app.tsx (React, @authpipe/react from source) in memory with esbuild. */
async function bundlePage() {
  const esbuild = require('esbuild');
  const result = await esbuild.build({
    entryPoints: [join(__dirname, 'app.tsx')],
    bundle: true,
    write: false,
    format: 'iife',
    platform: 'browser',
    target: 'es2020',
    jsx: 'automatic',
    minify: true,
    sourcemap: false,
    alias: { '@authpipe/react': join(ROOT, 'packages', 'react', 'src', 'index.ts') },
    define: { 'process.env.NODE_ENV': '"production"' },
    logLevel: 'silent',
  });
  return result.outputFiles[0].text;
}

const PAGE = `<!doctype html>
<html lang="en">
<head>
<meta charset="utf-8">
<meta name="viewport" content="width=device-width, initial-scale=1">
<title>Authpipe demo</title>
<link rel="stylesheet" href="/app.css">
</head>
<body>
<div id="root"></div>
<script src="/app.js"></script>
</body>
</html>`;

/** A short, safe preview of a secret: its start and length. */
function preview(secret) {
  if (!secret) return undefined;
  return `${secret.slice(0, Math.min(8, Math.floor(secret.length / 4)))}… (${secret.length} characters)`;
}

function readBody(req) {
  return new Promise((resolve, reject) => {
    let body = '';
    req.setEncoding('utf8');
    req.on('data', (chunk) => {
      body += chunk;
      if (body.length > 10_000) req.destroy(new Error('body too large'));
    });
    req.on('end', () => {
      try {
        resolve(body ? JSON.parse(body) : {});
      } catch (err) {
        reject(err);
      }
    });
    req.on('error', reject);
  });
}

/**
 * @param {{ port?: number, host?: string, queryUrl: string, gatewayUrl: string, apiKey: string, tenantId: string,
 *   userId?: string, providers?: Record<string, { description: string, hint?: string }> }} options
 */
async function startDemoServer(options) {
  const { Authpipe, AuthpipeError } = require(SDK);
  const host = options.host ?? '127.0.0.1';
  const userId = options.userId ?? 'demo-user';
  const script = await bundlePage();
  const css = require('node:fs').readFileSync(join(__dirname, 'app.css'), 'utf8');
  const events = [];
  let streamNote = '';
  const authpipe = new Authpipe({
    baseUrl: options.queryUrl,
    gatewayUrl: options.gatewayUrl,
    apiKey: options.apiKey,
    onEvent: (event) => {
      events.unshift({ type: event.type, provider: event.data.provider, connectionId: event.data.connectionId, at: event.data.occurredAt ?? new Date().toISOString() });
      events.length = Math.min(events.length, 8);
    },
    onEventStreamStatus: (status, error) => {
      streamNote = error ? error.message : '';
    },
  });
  // Open now, so the page's event list shows what happens from the start.
  await authpipe.openEventStream();
  let origin;

  const send = (res, status, body, type = 'application/json; charset=utf-8') => {
    res.writeHead(status, { 'content-type': type, 'cache-control': 'no-store', 'x-content-type-options': 'nosniff' });
    res.end(typeof body === 'string' ? body : JSON.stringify(body));
  };
  const fail = (res, err) => {
    if (err instanceof AuthpipeError) return send(res, err.status && err.status < 500 ? err.status : 502, { code: err.code, message: err.message });
    return send(res, 500, { code: 'DEMO_ERROR', message: 'the demo backend failed; see its log' });
  };

  const server = http.createServer(async (req, res) => {
    const url = new URL(req.url ?? '/', origin);
    try {
      if (req.method === 'GET' && url.pathname === '/') return send(res, 200, PAGE, 'text/html; charset=utf-8');
      if (req.method === 'GET' && url.pathname === '/app.js') return send(res, 200, script, 'text/javascript; charset=utf-8');
      if (req.method === 'GET' && url.pathname === '/app.css') return send(res, 200, css, 'text/css; charset=utf-8');
      if (req.method === 'GET' && url.pathname === '/api/config') {
        return send(res, 200, { tenantId: options.tenantId, userId, providers: options.providers ?? {}, gatewayUrl: options.gatewayUrl });
      }
      if (req.method === 'POST' && url.pathname === '/api/connect-session') {
        const { provider } = await readBody(req);
        if (!Object.hasOwn(SESSION_OPTIONS, provider)) return send(res, 400, { code: 'UNKNOWN_PROVIDER', message: 'not a demo provider' });
        const session = await authpipe.createConnectSession({ provider, userId, returnOrigin: origin, ...SESSION_OPTIONS[provider] });
        // Only the connect URL goes to the browser (it carries the single-use session token and nothing else).
        return send(res, 201, { connectUrl: session.connectUrl, expiresAt: session.expiresAt });
      }
      if (req.method === 'GET' && url.pathname === '/api/connections') {
        const items = [];
        for await (const connection of authpipe.allConnections({ userId })) items.push(connection);
        return send(res, 200, { items, eventStream: authpipe.eventStreamStatus, streamNote, events, cache: authpipe.stats() });
      }
      if (req.method === 'POST' && url.pathname === '/api/credential') {
        const { provider } = await readBody(req);
        const before = authpipe.stats().fetches;
        const started = process.hrtime.bigint();
        const { credential } = await authpipe.getCredential({ provider, tenantId: options.tenantId, userId });
        const micros = Number(process.hrtime.bigint() - started) / 1000;
        return send(res, 200, {
          provider: credential.provider,
          type: credential.type,
          preview: preview(credential.accessToken ?? credential.apiKey),
          ...(credential.username ? { username: credential.username } : {}),
          expiresAt: credential.expiresAt,
          scopes: credential.scopes,
          servedFrom: authpipe.stats().fetches === before ? 'cache' : 'authpipe',
          micros,
        });
      }
      const disconnect = /^\/api\/connections\/(con_[A-Za-z0-9_-]{22})$/.exec(url.pathname);
      if (req.method === 'DELETE' && disconnect) return send(res, 200, await authpipe.disconnect(disconnect[1]));
      return send(res, 404, { code: 'NOT_FOUND', message: 'no such route' });
    } catch (err) {
      return fail(res, err);
    }
  });
  await new Promise((resolve, reject) => {
    server.once('error', reject);
    server.listen(options.port ?? 3002, host, () => resolve());
  });
  origin = `http://${host}:${server.address().port}`;
  return {
    url: origin,
    authpipe,
    stop: () =>
      new Promise((resolve) => {
        authpipe.close();
        server.close(() => resolve());
        server.closeAllConnections();
      }),
  };
}

module.exports = { startDemoServer };
