import * as http from 'node:http';
import type { AddressInfo } from 'node:net';
import { join } from 'node:path';
import { build } from 'esbuild';

/*
 * A tenant's app in miniature, for the browser tests: a page with the ConnectButton (the fixture, bundled from
 * @authpipe/react's source) and a backend route that creates the connect session with the tenant's API key and
 * gives the page only its connectUrl.
 */

export interface ConnectPage {
  url: string;
  origin: string;
  /** Bodies this server sent to the browser, to check that no secret was among them. */
  sent: string[];
  stop(): Promise<void>;
}

export async function bundleFixture(): Promise<string> {
  const root = join(__dirname, '..', '..', '..');
  const result = await build({
    entryPoints: [join(__dirname, 'connect-page.fixture.js')],
    bundle: true,
    write: false,
    format: 'iife',
    platform: 'browser',
    target: 'es2020',
    alias: { '@authpipe/react': join(root, 'packages', 'react', 'src', 'index.ts') },
    define: { 'process.env.NODE_ENV': '"development"' },
    logLevel: 'silent',
  });
  return result.outputFiles[0].text;
}

export async function startConnectPage(options: { gatewayUrl: string; apiKey: () => string; host?: string; sessionBody?: (provider: string) => Record<string, unknown> }): Promise<ConnectPage> {
  const script = await bundleFixture();
  const host = options.host ?? '127.0.0.1';
  const sent: string[] = [];
  let origin = '';
  const send = (res: http.ServerResponse, status: number, type: string, body: string) => {
    sent.push(body);
    res.writeHead(status, { 'content-type': type, 'cache-control': 'no-store' });
    res.end(body);
  };
  const server = http.createServer(async (req, res) => {
    const url = new URL(req.url ?? '/', origin);
    if (url.pathname === '/') {
      return send(res, 200, 'text/html', '<!doctype html><html lang="en"><head><meta charset="utf-8"><title>Connect test</title></head><body><div id="root"></div><script src="/app.js"></script></body></html>');
    }
    if (url.pathname === '/app.js') return send(res, 200, 'text/javascript', script);
    if (url.pathname === '/session' && req.method === 'POST') {
      const provider = url.searchParams.get('provider') ?? '';
      const session = await fetch(`${options.gatewayUrl}/v1/connect-sessions`, {
        method: 'POST',
        headers: { authorization: `Bearer ${options.apiKey()}`, 'content-type': 'application/json' },
        body: JSON.stringify({ provider, userId: url.searchParams.get('user'), returnOrigin: origin, ...(options.sessionBody?.(provider) ?? {}) }),
      });
      const body = (await session.json()) as { connectUrl?: string };
      return send(res, session.status, 'application/json', JSON.stringify(session.ok ? { connectUrl: body.connectUrl } : body));
    }
    return send(res, 404, 'text/plain', 'not found');
  });
  await new Promise<void>((resolve) => server.listen(0, host, resolve));
  origin = `http://${host}:${(server.address() as AddressInfo).port}`;
  return {
    url: `${origin}/`,
    origin,
    sent,
    stop: () =>
      new Promise<void>((resolve) => {
        server.close(() => resolve());
        server.closeAllConnections();
      }),
  };
}
