import { readFileSync } from 'node:fs';
import { join, relative } from 'node:path';

/*
 * Where an app's CPU went during one phase, from the V8 profile cpu-profile-preload.js writes: self time per
 * function, and the same summed per package (node_modules/<name>, or our own code, or Node.js internals).
 */

interface ProfileNode {
  id: number;
  callFrame: { functionName: string; url: string; lineNumber: number };
}
interface CpuProfile {
  nodes: ProfileNode[];
  samples: number[];
}

const ROOT = join(__dirname, '..', '..');

function packageOf(url: string): string {
  if (!url) return '(native: syscalls, GC, V8)';
  if (url.startsWith('node:')) return 'Node.js core';
  const modules = url.lastIndexOf('node_modules/');
  if (modules !== -1) {
    const [scope, name] = url.slice(modules + 'node_modules/'.length).split('/');
    return scope.startsWith('@') ? `${scope}/${name}` : scope;
  }
  const path = relative(ROOT, url.replace(/^file:\/\//, ''));
  return path.startsWith('dist/') ? `authpipe ${path.split('/').slice(1, 3).join('/')}` : path;
}

export interface ProfileSummary {
  /** Samples taken while the process was not idle. */
  samples: number;
  /** Shares of those samples (0..1), highest first. */
  byPackage: { name: string; share: number }[];
  byFunction: { name: string; share: number }[];
}

/**
 * Self time of one profile as shares of its non-idle samples, the `top` packages and functions. Samples are counted
 * rather than their time deltas summed: on a machine short of CPU a process waits to be scheduled, and the sample
 * after the wait would carry the whole wait.
 */
export function summariseCpuProfile(file: string, top = 8): ProfileSummary {
  const profile = JSON.parse(readFileSync(file, 'utf8')) as CpuProfile;
  const frames = new Map(profile.nodes.map((node) => [node.id, node.callFrame]));
  const byPackage = new Map<string, number>();
  const byFunction = new Map<string, number>();
  let samples = 0;
  for (const id of profile.samples) {
    const frame = frames.get(id)!;
    if (frame.functionName === '(idle)') continue;
    samples++;
    const pkg = packageOf(frame.url);
    byPackage.set(pkg, (byPackage.get(pkg) ?? 0) + 1);
    const fn = frame.url ? `${frame.functionName || '(anonymous)'} (${pkg}:${frame.lineNumber + 1})` : frame.functionName;
    byFunction.set(fn, (byFunction.get(fn) ?? 0) + 1);
  }
  const ranked = (m: Map<string, number>) =>
    [...m].map(([name, n]) => ({ name, share: n / samples })).sort((a, b) => b.share - a.share).slice(0, top);
  return { samples, byPackage: ranked(byPackage), byFunction: ranked(byFunction) };
}
