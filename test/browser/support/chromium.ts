import { spawnSync } from 'node:child_process';
import { existsSync, mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { chromium, type BrowserContext } from 'playwright-core';

/*
 * Debian's Chromium (apt `chromium`, /usr/bin/chromium; CHROMIUM_PATH overrides) driven by playwright-core. No
 * browser is ever downloaded. The flags keep Chromium off the network but for the pages under test.
 */

export const CHROMIUM_PATH = process.env.CHROMIUM_PATH ?? '/usr/bin/chromium';
const ARGS = ['--no-sandbox', '--disable-gpu', '--disable-quic', '--disable-background-networking', '--disable-component-update', '--disable-sync', '--no-first-run'];

export interface ChromiumProbe {
  ok: boolean;
  /** Why the browser suite is skipped, when it is. */
  reason?: string;
}

let probed: ChromiumProbe | undefined;

/**
 * Can Chromium start here? Checked synchronously when a browser test file loads, so that the suite is reported as
 * skipped (with a loud, specific reason) rather than failed when it cannot.
 */
export function probeChromium(): ChromiumProbe {
  if (probed) return probed;
  if (!existsSync(CHROMIUM_PATH)) {
    probed = { ok: false, reason: `no Chromium at ${CHROMIUM_PATH}: install it with "apt-get install -y chromium" (.ci/run does) or set CHROMIUM_PATH` };
  } else {
    const dir = mkdtempSync(join(tmpdir(), 'authpipe-chromium-probe-'));
    const run = spawnSync(CHROMIUM_PATH, ['--headless', ...ARGS, `--user-data-dir=${dir}`, '--dump-dom', 'about:blank'], { encoding: 'utf8', timeout: 30_000 });
    rmSync(dir, { recursive: true, force: true });
    probed =
      run.status === 0 && run.stdout.includes('<html')
        ? { ok: true }
        : { ok: false, reason: `Chromium at ${CHROMIUM_PATH} did not start headless (${run.error?.message ?? `exit ${run.status ?? run.signal}`}): ${(run.stderr ?? '').trim().split('\n').slice(-3).join(' | ')}` };
  }
  if (!probed.ok) {
    process.stderr.write(`\n${'!'.repeat(100)}\n!! BROWSER TESTS SKIPPED: ${probed.reason}\n${'!'.repeat(100)}\n\n`);
  }
  return probed;
}

/** `describe` when Chromium starts here, else `describe.skip` (after the loud message above). */
export const describeInChromium = (name: string, body: () => void): void => (probeChromium().ok ? describe(name, body) : describe.skip(`${name} [skipped: ${probed?.reason}]`, body));

export interface Browser {
  context: BrowserContext;
  close(): Promise<void>;
}

/** A fresh headless Chromium with its own empty profile. */
export async function launchChromium(): Promise<Browser> {
  const dir = mkdtempSync(join(tmpdir(), 'authpipe-chromium-'));
  const context = await chromium.launchPersistentContext(dir, {
    executablePath: CHROMIUM_PATH,
    headless: true,
    args: ARGS,
    viewport: { width: 1200, height: 860 },
  });
  return {
    context,
    async close() {
      await context.close().catch(() => undefined);
      rmSync(dir, { recursive: true, force: true });
    },
  };
}
