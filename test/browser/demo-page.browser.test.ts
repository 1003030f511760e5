import { execFileSync } from 'node:child_process';
import { copyFileSync, existsSync, mkdirSync, mkdtempSync, readFileSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import type { Page } from 'playwright-core';
import { eventually, gatewayUrlFor, reservePorts, startTestPlatform, TestPlatform } from '../support/test-platform';
import { Browser, describeInChromium, launchChromium } from './support/chromium';

/*
 * The demo of `npm start -- --demo`, assembled by the same code (scripts/lib/demo.js: local Google and Discord
 * stand-ins, a fake ClickSend, the demo tenant, demo/server.js) on a test platform, and clicked through in
 * Chromium: a Connect button per provider, the connections with their health, "Get credential" through the SDK.
 * AUTHPIPE_SCREENSHOTS=1 writes docs/demo.png and docs/demo-clicksend-popup.png.
 */

interface DemoModule {
  startLocalProviders(o: { state: string; gatewayUrl: string }): Promise<{ providersFile: string; stop(): Promise<void> }>;
  bootstrapDemo(o: { state: string; queryUrl: string; gatewayUrl: string; adminToken: string; localProviders: unknown }): Promise<{ apiKey: string }>;
  startDemoApp(o: { queryUrl: string; gatewayUrl: string; apiKey: string; localProviders: unknown; port: number }): Promise<{ url: string; stop(): Promise<void> }>;
  CLICKSEND_ACCOUNT: { username: string; apiKey: string };
}
// eslint-disable-next-line @typescript-eslint/no-require-imports
const demo = require('../../scripts/lib/demo.js') as DemoModule;

const ROOT = join(__dirname, '..', '..');
const SHOTS = process.env.AUTHPIPE_SCREENSHOTS === '1' ? join(ROOT, 'docs') : undefined;

describeInChromium('the demo page (npm start -- --demo) in Chromium', () => {
  let state: string;
  let providers: Awaited<ReturnType<DemoModule['startLocalProviders']>>;
  let platform: TestPlatform;
  let page: { url: string; stop(): Promise<void> };
  let apiKey: string;
  let browser: Browser;
  let tab: Page;
  const received: string[] = [];

  const notice = () => tab.getByTestId('notice').textContent();
  async function connectWith(provider: string, inPopup?: (popup: Page) => Promise<void>) {
    const [popup] = await Promise.all([tab.waitForEvent('popup'), tab.getByRole('button', { name: `Connect ${provider}` }).click()]);
    await inPopup?.(popup);
    await eventually(async () => ((await notice())?.startsWith(`${provider} connected`) ? true : undefined), 20_000, `${provider} to connect`);
  }
  const row = (provider: string) => tab.locator(`tr[data-provider="${provider}"]`);

  beforeAll(async () => {
    // The demo backend runs the SDK from its build, as `npm start -- --demo` does after `npm run build:packages`.
    if (!existsSync(join(ROOT, 'packages', 'node-sdk', 'dist', 'index.js'))) execFileSync(process.execPath, [require.resolve('typescript/bin/tsc'), '-p', join(ROOT, 'packages', 'node-sdk')]);
    state = mkdtempSync(join(tmpdir(), 'authpipe-demo-'));
    const ports = await reservePorts();
    providers = await demo.startLocalProviders({ state, gatewayUrl: gatewayUrlFor(ports) });
    platform = await startTestPlatform({ ports, providers: JSON.parse(readFileSync(providers.providersFile, 'utf8')) });
    ({ apiKey } = await demo.bootstrapDemo({ state, queryUrl: platform.queryUrl, gatewayUrl: platform.gatewayUrl, adminToken: platform.adminToken, localProviders: providers }));
    page = await demo.startDemoApp({ queryUrl: platform.queryUrl, gatewayUrl: platform.gatewayUrl, apiKey, localProviders: providers, port: 0 });
    browser = await launchChromium();
    browser.context.on('response', (res) => void res.text().then((body) => received.push(body), () => undefined));
    tab = await browser.context.newPage();
    await tab.goto(page.url);
    await tab.getByRole('heading', { name: 'Authpipe demo' }).waitFor();
  });

  afterAll(async () => {
    await browser?.close();
    await page?.stop();
    await platform?.stop();
    await providers?.stop();
    if (state) rmSync(state, { recursive: true, force: true });
  });

  it('shows a Connect button per provider and no connections yet', async () => {
    for (const name of ['Connect Gmail', 'Connect Discord', 'Connect ClickSend']) await expect(tab.getByRole('button', { name }).isVisible()).resolves.toBe(true);
    await expect(tab.getByText('No connections yet.').isVisible()).resolves.toBe(true);
    await expect(tab.getByText(`API key ${demo.CLICKSEND_ACCOUNT.apiKey}`).isVisible()).resolves.toBe(true);
  });

  it('connects Gmail, Discord and ClickSend through their popups', async () => {
    await connectWith('Gmail');
    await connectWith('Discord');
    await connectWith('ClickSend', async (popup) => {
      await popup.fill('input[name=username]', demo.CLICKSEND_ACCOUNT.username);
      await popup.fill('input[name=apiKey]', demo.CLICKSEND_ACCOUNT.apiKey);
      if (SHOTS) {
        await popup.setViewportSize({ width: 520, height: 560 });
        await popup.screenshot({ path: join(SHOTS, 'demo-clicksend-popup.png') });
      }
      await popup.click('button[type=submit]');
    });
    for (const provider of ['gmail', 'discord', 'clicksend']) {
      await row(provider).waitFor({ timeout: 10_000 });
      await expect(row(provider).locator('.pill').first().textContent()).resolves.toBe('connected');
      await expect(row(provider).locator('.pill').nth(1).textContent()).resolves.toBe('healthy');
    }
  });

  it('gets a credential through the backend SDK: first from query-api, then from its cache', async () => {
    await row('gmail').getByRole('button', { name: 'Get credential' }).click();
    await expect(tab.getByTestId('served-from').textContent()).resolves.toMatch(/^from Authpipe \(query-api\) in /);
    await tab.waitForTimeout(100);
    await row('gmail').getByRole('button', { name: 'Get credential' }).click();
    await eventually(async () => ((await tab.getByTestId('served-from').textContent())?.startsWith('from the in-process cache') ? true : undefined), 5_000, 'a cache hit');
    await expect(tab.getByText('Event stream').locator('.pill').textContent()).resolves.toBe('open');
    await eventually(async () => ((await tab.locator('.event-list li').count()) >= 3 ? true : undefined), 10_000, 'the Connected events in the page');
    if (SHOTS) {
      mkdirSync(SHOTS, { recursive: true });
      const shot = join(tmpdir(), `authpipe-demo-${process.pid}.png`);
      await tab.screenshot({ path: shot, fullPage: true });
      copyFileSync(shot, join(SHOTS, 'demo.png'));
    }
  });

  it('never sent the API key or a whole credential to the browser', async () => {
    const gmail = (await (await fetch(`${platform.queryUrl}/v1/credentials/gmail/demo-user`, { headers: { authorization: `Bearer ${apiKey}` } })).json()) as { accessToken: string };
    const all = received.join('\n');
    expect(received.length).toBeGreaterThan(10);
    expect(all).not.toContain(apiKey);
    expect(all).not.toContain(gmail.accessToken);
  });

  it('disconnects from the table', async () => {
    await row('discord').getByRole('button', { name: 'Disconnect' }).click();
    await eventually(async () => ((await row('discord').locator('.pill').first().textContent()) === 'disconnected' ? true : undefined), 10_000, 'discord to be disconnected');
  });
});
