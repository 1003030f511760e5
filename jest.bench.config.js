// Benchmarks run through jest only to reuse the TypeScript setup and test support; they assert nothing about time.
const base = require('./jest.config.js');
module.exports = {
  transform: base.transform,
  globalSetup: base.globalSetup,
  globalTeardown: base.globalTeardown,
  testTimeout: 600_000,
  projects: [{ ...base.projects[0], displayName: 'bench', testMatch: ['<rootDir>/bench/**/*.bench.ts'] }],
};
