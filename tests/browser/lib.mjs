// Helpers shared by the browser tests. Run them with scripts/browser-tests.sh, which starts
// a server and sets:
//   AGENTOPS_URL        base URL of the server under test (no trailing slash)
//   AGENTOPS_ADMIN_KEY  its admin key
//   CHROMIUM            the Chromium binary (default /usr/bin/chromium)
//   SCREENSHOTS         where screenshot() writes PNGs (unset: no screenshots)
import { mkdirSync } from 'node:fs';
import path from 'node:path';
import { chromium } from 'playwright-core';

export const BASE_URL = (process.env.AGENTOPS_URL || 'http://127.0.0.1:8080').replace(/\/+$/, '');
export const ADMIN_KEY = process.env.AGENTOPS_ADMIN_KEY || '';

/** Launches a headless Chromium (the system one, no Playwright download). */
export async function launch(extraArgs = []) {
  return chromium.launch({
    executablePath: process.env.CHROMIUM || '/usr/bin/chromium',
    headless: true,
    args: [
      '--no-sandbox',
      '--disable-gpu',
      '--disable-quic',
      '--no-first-run',
      '--disable-background-networking',
      '--disable-component-update',
      '--disable-sync',
      // performance.memory in bytes rather than rounded, and gc() for the memory test.
      '--enable-precise-memory-info',
      '--js-flags=--expose-gc',
      ...extraArgs,
    ],
  });
}

/**
 * Opens a page in a fresh context with the given viewport, its `baseURL` set to the server
 * (so `page.goto('/login')` works). Console errors and uncaught page errors are collected
 * as strings in `page.consoleErrors` (page errors prefixed with `pageerror: `); tests
 * usually end with `assert.deepEqual(page.consoleErrors, [])`.
 */
export async function newPage(browser, { width = 1280, height = 800, baseURL = BASE_URL } = {}) {
  const context = await browser.newContext({ viewport: { width, height }, baseURL, acceptDownloads: true });
  const page = await context.newPage();
  page.consoleErrors = [];
  page.on('console', (msg) => {
    if (msg.type() === 'error') {
      const loc = msg.location();
      page.consoleErrors.push(loc && loc.url ? `${msg.text()} (${loc.url}:${loc.lineNumber})` : msg.text());
    }
  });
  page.on('pageerror', (err) => {
    page.consoleErrors.push(`pageerror: ${err && err.stack ? err.stack : err}`);
  });
  return page;
}

/**
 * Calls the JSON API: `api('/keys/me')`, `api('/tasks', { method: 'POST', body: {...} })`.
 * Uses the admin key unless `key` is given (`key: null` sends no Authorization header).
 * Returns `{ status, ok, headers, body }`, `body` parsed as JSON when it is JSON, else text.
 */
export async function api(apiPath, { method = 'GET', body, key = ADMIN_KEY, headers = {} } = {}) {
  const h = { accept: 'application/json', ...headers };
  if (key) h.authorization = `Bearer ${key}`;
  let payload;
  if (body !== undefined) {
    h['content-type'] = 'application/json';
    payload = typeof body === 'string' ? body : JSON.stringify(body);
  }
  const res = await fetch(`${BASE_URL}/api/v1${apiPath}`, { method, headers: h, body: payload });
  const text = await res.text();
  let parsed = text;
  if ((res.headers.get('content-type') || '').includes('json') && text !== '') {
    try {
      parsed = JSON.parse(text);
    } catch {
      // keep the text
    }
  }
  return { status: res.status, ok: res.ok, headers: res.headers, body: parsed };
}

/** Saves a viewport screenshot to `$SCREENSHOTS/<name>.png` when SCREENSHOTS is set. */
export async function screenshot(page, name) {
  const dir = process.env.SCREENSHOTS;
  if (!dir) return null;
  mkdirSync(dir, { recursive: true });
  const file = path.join(dir, `${name}.png`);
  await page.screenshot({ path: file, fullPage: false });
  return file;
}

/** Signs in through the login form with `key` (default: the admin key). */
export async function login(page, key = ADMIN_KEY, base = BASE_URL) {
  await page.goto(`${base}/login`);
  await page.fill('input[name=key]', key);
  await page.click('button[type=submit]');
  await page.waitForURL((url) => !url.pathname.replace(/\/+$/, '').endsWith('/login'));
}
