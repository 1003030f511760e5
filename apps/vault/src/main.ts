import 'reflect-metadata';
import { loadConfig } from '@authpipe/config';
import { runMain } from '@authpipe/platform';
import { VaultConfig } from './vault.config';
import { startVault } from './start-vault';

// async, so that a configuration error becomes runMain's one-line failure rather than an uncaught throw.
runMain('vault', async () => startVault(loadConfig(VaultConfig)));
