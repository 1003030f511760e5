import { spawnSync } from 'node:child_process';
import { mkdtempSync, readFileSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';

/*
 * docker-compose.yml checked by Compose itself, without an engine: `docker-compose config -q` (Debian's
 * docker-compose, installed by .ci/run) validates the file against the Compose schema and resolves every variable.
 * That version predates the top-level `name:` key, so a copy without it is checked.
 */
const ROOT = join(__dirname, '..', '..');
const available = spawnSync('docker-compose', ['version'], { stdio: 'ignore' }).status === 0;
if (!available) process.stderr.write('\nSKIPPED compose lint: docker-compose is not installed (apt-get install docker-compose)\n');

(available ? describe : describe.skip)('docker-compose.yml (docker-compose config)', () => {
  const dir = mkdtempSync(join(tmpdir(), 'compose-lint-'));
  const copy = join(dir, 'docker-compose.yml');
  writeFileSync(copy, readFileSync(join(ROOT, 'docker-compose.yml'), 'utf8').replace(/^name: .*\n/m, ''));
  const generated = spawnSync('sh', [join(ROOT, 'deploy/compose/generate-env.sh')], { encoding: 'utf8' });
  const env = Object.fromEntries(
    generated.stdout
      .trim()
      .split('\n')
      .map((line) => [line.slice(0, line.indexOf('=')), line.slice(line.indexOf('=') + 1)]),
  );
  const run = (extraEnv: Record<string, string>) =>
    spawnSync('docker-compose', ['-f', copy, '--project-directory', ROOT, 'config', '-q'], {
      encoding: 'utf8',
      env: { PATH: process.env.PATH, HOME: process.env.HOME, ...extraEnv },
    });

  it('is valid Compose with the generated settings', () => {
    expect(generated.status).toBe(0);
    const result = run(env);
    expect(result.stderr).toBe('');
    expect(result.status).toBe(0);
  });

  it('refuses to start without the master key, naming it', () => {
    const { AUTHPIPE_MASTER_KEYS: _omitted, ...rest } = env;
    const result = run(rest);
    expect(result.status).not.toBe(0);
    expect(result.stderr).toContain('AUTHPIPE_MASTER_KEYS');
  });
});
