'use strict';
// Finds or installs nats-server and starts it with JetStream on a loopback port.
const { execFileSync, spawn, spawnSync } = require('node:child_process');
const { mkdirSync } = require('node:fs');

function which(binary) {
  const found = spawnSync('sh', ['-c', `command -v ${binary}`], { encoding: 'utf8' });
  return found.status === 0 ? found.stdout.trim() : null;
}

/** The nats-server binary: NATS_SERVER_BIN, the PATH, or installed with apt on Debian/Ubuntu when we are root. */
function ensureNatsServer(log) {
  if (process.env.NATS_SERVER_BIN) return process.env.NATS_SERVER_BIN;
  const existing = which('nats-server');
  if (existing) return existing;
  const isRoot = typeof process.getuid === 'function' && process.getuid() === 0;
  if (which('apt-get')) {
    const sudo = isRoot ? [] : which('sudo') ? ['sudo'] : null;
    if (sudo) {
      log('nats-server is missing: installing it with apt-get (Debian package nats-server)');
      const run = (args) => execFileSync(sudo.length ? 'sudo' : args[0], sudo.length ? args : args.slice(1), { stdio: 'inherit' });
      run(['apt-get', 'update', '-qq']);
      run(['apt-get', 'install', '-y', '-qq', 'nats-server']);
      const installed = which('nats-server');
      if (installed) return installed;
    }
  }
  throw new Error(
    'nats-server is not installed. Install it and run again: Debian/Ubuntu "apt-get install nats-server", ' +
      'macOS "brew install nats-server", or download a release from the NATS project; or set NATS_SERVER_BIN.',
  );
}

/** Start nats-server with JetStream; resolves when it says it is ready. */
function startNatsServer({ binary, port, storeDir }) {
  mkdirSync(storeDir, { recursive: true });
  return new Promise((resolve, reject) => {
    const child = spawn(binary, ['-js', '-a', '127.0.0.1', '-p', String(port), '-sd', storeDir], { stdio: ['ignore', 'ignore', 'pipe'] });
    let output = '';
    const timer = setTimeout(() => {
      child.kill('SIGKILL');
      reject(new Error(`nats-server did not start on port ${port}: ${output.slice(-400)}`));
    }, 10_000);
    child.stderr.on('data', (chunk) => {
      output += chunk;
      if (output.includes('Server is ready')) {
        clearTimeout(timer);
        child.stderr.removeAllListeners('data');
        child.stderr.resume();
        resolve(child);
      }
    });
    child.once('exit', (code) => {
      clearTimeout(timer);
      reject(new Error(`nats-server exited with ${code}: ${output.slice(-400)}`));
    });
  });
}

module.exports = { ensureNatsServer, startNatsServer, which };
