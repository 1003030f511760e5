import { spawn } from 'node:child_process';
import { join } from 'node:path';

/*
 * Each app's compiled main (what `npm start`, the images and the manifests run) refuses a wrong setting at start-up:
 * it exits non-zero at once, before connecting anywhere, with one message that names the variable and does not
 * echo its value.
 */

const ROOT = join(__dirname, '..', '..');
const VALID_KEYS = `v1:${Buffer.alloc(32, 7).toString('base64')}`;
const ADMIN_TOKEN = 'a'.repeat(40);

interface Case {
  app: string;
  env: Record<string, string>;
  /** The variables the message must name. */
  names: string[];
}

const cases: Case[] = [
  { app: 'vault', env: { AUTHPIPE_MASTER_KEYS: VALID_KEYS, HEALTH_PORT: '70000' }, names: ['HEALTH_PORT'] },
  { app: 'refresher', env: { AUTHPIPE_SHUTDOWN_TIMEOUT_MS: '1500', AUTHPIPE_SHUTDOWN_GRACE_MS: '2000' }, names: ['AUTHPIPE_SHUTDOWN_TIMEOUT_MS'] },
  { app: 'health-monitor', env: { PROBE_INTERVAL_SECONDS: '0', HEALTH_PORT: 'nine-thousand' }, names: ['PROBE_INTERVAL_SECONDS', 'HEALTH_PORT'] },
  { app: 'query-api', env: { AUTHPIPE_ADMIN_TOKEN: ADMIN_TOKEN, AUTHPIPE_LOG_FORMAT: 'yaml-s3cr3t-value' }, names: ['AUTHPIPE_LOG_FORMAT'] },
  { app: 'oauth-gateway', env: { GATEWAY_PORT: 'http-s3cr3t-value', NATS_URL: 'http://127.0.0.1:1' }, names: ['GATEWAY_PORT', 'NATS_URL'] },
];

function run(app: string, env: Record<string, string>): Promise<{ code: number | null; stdout: string; stderr: string; ms: number }> {
  const started = Date.now();
  return new Promise((resolve, reject) => {
    const child = spawn(process.execPath, [join(ROOT, 'dist', 'apps', app, 'src', 'main.js')], {
      cwd: ROOT,
      // Nothing from the test runner's environment: only the case's settings (NATS_URL points nowhere).
      env: { PATH: process.env.PATH ?? '', NATS_URL: 'nats://127.0.0.1:1', ...env },
      stdio: ['ignore', 'pipe', 'pipe'],
    });
    let stdout = '';
    let stderr = '';
    child.stdout.on('data', (chunk) => (stdout += chunk));
    child.stderr.on('data', (chunk) => (stderr += chunk));
    const timer = setTimeout(() => child.kill('SIGKILL'), 20_000);
    child.once('error', reject);
    child.once('exit', (code) => {
      clearTimeout(timer);
      resolve({ code, stdout, stderr, ms: Date.now() - started });
    });
  });
}

describe('configuration is validated at start-up', () => {
  it.each(cases)('$app exits non-zero naming $names', async ({ app, env, names }) => {
    const { code, stderr, stdout } = await run(app, env);
    expect(code).toBe(1);
    expect(stderr).toContain(`failed to start: invalid configuration`);
    for (const name of names) expect(stderr).toContain(name);
    expect(stderr + stdout).not.toContain('s3cr3t');
    // Nothing started: no "ready" line.
    expect(stdout).not.toContain('ready on');
  });

  it('writes the failure as one JSON object with AUTHPIPE_LOG_FORMAT=json', async () => {
    const { code, stderr } = await run('refresher', { AUTHPIPE_LOG_FORMAT: 'json', REFRESH_CONCURRENCY: '0' });
    expect(code).toBe(1);
    const lines = stderr.trim().split('\n');
    expect(lines).toHaveLength(1);
    expect(JSON.parse(lines[0])).toEqual({ time: expect.any(String), level: 'fatal', app: 'refresher', message: expect.stringContaining('REFRESH_CONCURRENCY') });
  });
});
