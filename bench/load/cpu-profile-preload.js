'use strict';
// Loaded with NODE_OPTIONS=--require by the load run when LOAD_CPU_PROFILE_DIR is set (Node.js 20 refuses --cpu-prof
// in NODE_OPTIONS, and a whole-life profile is mostly start-up). Each SIGUSR2 toggles a V8 CPU profile of this
// process: the first starts one, the next writes it as CPU.<pid>.<n>.cpuprofile (n counts from 0), and so on, so the
// load run can profile exactly one phase at a time.
const inspector = require('node:inspector');
const { renameSync, writeFileSync } = require('node:fs');
const { join } = require('node:path');

const dir = process.env.LOAD_CPU_PROFILE_DIR;
if (dir) {
  const session = new inspector.Session();
  session.connect();
  session.post('Profiler.enable');
  let running = false;
  let written = 0;
  process.on('SIGUSR2', () => {
    if (!running) {
      running = true;
      session.post('Profiler.start');
      return;
    }
    running = false;
    session.post('Profiler.stop', (err, result) => {
      if (err) return;
      const file = join(dir, `CPU.${process.pid}.${written++}.cpuprofile`);
      // Written under a temporary name first: the run waits for the final name and must never read half a file.
      writeFileSync(`${file}.tmp`, JSON.stringify(result.profile));
      renameSync(`${file}.tmp`, file);
    });
  });
}
