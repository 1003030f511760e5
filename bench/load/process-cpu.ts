import { execSync } from 'node:child_process';
import { readFileSync } from 'node:fs';

/*
 * CPU time per process over a phase of the load run, from /proc (Linux): utime + stime of each process and the
 * machine's busy time, read before and after. The same numbers `ps` samples, without its rounding, and the
 * machine's total shows how much CPU went to processes outside the run (other jobs on a shared machine).
 */

const TICKS_PER_SECOND = Number(execSync('getconf CLK_TCK').toString().trim()) || 100;

export interface CpuSnapshot {
  at: number;
  perProcess: Record<string, number>;
  machineBusy: number;
}

/** CPU seconds (user + system) of one process so far; NaN once it is gone. */
function processCpuSeconds(pid: number): number {
  try {
    const stat = readFileSync(`/proc/${pid}/stat`, 'utf8');
    // The command name (field 2) may hold spaces: count fields after its closing parenthesis.
    const fields = stat.slice(stat.lastIndexOf(')') + 2).split(' ');
    return (Number(fields[11]) + Number(fields[12])) / TICKS_PER_SECOND; // utime, stime (fields 14 and 15)
  } catch {
    return Number.NaN;
  }
}

/** Busy CPU seconds of the whole machine (all cores; idle and iowait left out). */
function machineBusySeconds(): number {
  const [, ...values] = readFileSync('/proc/stat', 'utf8').split('\n')[0].trim().split(/\s+/);
  const ticks = values.map(Number);
  const idle = ticks[3] + ticks[4];
  return (ticks.slice(0, 8).reduce((a, b) => a + b, 0) - idle) / TICKS_PER_SECOND;
}

export function cpuSnapshot(pids: Record<string, number>): CpuSnapshot {
  return {
    at: performance.now(),
    perProcess: Object.fromEntries(Object.entries(pids).map(([name, pid]) => [name, processCpuSeconds(pid)])),
    machineBusy: machineBusySeconds(),
  };
}

export interface CpuUse {
  name: string;
  cpuSeconds: number;
  /** Percent of one core over the phase's wall time (200% = both cores of a 2-core machine). */
  percentOfCore: number;
}

/** CPU used per process between two snapshots, highest first, and what the rest of the machine used. */
export function cpuBetween(before: CpuSnapshot, after: CpuSnapshot): { processes: CpuUse[]; others: CpuUse; wallSeconds: number } {
  const wallSeconds = (after.at - before.at) / 1000;
  const use = (name: string, cpuSeconds: number): CpuUse => ({ name, cpuSeconds, percentOfCore: (100 * cpuSeconds) / wallSeconds });
  const processes = Object.keys(before.perProcess)
    .map((name) => use(name, after.perProcess[name] - before.perProcess[name]))
    .sort((a, b) => b.cpuSeconds - a.cpuSeconds);
  const ours = processes.reduce((sum, p) => sum + (Number.isNaN(p.cpuSeconds) ? 0 : p.cpuSeconds), 0);
  return { processes, others: use('other processes on the machine', Math.max(0, after.machineBusy - before.machineBusy - ours)), wallSeconds };
}
