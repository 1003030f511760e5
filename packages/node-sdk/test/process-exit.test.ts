import { spawn } from 'node:child_process';
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { buildSync } from 'esbuild';
import { connectionIdFor } from '../src';
import { API_KEY, FakeAuthpipe, startFakeAuthpipe } from './fake-authpipe';

/*
 * A script that reads a credential and returns must end by itself: the event stream's socket and the reconnect
 * timers are unreferenced. The SDK is bundled from source for a plain `node` child, used from JavaScript.
 */
describe('a process using the SDK', () => {
  let server: FakeAuthpipe;
  let dir: string;

  beforeAll(async () => {
    server = await startFakeAuthpipe();
    server.onCredential((provider, userId) => ({
      status: 200,
      body: { connectionId: connectionIdFor('org_acme', provider, userId), provider, userId, type: 'api_key', apiKey: 'k', username: 'u', expiresAt: null, scopes: [] },
    }));
    dir = mkdtempSync(join(tmpdir(), 'authpipe-sdk-'));
    buildSync({ entryPoints: [join(__dirname, '..', 'src', 'index.ts')], bundle: true, platform: 'node', format: 'cjs', outfile: join(dir, 'sdk.js'), logLevel: 'silent' });
  });

  afterAll(async () => {
    await server.stop();
    rmSync(dir, { recursive: true, force: true });
  });

  it('exits on its own with the event stream open, without close()', async () => {
    writeFileSync(
      join(dir, 'script.js'),
      `const { Authpipe } = require('./sdk.js');
       const authpipe = new Authpipe({ baseUrl: process.env.BASE_URL, apiKey: process.env.API_KEY });
       authpipe.getCredential({ provider: 'clicksend', tenantId: 'org_acme', userId: 'user_1' }).then(({ credential }) => {
         console.log(JSON.stringify({ type: credential.type, stream: authpipe.eventStreamStatus }));
       });`,
    );
    const started = Date.now();
    const child = spawn(process.execPath, [join(dir, 'script.js')], { env: { ...process.env, BASE_URL: server.url, API_KEY }, stdio: ['ignore', 'pipe', 'inherit'] });
    let out = '';
    child.stdout.on('data', (chunk) => (out += chunk));
    const code = await new Promise<number | null>((resolve) => {
      const timer = setTimeout(() => child.kill('SIGKILL'), 10_000);
      child.once('exit', (c) => (clearTimeout(timer), resolve(c)));
    });
    expect(code).toBe(0);
    expect(JSON.parse(out)).toEqual({ type: 'api_key', stream: 'open' });
    expect(Date.now() - started).toBeLessThan(8_000);
  });
});
