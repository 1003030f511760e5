import { execFileSync, spawn } from 'node:child_process';
import {
  chmodSync,
  closeSync,
  cpSync,
  existsSync,
  mkdirSync,
  mkdtempSync,
  openSync,
  readdirSync,
  readFileSync,
  renameSync,
  rmSync,
  writeFileSync,
} from 'node:fs';
import { connect } from 'node:net';
import { homedir, tmpdir } from 'node:os';
import { join } from 'node:path';
import { freePort } from './nats-server';

/** FerretDB 1.x: the last line with the SQLite backend, so it runs with no other server. */
export const FERRETDB_VERSION = 'v1.24.2';
const FERRETDB_MODULE = 'github.com/FerretDB/FerretDB';

/** Where the built binary is cached between runs (override with AUTHPIPE_CACHE_DIR, or FERRETDB_BIN for a binary). */
export function ferretDbCacheDir(): string {
  const cacheHome = process.env.XDG_CACHE_HOME ?? join(homedir(), '.cache');
  const base = process.env.AUTHPIPE_CACHE_DIR ?? join(cacheHome, 'authpipe');
  return join(base, `ferretdb-${FERRETDB_VERSION}`);
}

export type FerretDbBinary =
  | { available: true; path: string; built: boolean; buildSeconds?: number }
  | { available: false; reason: string };

/**
 * The FerretDB binary, built with the Go toolchain the first time and cached after. Synchronous on purpose: a test
 * file must know while it is being collected whether its suite runs or is skipped.
 *
 * Why not simply `GOBIN=<cache> go install github.com/FerretDB/FerretDB/cmd/ferretdb@v1.24.2`: the module as published
 * lacks the generated build/version/version.txt, and such a binary panics at start ("Invalid
 * build/version/version.txt file content"). So the same module source is downloaded through the Go module proxy,
 * copied, given that file, and installed from the copy.
 */
export function ferretDbBinary(): FerretDbBinary {
  if (process.env.FERRETDB_BIN) {
    return existsSync(process.env.FERRETDB_BIN)
      ? { available: true, path: process.env.FERRETDB_BIN, built: false }
      : { available: false, reason: `FERRETDB_BIN=${process.env.FERRETDB_BIN} does not exist` };
  }
  const cacheDir = ferretDbCacheDir();
  const binary = join(cacheDir, 'ferretdb');
  // A cached binary must also run: one from a plain `go install` exists but panics at start (see above).
  if (existsSync(binary) && runs(binary)) return { available: true, path: binary, built: false };

  const go = findGo();
  if (!go) return { available: false, reason: 'the Go toolchain (go) is not installed, so FerretDB cannot be built' };

  const started = Date.now();
  const work = mkdtempSync(join(tmpdir(), 'authpipe-ferretdb-build-'));
  try {
    // GOTOOLCHAIN=local: build with the installed Go rather than fetching the toolchain go.mod names.
    const env = { ...process.env, GOTOOLCHAIN: 'local', GOFLAGS: '-mod=mod' };
    const run = (args: string[], cwd: string, extra: Record<string, string> = {}) =>
      execFileSync(go, args, { cwd, env: { ...env, ...extra }, stdio: 'pipe', timeout: 15 * 60_000 }).toString();

    const module = JSON.parse(run(['mod', 'download', '-json', `${FERRETDB_MODULE}@${FERRETDB_VERSION}`], work)) as {
      Dir?: string;
      Error?: string;
    };
    if (!module.Dir) throw new Error(module.Error ?? 'go mod download returned no directory');
    const source = join(work, 'src');
    cpSync(module.Dir, source, { recursive: true });
    makeWritable(source); // the module cache is read-only
    writeFileSync(join(source, 'build', 'version', 'version.txt'), `${FERRETDB_VERSION}\n`);

    // Installed into a private directory and moved into place, so a concurrent run never sees half a binary.
    const staging = join(work, 'bin');
    run(['install', './cmd/ferretdb'], source, { GOBIN: staging });
    mkdirSync(cacheDir, { recursive: true });
    renameSync(join(staging, 'ferretdb'), binary);
    if (!runs(binary)) throw new Error(`the built ${binary} does not run (ferretdb --version failed)`);
    return { available: true, path: binary, built: true, buildSeconds: Math.round((Date.now() - started) / 1000) };
  } catch (err) {
    rmSync(binary, { force: true });
    const stderr = (err as { stderr?: Buffer }).stderr?.toString().trim();
    const detail = (stderr || (err as Error).message).split('\n').slice(-6).join('\n');
    return { available: false, reason: `building FerretDB ${FERRETDB_VERSION} with ${go} failed: ${detail}` };
  } finally {
    makeWritable(work);
    rmSync(work, { recursive: true, force: true });
  }
}

function runs(binary: string): boolean {
  try {
    execFileSync(binary, ['--version'], { stdio: 'pipe', timeout: 30_000 });
    return true;
  } catch {
    return false;
  }
}

function findGo(): string | undefined {
  for (const candidate of [process.env.GO_BIN, 'go', '/usr/local/go/bin/go'].filter(Boolean) as string[]) {
    try {
      execFileSync(candidate, ['version'], { stdio: 'pipe', timeout: 30_000 });
      return candidate;
    } catch {
      // next candidate
    }
  }
  return undefined;
}

function makeWritable(dir: string): void {
  if (!existsSync(dir)) return;
  chmodSync(dir, 0o755);
  for (const entry of readdirSync(dir, { withFileTypes: true })) {
    if (entry.isDirectory()) makeWritable(join(dir, entry.name));
    else chmodSync(join(dir, entry.name), 0o644);
  }
}

/** A FerretDB process speaking the MongoDB wire protocol on a loopback port, its SQLite files in a temp dir. */
export interface FerretDbHandle {
  url: string;
  pid: number;
  stop(): Promise<void>;
}

export async function startFerretDb(binary: string): Promise<FerretDbHandle> {
  const port = await freePort();
  const dataDir = mkdtempSync(join(tmpdir(), 'authpipe-ferretdb-'));
  const logFile = join(dataDir, 'ferretdb.log');
  // Logs go to a file: a pipe nobody drains would block FerretDB once full.
  const log = openSync(logFile, 'a');
  const child = spawn(
    binary,
    [
      '--handler=sqlite',
      `--sqlite-url=file:${dataDir}/`,
      `--state-dir=${dataDir}`,
      `--listen-addr=127.0.0.1:${port}`,
      '--debug-addr=-',
      '--telemetry=disable',
      '--log-level=warn',
    ],
    { stdio: ['ignore', log, log] },
  );
  closeSync(log);
  const tail = () => (existsSync(logFile) ? readFileSync(logFile, 'utf8').slice(-1500) : '');
  const exited = new Promise<number | null>((resolve) => child.once('exit', (code) => resolve(code)));
  const stop = async () => {
    if (child.exitCode === null && child.signalCode === null) {
      child.kill('SIGTERM');
      const timer = setTimeout(() => child.kill('SIGKILL'), 5_000);
      await exited;
      clearTimeout(timer);
    }
    rmSync(dataDir, { recursive: true, force: true });
  };

  try {
    await new Promise<void>((resolve, reject) => {
      let settled = false;
      const fail = (err: Error) => {
        settled = true;
        reject(err);
      };
      child.once('error', (err) => fail(new Error(`cannot start FerretDB (${binary}): ${err.message}`)));
      void exited.then((code) => fail(new Error(`FerretDB exited with ${code} before listening:\n${tail()}`)));
      const deadline = Date.now() + 20_000;
      const probe = () => {
        if (settled) return;
        const socket = connect(port, '127.0.0.1');
        socket.once('connect', () => {
          socket.destroy();
          settled = true;
          resolve();
        });
        socket.once('error', () => {
          socket.destroy();
          if (Date.now() > deadline) fail(new Error(`FerretDB did not listen on port ${port} within 20 s:\n${tail()}`));
          else setTimeout(probe, 100);
        });
      };
      probe();
    });
  } catch (err) {
    await stop();
    throw err;
  }
  return { url: `mongodb://127.0.0.1:${port}/`, pid: child.pid!, stop };
}
