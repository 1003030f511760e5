import { execFileSync } from 'node:child_process';

/**
 * Whether testcontainers can start containers here. Probed once in globalSetup: without a reachable engine
 * testcontainers fails in milliseconds, so suites that need one skip with this reason instead.
 */
export function probeContainerRuntime(): { available: boolean; reason: string } {
  if (process.env.DOCKER_HOST) return { available: true, reason: `DOCKER_HOST=${process.env.DOCKER_HOST}` };
  try {
    execFileSync('docker', ['info', '--format', '{{.ServerVersion}}'], { stdio: 'pipe', timeout: 5_000 });
    return { available: true, reason: 'docker engine reachable' };
  } catch (err) {
    const detail = (err as { stderr?: Buffer }).stderr?.toString().split('\n')[0] || (err as Error).message;
    return { available: false, reason: `no container engine reachable (docker info: ${detail.trim()})` };
  }
}
