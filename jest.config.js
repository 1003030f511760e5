// Projects: unit (beside the code), integration (adapters against real servers), e2e (five apps as processes),
// packages (the SDKs), browser (the Connect button in headless Chromium against the platform) and resilience.
// globalSetup starts one nats-server for the whole run and probes once for a container runtime.
const { pathsToModuleNameMapper } = require('ts-jest');
const { compilerOptions } = require('./tsconfig.json');

const shared = {
  testEnvironment: 'node',
  moduleNameMapper: pathsToModuleNameMapper(compilerOptions.paths, { prefix: '<rootDir>/' }),
  // oauth4webapi ships ESM only: let ts-jest transpile it to CommonJS for the test runtime.
  transform: {
    '^.+\\.ts$': 'ts-jest',
    '^.+oauth4webapi.+\\.js$': ['ts-jest', { tsconfig: { allowJs: true, isolatedModules: true } }],
  },
  transformIgnorePatterns: ['/node_modules/(?!oauth4webapi/)'],
};

module.exports = {
  // The root transform also compiles globalSetup/globalTeardown.
  transform: shared.transform,
  testTimeout: 120_000,
  reporters: ['default', '<rootDir>/test/support/summary-reporter.js'],
  globalSetup: '<rootDir>/test/support/global-setup.ts',
  globalTeardown: '<rootDir>/test/support/global-teardown.ts',
  projects: [
    { ...shared, displayName: 'unit', testMatch: ['<rootDir>/apps/**/*.spec.ts', '<rootDir>/libs/**/*.spec.ts'] },
    { ...shared, displayName: 'integration', testMatch: ['<rootDir>/test/integration/**/*.test.ts'] },
    { ...shared, displayName: 'e2e', testMatch: ['<rootDir>/test/e2e/**/*.e2e.test.ts'] },
    // The SDK packages (@authpipe/node, @authpipe/react) against local servers, and the Connect button in Chromium.
    { ...shared, displayName: 'packages', testMatch: ['<rootDir>/packages/*/test/**/*.test.ts'] },
    { ...shared, displayName: 'browser', testMatch: ['<rootDir>/test/browser/**/*.browser.test.ts'] },
    // The platform under faults (nats-server restarts, kill -9, duplicate and out-of-order delivery, broken
    // providers) and fuzzed input on every route and subject. RESILIENCE_SCALE (default 1) lengthens the runs.
    { ...shared, displayName: 'resilience', testMatch: ['<rootDir>/test/resilience/**/*.resilience.test.ts'] },
  ],
};
