import 'reflect-metadata';
import { loadConfig } from '@authpipe/config';
import { runMain, serveHealth, usePlatformLogger } from '@authpipe/platform';
import { VaultConfig } from './vault.config';
import { startVault } from './start-vault';

// async, so that a configuration error becomes runMain's one-line failure rather than an uncaught throw.
runMain('vault', async () => {
  const config = loadConfig(VaultConfig);
  // Before startVault: opening the buckets and the audit stream logs already.
  usePlatformLogger('vault', config);
  const app = await startVault(config);
  await serveHealth(app, 'vault', config);
  return app;
});
