import type { ChildProcess } from 'node:child_process';
import { connect, JSONCodec, NatsConnection } from 'nats';
import type { RecordedEvent } from '@authpipe/contracts';
import { eventually } from '../support/test-platform';
import {
  checkCredentialsLive,
  checkHistory,
  connectionOf,
  heldRefreshLocks,
  LoadPlatform,
  readHistory,
  readModelsAgree,
  startLoadPlatform,
  vaultCredentialOf,
} from './support/load-platform';
import { settle } from './support/settle';
import { connectUser, Outcome } from './support/steady-load';

/*
 * The refresher's dual write, a credential into vault and then its Refreshed into the event store, cut between the
 * two by a crash, deterministically: failpoints (libs/platform/src/failpoints.ts) make a process SIGKILL itself at
 * the exact place.
 * 1. The refresher dies right after vault stored the refreshed credential (refresh.after-vault-store): vault is one
 *    version ahead of the history. Restarted without the failpoint, the next holder of the connection's lock finds
 *    the dead refresher's note in the lock record and appends the missing Refreshed.
 * 2. Vault dies after writing the credential, before replying (vault.after-credential-store): the refresher sees a
 *    timeout, not a success. Once vault is back, the next flight records the Refreshed from the note instead of
 *    taking vault's newer version silently as "another worker's result".
 * Then, at rest: exactly one Refreshed per stored credential version (contiguous, none twice, up to vault's), the read
 * model shows vault's expiry, the credential is valid at the provider, no lock is held and no note is left.
 * Tokens of 16 s, refreshed at half their life; the dead refresher's lease is 5 s (PLATFORM_ENV).
 */

const USER = 'crash-user';
const codec = JSONCodec<Record<string, unknown>>();

const versionsOf = (history: RecordedEvent[], connectionId: string) =>
  history
    .filter((e) => (e.type === 'Connected' || e.type === 'Refreshed') && e.data.connectionId === connectionId)
    .map((e) => (e.data as { credentialVersion: number }).credentialVersion);

const killedBySignal = (child: ChildProcess | undefined) => child?.signalCode === 'SIGKILL';

describe('a refresh cut between its store in vault and its Refreshed event', () => {
  let lp: LoadPlatform;
  let nats: NatsConnection;
  let connected: Outcome;
  const connectionId = connectionOf(USER);

  beforeAll(async () => {
    // Armed in every app, fires only in the refresher: no other app has that failpoint.
    lp = await startLoadPlatform({ accessTokenTtlSeconds: 16, env: { AUTHPIPE_FAILPOINTS: 'refresh.after-vault-store' } });
    nats = await connect({ servers: lp.platform.nats.url, name: 'resilience-refresh-crash' });
    connected = await connectUser(lp.target, USER);
    expect(connected).toMatchObject({ outcome: 'ok' });
  }, 120_000);

  afterAll(async () => {
    await nats?.close();
    await lp?.stop();
  });

  it('the refresher killed after the store: its Refreshed is appended by the restarted refresher, once', async () => {
    const refresher = lp.platform.children.get('refresher');
    await eventually(async () => (killedBySignal(refresher) ? true : undefined), 30_000, 'the refresher to die at its failpoint');
    // The window was hit: vault holds a credential version the history does not.
    const inVault = (await vaultCredentialOf(nats, connectionId))!;
    const recorded = versionsOf(await readHistory(lp.platform.nats.url), connectionId);
    expect(recorded).toEqual([1]);
    expect(inVault.version).toBe(2);

    await lp.platform.restartApp('refresher', { AUTHPIPE_FAILPOINTS: '' });
    const refreshed = await eventually(
      async () => (await readHistory(lp.platform.nats.url)).find((e) => e.type === 'Refreshed' && e.data.connectionId === connectionId && e.data.credentialVersion === 2),
      30_000,
      'the Refreshed of version 2',
    );
    // Recorded from the dead refresher's note: vault's expiry, and when the store happened (before the old token expired).
    expect(refreshed.data).toMatchObject({ expiresAt: inVault.expiresAt, rotated: false });
    expect(lp.platform.logs.some((l) => l.includes('recorded the Refreshed of credential version 2'))).toBe(true);
  }, 90_000);

  it('vault killed after writing, before replying: the Refreshed is appended once vault is back', async () => {
    const before = versionsOf(await readHistory(lp.platform.nats.url), connectionId);
    await lp.platform.killApp('vault');
    await lp.platform.restartApp('vault', { AUTHPIPE_FAILPOINTS: 'vault.after-credential-store' });
    // The refresher's next refresh of the user is vault's next credential store: vault dies storing it.
    const vault = lp.platform.children.get('vault');
    await eventually(async () => (killedBySignal(vault) ? true : undefined), 30_000, 'vault to die at its failpoint');
    const recordedWhenVaultDied = versionsOf(await readHistory(lp.platform.nats.url), connectionId).at(-1)!;
    expect(recordedWhenVaultDied).toBeGreaterThanOrEqual(before.at(-1)!);

    await lp.platform.restartApp('vault', { AUTHPIPE_FAILPOINTS: '' });
    const stored = (await vaultCredentialOf(nats, connectionId))!;
    // Vault had stored the version it died on, one past what the history recorded then.
    expect(stored.version).toBeGreaterThan(recordedWhenVaultDied);
    const lost = recordedWhenVaultDied + 1;
    await eventually(
      async () => (versionsOf(await readHistory(lp.platform.nats.url), connectionId).includes(lost) ? true : undefined),
      30_000,
      `the Refreshed of version ${lost}`,
    );
    expect(lp.platform.logs.some((l) => l.includes(`recorded the Refreshed of credential version ${lost}`))).toBe(true);
  }, 90_000);

  it('at rest: one Refreshed per stored version, the read model shows vault, the token works, no lock or note left', async () => {
    const history = await settle(lp, 45_000);
    const findings = await checkHistory(history, [connected], nats);
    expect(findings.problems).toEqual([]);
    const versions = versionsOf(history, connectionId);
    expect(versions).toEqual(versions.map((_, i) => i + 1));
    const inVault = (await vaultCredentialOf(nats, connectionId))!;
    expect(versions.at(-1)).toBe(inVault.version);

    const { problems } = await readModelsAgree(lp.target, lp.platform.nats.url);
    expect(problems).toEqual([]);
    const view = (await (
      await fetch(`${lp.target.queryUrl}/v1/connections/${connectionId}`, { headers: { authorization: `Bearer ${lp.apiKey}` } })
    ).json()) as { expiresAt: string; status: string };
    expect(view).toMatchObject({ status: 'connected', expiresAt: inVault.expiresAt });

    expect((await checkCredentialsLive(lp.target, lp.provider, history)).problems).toEqual([]);
    expect(await heldRefreshLocks(nats)).toEqual([]);
    const lockKey = await (await nats.jetstream().views.kv('authpipe_refresh_locks')).get(connectionId);
    const note = lockKey?.operation === 'PUT' ? codec.decode(lockKey.value).intent : undefined;
    expect(note).toBeUndefined();
    console.log(`refresh crash: ${history.length} events; credential versions ${versions.join(', ')}; ${findings.refreshed} Refreshed; vault at ${inVault.version}`);
  }, 90_000);
});
