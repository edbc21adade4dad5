// The dashboard in a real headless Chromium (Debian's package, driven by playwright-core) against
// a real server: the page loads cleanly, runs made by another client appear live, a run's detail
// shows its logs, "try it" streams, cancel cancels, and a locked server asks for a token first.
// Skipped, with a line saying so, where no Chromium is installed (.ci/run installs it with apt).
import { existsSync, mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { type BrowserContext, chromium, type Page } from 'playwright-core';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { secretSigningKey, signToken } from '../src/auth/sign-token.ts';
import { fixture, startTestServer, type TestServer } from './helpers/test-server.ts';
import { until } from './helpers/until.ts';

const CHROMIUM = process.env.CHROMIUM_PATH ?? '/usr/bin/chromium';
const hasChromium = existsSync(CHROMIUM);
if (!hasChromium) {
  console.log(`SKIPPED: the dashboard's browser tests need Chromium at ${CHROMIUM} (apt-get install chromium, or set CHROMIUM_PATH)`);
}

const SECRET = 'dashboard-test-secret-long-enough-for-hs256';
const runs = (app: string) => `/v2/projects/p-test/apps/p-test-${app}/runs`;

describe.skipIf(!hasChromium)('the dashboard in a real Chromium', () => {
  let server: TestServer;
  let locked: TestServer;
  let browser: BrowserContext;
  let profile: string;
  /** Console errors and page errors of every page opened, by page. */
  const problems = new Map<Page, string[]>();

  async function open(url: string): Promise<Page> {
    const page = await browser.newPage();
    // Short of vitest's own timeout, so a missing element fails with its selector.
    page.setDefaultTimeout(10_000);
    const seen: string[] = [];
    problems.set(page, seen);
    page.on('console', (message) => {
      if (message.type() === 'error') seen.push(message.text());
    });
    page.on('pageerror', (err) => seen.push(err.message));
    await page.goto(url);
    return page;
  }

  beforeAll(async () => {
    profile = mkdtempSync(join(tmpdir(), 'dashboard-chromium-'));
    [server, locked, browser] = await Promise.all([
      // --allow-faults, so the settings show fault injection (the calls here send no fault header).
      startTestServer([fixture('logs-app')], { allowFaults: true }),
      startTestServer([fixture('logs-app')], { auth: { jwtSecret: SECRET } }),
      chromium.launchPersistentContext(profile, {
        executablePath: CHROMIUM,
        headless: true,
        viewport: { width: 1400, height: 900 },
        args: [
          '--headless',
          '--no-sandbox',
          '--disable-gpu',
          '--disable-quic',
          '--no-first-run',
          '--disable-background-networking',
          '--disable-component-update',
          '--disable-sync',
        ],
      }),
    ]);
  }, 60_000);

  afterAll(async () => {
    await browser?.close();
    await Promise.all([server?.close(), locked?.close()]);
    if (profile) rmSync(profile, { recursive: true, force: true });
  });

  it('loads the page with its apps, functions and settings (faults included), and no console error', async () => {
    // A rule for an app that does not exist: shown in the settings, given to no call.
    const rules = { rules: [{ app: 'nobody', fault: 'status=503' }] };
    await fetch(`${server.url}/_local/faults`, {
      method: 'PUT',
      body: JSON.stringify(rules),
      headers: { 'content-type': 'application/json' },
    });
    const page = await open(`${server.url}/`);
    await page.waitForSelector('[data-testid="app-logs"]');
    await page.waitForSelector('[data-testid="settings"]');
    expect(await page.textContent('[data-testid="settings"]')).toContain('p-test');
    expect(await page.textContent('[data-testid="settings-faults"]')).toMatch(/header allowed.*nobody\/\*: status=503/);
    await fetch(`${server.url}/_local/faults`, { method: 'DELETE' });
    const options = await page.locator('[data-testid="try-function"] option').allTextContents();
    expect(options).toEqual(['chatty', 'flood', 'story (generator)', 'ticker']);
    await page.waitForSelector('[data-testid="replicas"] .uplot');
    // /dashboard opens the same page.
    const again = await open(`${server.url}/dashboard`);
    await again.waitForSelector('[data-testid="app-logs"]');
    expect(problems.get(page)).toEqual([]);
    expect(problems.get(again)).toEqual([]);
    await again.close();
    await page.close();
  });

  it('shows a call made by another HTTP client in the runs table within a second, without a reload, and its logs in the detail', async () => {
    const page = await open(`${server.url}/`);
    await page.waitForSelector('[data-testid="runs"] table');
    // Let the event stream connect before the call is made.
    await page.waitForTimeout(300);
    const res = await server.post('/v4/p-test/logs/chatty', { name: 'from curl' });
    const { run_id } = (await res.json()) as { run_id: string };
    const answered = Date.now();
    await page.waitForSelector(`[data-testid="run-row"][data-run-id="${run_id}"][data-status="success"]`, { timeout: 1_000 });
    expect(Date.now() - answered).toBeLessThan(1_000);

    await page.click(`[data-testid="run-row"][data-run-id="${run_id}"]`);
    await page.waitForSelector('[data-testid="run-logs"] >> text=printed with console.log');
    const logs = await page.textContent('[data-testid="run-logs"]');
    expect(logs).toContain('starting for from curl');
    expect(logs).toContain('printed with console.error');
    expect(await page.textContent('[data-testid="detail-params"]')).toContain('from curl');
    expect(await page.textContent('[data-testid="detail-result"]')).toContain('hello from curl');
    expect(problems.get(page)).toEqual([]);
    await page.close();
  });

  it('"try it" on a streaming function shows its chunks as they arrive', async () => {
    const page = await open(`${server.url}/`);
    await page.selectOption('[data-testid="try-function"]', 'story');
    await page.fill('input[name="words"]', '6');
    await page.fill('input[name="pauseMs"]', '250');
    await page.click('[data-testid="try-send"]');
    // Mid-stream: some words are shown and the last is not yet.
    await page.waitForSelector('[data-testid="try-answer"][data-state="streaming"]');
    const partial = await page.textContent('[data-testid="try-output"]');
    expect(partial).toContain('word0');
    expect(partial).not.toContain('word5');
    await page.waitForSelector('[data-testid="try-answer"][data-state="done"]', { timeout: 10_000 });
    expect(await page.textContent('[data-testid="try-output"]')).toBe('word0 word1 word2 word3 word4 word5 ');
    expect(await page.getAttribute('[data-testid="try-answer"]', 'data-chunks')).toBe('6');
    expect(problems.get(page)).toEqual([]);
    await page.close();
  });

  it('cancels a running run from its detail, with its logs live until then', async () => {
    const page = await open(`${server.url}/`);
    await page.waitForSelector('[data-testid="runs"] table');
    await page.waitForTimeout(300);
    const res = await server.post('/v4/p-test/logs/ticker?async=true', { lines: 10_000, everyMs: 40 });
    const { run_id } = (await res.json()) as { run_id: string };
    await page.click(`[data-testid="run-row"][data-run-id="${run_id}"]`);
    await page.waitForSelector('[data-testid="detail-status"] >> text=running');
    await page.waitForSelector('[data-testid="run-logs"] >> text=tick 3');
    await page.click('[data-testid="cancel"]');
    await page.waitForSelector('[data-testid="detail-status"] >> text=cancelled', { timeout: 10_000 });
    await page.waitForSelector(`[data-testid="run-row"][data-run-id="${run_id}"][data-status="cancelled"]`);
    const stored = await fetch(`${server.url}${runs('logs')}/${run_id}`);
    expect(((await stored.json()) as { item: { status: string } }).item.status).toBe('cancelled');
    expect(problems.get(page)).toEqual([]);
    await page.close();
  });

  it('asks a locked server’s visitor for a token, refuses a bad one, then works with a good one', async () => {
    const page = await open(`${locked.url}/`);
    await page.waitForSelector('[data-testid="token-form"]');
    // Nothing of the apps is shown without a token.
    expect(await page.locator('[data-testid="app-logs"]').count()).toBe(0);
    await page.fill('input[name="token"]', 'not-a-token');
    await page.click('[data-testid="token-form"] button');
    await page.waitForSelector('[data-testid="token-error"]');

    const token = await signToken(secretSigningKey(SECRET), 'p-test', 600);
    await page.fill('input[name="token"]', token);
    await page.click('[data-testid="token-form"] button');
    await page.waitForSelector('[data-testid="app-logs"]');
    await page.waitForSelector('[data-testid="runs"] table');
    await page.waitForTimeout(300);
    const res = await locked.post('/v4/p-test/logs/chatty', { name: 'locked' });
    const { run_id } = (await res.json()) as { run_id: string };
    await page.waitForSelector(`[data-testid="run-row"][data-run-id="${run_id}"]`, { timeout: 2_000 });
    await page.click(`[data-testid="run-row"][data-run-id="${run_id}"]`);
    await page.waitForSelector('[data-testid="run-logs"] >> text=starting for locked');
    // The token lives in this tab's session storage only.
    expect(await page.evaluate("sessionStorage.getItem('cerebrium-local-token')")).toBe(token);
    // The page's 401s (before the token) are answers the page handled, not errors of its code.
    const unexpected = (problems.get(page) ?? []).filter((text) => !/401|403/.test(text));
    expect(unexpected).toEqual([]);
    await page.close();
  });

  // Not a check: it makes the docs' picture, so it runs only when asked to (UPDATE_SCREENSHOT=1).
  it.runIf(process.env.UPDATE_SCREENSHOT === '1')('writes docs/dashboard.png when UPDATE_SCREENSHOT=1', async () => {
    const page = await open(`${server.url}/`);
    await page.waitForSelector('[data-testid="runs"] table');
    await server.post('/v4/p-test/logs/ticker?async=true', { lines: 200, everyMs: 50 });
    await server.post('/v4/p-test/logs/flood', { lines: 3 });
    const res = await server.post('/v4/p-test/logs/chatty', { name: 'screenshot' });
    const { run_id } = (await res.json()) as { run_id: string };
    await until(
      () => page.locator(`[data-run-id="${run_id}"]`).count(),
      (n) => n > 0,
    );
    await page.click(`[data-testid="run-row"][data-run-id="${run_id}"]`);
    await page.waitForSelector('[data-testid="run-logs"] >> text=printed with console.log');
    await page.selectOption('[data-testid="try-function"]', 'story');
    await page.fill('input[name="words"]', '8');
    await page.fill('input[name="pauseMs"]', '20');
    await page.click('[data-testid="try-send"]');
    await page.waitForSelector('[data-testid="try-answer"][data-state="done"]');
    await page.waitForTimeout(2_500);
    await page.screenshot({ path: new URL('../docs/dashboard.png', import.meta.url).pathname, fullPage: true });
    await page.close();
  });
});
