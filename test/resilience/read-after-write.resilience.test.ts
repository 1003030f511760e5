import { connectionOf, LoadPlatform, PROVIDER, startLoadPlatform } from './support/load-platform';
import { connectUser } from './support/steady-load';

/*
 * Read-your-writes across apps: a user's connect flow succeeds (the gateway appended Connected, the popup says so)
 * and the tenant's backend reads the credential at once, from query-api, whose read models learn of Connected a
 * little later. The lag is made deterministic and long with the failpoint projection.before-apply=sleep(1500): every
 * event reaches query-api's read models 1.5 s after query-api reads it. Each case first shows the lag (the
 * connection list, which does not wait, does not have the user yet), then that the read which would have answered
 * "not found" waited for the read models to catch up with the history and answered from them: 200, or a 404 only
 * once the read models are current.
 */

const LAG_MS = 1_500;

describe('reads right after a write (projection lagging by failpoint)', () => {
  let lp: LoadPlatform;

  const query = (path: string, init: RequestInit = {}) =>
    fetch(`${lp.platform.queryUrl}${path}`, { ...init, headers: { authorization: `Bearer ${lp.apiKey}` } }).then(async (res) => ({
      status: res.status,
      body: (await res.json()) as Record<string, unknown>,
    }));
  /** The connection list: the read models as they are, without waiting for anything. */
  const listed = async (userId: string) => ((await query(`/v1/connections?userId=${userId}`)).body.items as unknown[]).length;

  async function connectLagging(userId: string): Promise<void> {
    expect(await connectUser(lp.target, userId)).toMatchObject({ outcome: 'ok' });
    // The gateway has appended Connected; query-api's read models do not have it yet.
    expect(await listed(userId)).toBe(0);
  }

  beforeAll(async () => {
    lp = await startLoadPlatform({
      accessTokenTtlSeconds: 3_600,
      // Armed in every app, fires only in query-api's projector. Commands wait for their own events up to 10 s.
      env: { AUTHPIPE_FAILPOINTS: `projection.before-apply=sleep(${LAG_MS})`, READ_YOUR_WRITES_TIMEOUT_MS: '10000' },
    });
  }, 120_000);

  afterAll(async () => {
    await lp?.stop();
  });

  it('a credential read right after the connect answers 200 with the token, not 404 NOT_CONNECTED', async () => {
    await connectLagging('ryw-credential');
    const read = await query(`/v1/credentials/${PROVIDER}/ryw-credential`);
    expect(read).toMatchObject({ status: 200, body: { connectionId: connectionOf('ryw-credential'), accessToken: expect.any(String) } });
  });

  it('GET /v1/connections/:id right after the connect answers 200', async () => {
    await connectLagging('ryw-get');
    const id = connectionOf('ryw-get');
    expect(await query(`/v1/connections/${id}`)).toMatchObject({ status: 200, body: { connectionId: id, status: 'connected' } });
  });

  it('DELETE /v1/connections/:id right after the connect disconnects it', async () => {
    await connectLagging('ryw-delete');
    const id = connectionOf('ryw-delete');
    expect(await query(`/v1/connections/${id}`, { method: 'DELETE' })).toMatchObject({ status: 200, body: { connectionId: id, status: 'disconnected' } });
    expect(await query(`/v1/credentials/${PROVIDER}/ryw-delete`)).toMatchObject({ status: 404, body: { code: 'NOT_CONNECTED' } });
  });

  it('a user who never connected is 404 NOT_CONNECTED, answered once the read models caught up with the history', async () => {
    await connectLagging('ryw-other');
    expect(await query(`/v1/credentials/${PROVIDER}/ryw-never`)).toMatchObject({ status: 404, body: { code: 'NOT_CONNECTED' } });
    // The 404 came after the projector had passed the head of the history, which held the other user's Connected.
    expect(await listed('ryw-other')).toBe(1);
    expect(await query(`/v1/connections/${connectionOf('ryw-never')}`)).toMatchObject({ status: 404, body: { code: 'CONNECTION_NOT_FOUND' } });
  });
});
