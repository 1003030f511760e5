import { execFileSync } from 'node:child_process';
import { readFileSync } from 'node:fs';
import { availableParallelism, loadavg } from 'node:os';
import { natsServerBinary } from '../../test/support/nats-server';

const run = (file: string, args: string[]): string => {
  try {
    return execFileSync(file, args, { encoding: 'utf8' }).trim();
  } catch {
    return '(unavailable)';
  }
};

/** What a reader needs to compare a run with another: cores, memory, CPU model, Node.js, nats-server, load. */
export function describeMachine(): string[] {
  const model = /^model name\s*:\s*(.*)$/m.exec(readFileSync('/proc/cpuinfo', 'utf8'))?.[1] ?? 'unknown';
  const memory = run('free', ['-g']).split('\n').find((line) => line.startsWith('Mem:'))?.split(/\s+/)[1];
  return [
    `date: ${new Date().toISOString()}`,
    `nproc: ${run('nproc', [])} (Node.js availableParallelism ${availableParallelism()})`,
    `memory (free -g): ${memory ?? '?'} GiB total`,
    `CPU: ${model}`,
    `Node.js ${process.version}, ${run(natsServerBinary(), ['--version'])}`,
    `load average at start (1/5/15 min): ${loadavg().map((n) => n.toFixed(2)).join(' / ')}`,
  ];
}
