import type { Page } from 'playwright-core';
import { FakeClickSend, startFakeClickSend } from '../support/fake-clicksend';
import { OAuthServerHandle, startOAuthServer } from '../support/oauth-server/spawn';
import { eventually, gatewayUrlFor, reservePorts, startTestPlatform, TestPlatform } from '../support/test-platform';
import { Browser, describeInChromium, launchChromium } from './support/chromium';
import { ConnectPage, startConnectPage } from './support/connect-page';

/*
 * <ConnectButton> in headless Chromium against the whole platform (five apps, nats-server) with a local
 * Google-like authorization server and a fake ClickSend: the popup flow end to end, a denial, a closed popup,
 * forged messages, and the redirect fallback when the popup is blocked.
 */

type Outcome = { type: 'success'; connection: { connectionId: string; provider: string; userId: string; scopes: string[] } } | { type: 'error'; reason: string; message: string } | { type: 'cancel' };

const GMAIL_READONLY = 'https://www.googleapis.com/auth/gmail.readonly';
const CLIENT_SECRET = `browser-gmail-secret-${Math.random().toString(36).slice(2)}`;
const CLICKSEND_KEY = `clicksend-key-${Math.random().toString(36).slice(2)}`;

describeInChromium('ConnectButton in Chromium against the platform', () => {
  let google: OAuthServerHandle;
  let clicksend: FakeClickSend;
  let platform: TestPlatform;
  let app: ConnectPage;
  let browser: Browser;
  let apiKey: string;

  const outcomes = (page: Page) => page.evaluate(() => (window as unknown as { __outcomes: Outcome[] }).__outcomes);
  const outcome = (page: Page) =>
    eventually(async () => {
      const all = await outcomes(page);
      return all.length ? all : undefined;
    }, 20_000, 'an outcome from the ConnectButton');

  async function connections(userId: string) {
    const res = await fetch(`${platform.queryUrl}/v1/connections?userId=${userId}`, { headers: { authorization: `Bearer ${apiKey}` } });
    return ((await res.json()) as { items: { connectionId: string; provider: string; status: string }[] }).items;
  }

  async function openApp(provider: string, user: string): Promise<Page> {
    const page = await browser.context.newPage();
    await page.goto(`${app.url}?provider=${provider}&user=${user}`);
    await page.getByRole('button').waitFor();
    return page;
  }

  beforeAll(async () => {
    const ports = await reservePorts();
    google = await startOAuthServer({
      profile: 'google',
      clients: [{ client_id: 'browser-gmail', client_secret: CLIENT_SECRET, redirect_uris: [`${gatewayUrlFor(ports)}/v1/oauth/callback/gmail`] }],
    });
    clicksend = await startFakeClickSend({ accounts: { acme_sms: CLICKSEND_KEY } });
    platform = await startTestPlatform({
      ports,
      providers: {
        gmail: { oauth2: { authorizationUrl: google.authorizationEndpoint, tokenUrl: google.tokenEndpoint, revocationUrl: google.revocationEndpoint, issuer: google.issuer }, probe: { url: google.probeEndpoint } },
        clicksend: { apiKey: { verifyUrl: clicksend.verifyUrl }, probe: { url: clicksend.verifyUrl } },
      },
    });
    const admin = (path: string, body: unknown) =>
      fetch(`${platform.queryUrl}${path}`, { method: 'POST', headers: { authorization: `Bearer ${platform.adminToken}`, 'content-type': 'application/json' }, body: JSON.stringify(body) });
    await admin('/v1/admin/tenants', { tenantId: 'org_browser', name: 'Browser' });
    apiKey = ((await (await admin('/v1/admin/tenants/org_browser/api-keys', {})).json()) as { apiKey: string }).apiKey;
    const integration = await fetch(`${platform.queryUrl}/v1/integrations/gmail`, {
      method: 'PUT',
      headers: { authorization: `Bearer ${apiKey}`, 'content-type': 'application/json' },
      body: JSON.stringify({ clientId: 'browser-gmail', clientSecret: CLIENT_SECRET, scopes: [GMAIL_READONLY, 'openid', 'email'] }),
    });
    expect(integration.status).toBe(200);
    app = await startConnectPage({ gatewayUrl: platform.gatewayUrl, apiKey: () => apiKey, sessionBody: (provider) => (provider === 'gmail' ? { scopes: [GMAIL_READONLY] } : {}) });
    browser = await launchChromium();
  });

  afterAll(async () => {
    await browser?.close();
    await app?.stop();
    await platform?.stop();
    await google?.stop();
    await clicksend?.stop();
  });

  it('connects with the keyboard: the popup consents at the provider, onSuccess gets the connection, the popup closes', async () => {
    const page = await openApp('gmail', 'b_success');
    const button = page.getByRole('button', { name: 'Connect Gmail' });
    await expect(button.getAttribute('type')).resolves.toBe('button');
    await expect(button.getAttribute('aria-busy')).resolves.toBe('false');
    await button.focus();
    const [popup] = await Promise.all([page.waitForEvent('popup'), page.keyboard.press('Enter')]);
    const [first] = (await outcome(page)) as Extract<Outcome, { type: 'success' }>[];
    expect(first.type).toBe('success');
    expect(first.connection).toMatchObject({ provider: 'gmail', userId: 'b_success', scopes: [GMAIL_READONLY] });
    expect(first.connection.connectionId).toMatch(/^con_[A-Za-z0-9_-]{22}$/);
    await eventually(async () => (popup.isClosed() ? true : undefined), 5_000, 'the popup to close itself');
    await expect(button.getAttribute('aria-busy')).resolves.toBe('false');
    await expect(page.getByRole('status').textContent()).resolves.toBe('Gmail connected.');
    const stored = await eventually(async () => (await connections('b_success')).find((c) => c.status === 'connected'), 10_000, 'the connection');
    expect(stored.connectionId).toBe(first.connection.connectionId);
    // The page received a connect URL from its backend and nothing else of value: no API key, no token.
    const credential = (await (await fetch(`${platform.queryUrl}/v1/credentials/gmail/b_success`, { headers: { authorization: `Bearer ${apiKey}` } })).json()) as { accessToken: string };
    for (const body of app.sent) {
      expect(body).not.toContain(apiKey);
      expect(body).not.toContain(credential.accessToken);
    }
    expect(await outcomes(page)).toHaveLength(1);
    await page.close();
  });

  it('is busy while the popup is open, and a denial at the provider fires onError', async () => {
    await google.denyConsent(true, 1);
    const page = await openApp('gmail', 'b_denied');
    const [popup] = await Promise.all([page.waitForEvent('popup'), page.getByRole('button').click()]);
    expect(popup).toBeDefined();
    const [first] = (await outcome(page)) as Extract<Outcome, { type: 'error' }>[];
    expect(first).toMatchObject({ type: 'error', reason: 'access_denied' });
    expect(first.message.length).toBeGreaterThan(5);
    expect(await connections('b_denied')).toEqual([]);
    await page.close();
  });

  it('takes a closed popup as a cancel, and ignores forged result messages meanwhile', async () => {
    const page = await openApp('clicksend', 'b_cancel');
    const button = page.getByRole('button', { name: /ClickSend/ });
    const [popup] = await Promise.all([page.waitForEvent('popup'), button.click()]);
    await popup.waitForSelector('input[name=apiKey]'); // the gateway's form waits for the user
    await expect(button.getAttribute('aria-busy')).resolves.toBe('true');
    await expect(button.textContent()).resolves.toBe('Connecting ClickSend…');
    // A message from the page itself (not the popup, not the gateway's origin) and one from another origin.
    await page.evaluate(() => window.postMessage({ type: 'authpipe:connect', status: 'success', connectionId: 'con_forgedforgedforgedfo', provider: 'clicksend', userId: 'b_cancel', scopes: [] }, '*'));
    const other = await startConnectPage({ gatewayUrl: platform.gatewayUrl, apiKey: () => apiKey, host: 'localhost' });
    await page.evaluate((src) => {
      const frame = document.createElement('iframe');
      frame.src = src;
      document.body.appendChild(frame);
    }, `${other.origin}/nothing`);
    await eventually(async () => (page.frames().length > 1 ? true : undefined), 5_000, 'the other-origin frame');
    await page.frames()[1].evaluate(() =>
      window.parent.postMessage({ type: 'authpipe:connect', status: 'success', connectionId: 'con_forgedforgedforgedfo', provider: 'clicksend', userId: 'b_cancel', scopes: [] }, '*'),
    );
    await page.waitForTimeout(300);
    expect(await outcomes(page)).toEqual([]);
    await other.stop();
    await popup.close();
    expect(await outcome(page)).toEqual([{ type: 'cancel' }]);
    await expect(button.getAttribute('aria-busy')).resolves.toBe('false');
    expect(await connections('b_cancel')).toEqual([]);
    await page.close();
  });

  it('connects an API-key provider through the gateway form in the popup', async () => {
    const page = await openApp('clicksend', 'b_form');
    const [popup] = await Promise.all([page.waitForEvent('popup'), page.getByRole('button').click()]);
    await popup.fill('input[name=username]', 'acme_sms');
    await popup.fill('input[name=apiKey]', CLICKSEND_KEY);
    await popup.click('button[type=submit]');
    const [first] = (await outcome(page)) as Extract<Outcome, { type: 'success' }>[];
    expect(first).toMatchObject({ type: 'success', connection: { provider: 'clicksend', userId: 'b_form' } });
    for (const body of app.sent) expect(body).not.toContain(CLICKSEND_KEY);
    await page.close();
  });

  it('falls back to a full-page redirect when the popup is blocked', async () => {
    const page = await browser.context.newPage();
    await page.addInitScript(() => {
      window.open = () => null; // what a popup blocker answers
    });
    await page.goto(`${app.url}?provider=gmail&user=b_redirect`);
    await page.getByRole('button').click();
    await page.waitForURL((url) => url.href.startsWith(`${platform.gatewayUrl}/v1/oauth/callback/gmail`), { timeout: 20_000 });
    await expect(page.getByRole('heading').textContent()).resolves.toBe('Connected');
    const stored = await eventually(async () => (await connections('b_redirect')).find((c) => c.status === 'connected'), 10_000, 'the connection');
    expect(stored.provider).toBe('gmail');
    await page.close();
  });

  it('reports a session its backend could not create as onError, closing the empty popup', async () => {
    const page = await openApp('myspace', 'b_bad'); // the gateway refuses an unknown provider
    const [popup] = await Promise.all([page.waitForEvent('popup'), page.getByRole('button').click()]);
    const [first] = (await outcome(page)) as Extract<Outcome, { type: 'error' }>[];
    expect(first).toMatchObject({ type: 'error', reason: 'session_failed', name: 'ConnectError' });
    await eventually(async () => (popup.isClosed() ? true : undefined), 5_000, 'the empty popup to close');
    await page.close();
  });
});
