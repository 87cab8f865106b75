// A task's preview on its page, in a real browser: a server the task started (here a tiny
// HTTP server in this test, on loopback, which the server scripts/browser-tests.sh starts
// allows as an upstream by default) is registered through the API as the Seed registers
// it; the task page shows it live with "Open preview", the link opens it in a new tab
// without a key, and once stopped the page shows it stopped and the link answers 410.
// The Events feed shows preview, deployment, pairing and persona events as they happen.
// Screenshot: docs/dashboard/task-preview.png.
import assert from 'node:assert/strict';
import http from 'node:http';
import { after, before, test } from 'node:test';
import { BASE_URL, api, launch, login, newPage, screenshot } from './lib.mjs';

let browser;
let project;
let upstream;
let upstreamPort;
before(async () => {
  browser = await launch();
  const made = await api('/projects', { method: 'POST', body: { name: `Previews ${Date.now()}` } });
  assert.equal(made.status, 201, JSON.stringify(made.body));
  project = made.body.id;
  // The task's server: a counter page under /base/, nothing elsewhere.
  upstream = http.createServer((req, res) => {
    if (req.url === '/base/' || req.url.startsWith('/base/?')) {
      res.writeHead(200, { 'content-type': 'text/html; charset=utf-8' });
      res.end('<!doctype html><title>Counter</title><h1>Counter</h1><p>0</p>');
    } else {
      res.writeHead(404, { 'content-type': 'text/plain' });
      res.end('not here');
    }
  });
  await new Promise((resolve) => upstream.listen(0, '127.0.0.1', resolve));
  upstreamPort = upstream.address().port;
});
after(async () => {
  await browser?.close();
  await new Promise((resolve) => (upstream ? upstream.close(resolve) : resolve()));
});

/** Resolves once the page's live stream is open. */
async function liveOpen(page) {
  await page.waitForFunction(() => document.documentElement.getAttribute('data-live') === 'open', null, { timeout: 10_000 });
}

test('a preview shows on its task page live, opens in a new tab, and once stopped shows stopped and answers 410', async () => {
  const task = await api('/tasks', {
    method: 'POST',
    body: { project_id: project, title: 'Build a counter page', kind: `preview-${Date.now()}`, description: 'A page with a counter, served for review.' },
  });
  assert.equal(task.status, 201, JSON.stringify(task.body));

  const page = await newPage(browser, { width: 1280, height: 860 });
  await login(page);
  await page.goto(`/tasks/${task.body.id}`);
  await liveOpen(page);
  assert.equal(await page.locator('#previews').count(), 0, 'no Preview section before there is one');
  await page.evaluate(() => { window.notReloaded = true; });

  // The task's agent shows its server (the Seed's `serve` step does the same).
  const started = await api('/previews', {
    method: 'POST',
    body: { task_id: task.body.id, upstream: `http://127.0.0.1:${upstreamPort}/base/`, ttl_seconds: 600, port: upstreamPort },
  });
  assert.equal(started.status, 201, JSON.stringify(started.body));
  const preview = started.body;
  assert.equal(preview.status, 'live');

  // It appears without a reload: a prominent link to its `link`, in a new tab.
  const item = `#previews [data-preview="${preview.id}"]`;
  const link = `${item} a.open-preview`;
  await page.waitForSelector(link, { timeout: 15_000 });
  assert.equal(await page.evaluate(() => window.notReloaded), true, 'the page was not reloaded');
  assert.equal(await page.textContent(link), 'Open preview');
  assert.equal(await page.getAttribute(link, 'href'), preview.link);
  assert.equal(await page.getAttribute(link, 'target'), '_blank');
  const text = await page.textContent(item);
  assert.match(text, /until \d\d:\d\d UTC/);
  assert.match(text, new RegExp(`port ${upstreamPort}`));
  assert.match(text, /live/);
  // The timeline has the event too.
  await page.waitForSelector('#timeline .kind:has-text("preview.started")');
  await page.locator('#previews').scrollIntoViewIfNeeded();
  await screenshot(page, 'task-preview');

  // Following the link opens the task's server, without a key, in a new tab.
  const [tab] = await Promise.all([page.context().waitForEvent('page'), page.click(link)]);
  await tab.waitForLoadState();
  assert.equal(new URL(tab.url()).pathname, preview.link);
  assert.equal(await tab.textContent('h1'), 'Counter');

  // Stopped (by its agent): the section says so without a reload, the link is gone...
  const stopped = await api(`/previews/${preview.id}/stop`, { method: 'POST' });
  assert.equal(stopped.status, 200, JSON.stringify(stopped.body));
  await page.waitForSelector(`${item}[data-status="stopped"]`, { timeout: 15_000 });
  assert.equal(await page.evaluate(() => window.notReloaded), true, 'the page was not reloaded');
  assert.equal(await page.locator(link).count(), 0, 'no link to a stopped preview');
  assert.match(await page.textContent(item), /stopped/);
  await page.waitForSelector('#timeline .kind:has-text("preview.stopped")');
  // ...and the link answers 410, in the browser as anywhere.
  const gone = await tab.reload();
  assert.equal(gone.status(), 410);
  const fetched = await fetch(`${BASE_URL}${preview.link}`);
  assert.equal(fetched.status, 410);
  await tab.close();

  assert.deepEqual(page.consoleErrors, []);
  await page.context().close();
});

test('a preview greys on its own when it expires (an expiry is no event)', async () => {
  const task = await api('/tasks', { method: 'POST', body: { project_id: project, title: 'Serve briefly', kind: `preview-${Date.now()}` } });
  assert.equal(task.status, 201, JSON.stringify(task.body));
  const started = await api('/previews', {
    method: 'POST',
    body: { task_id: task.body.id, upstream: `http://127.0.0.1:${upstreamPort}/base/`, ttl_seconds: 5 },
  });
  assert.equal(started.status, 201, JSON.stringify(started.body));
  const page = await newPage(browser, { width: 390, height: 844 });
  await login(page);
  await page.goto(`/tasks/${task.body.id}`);
  await liveOpen(page);
  const item = `#previews [data-preview="${started.body.id}"]`;
  await page.waitForSelector(`${item}[data-status="live"] a.open-preview`);
  assert.doesNotMatch(await page.textContent(item), /port/, 'no port when none was said');
  await page.evaluate(() => { window.notReloaded = true; });
  await page.waitForSelector(`${item}[data-status="expired"]`, { timeout: 15_000 });
  assert.equal(await page.evaluate(() => window.notReloaded), true, 'the page was not reloaded');
  assert.equal(await page.locator(`${item} a`).count(), 0, 'no link to an expired preview');
  assert.equal((await fetch(`${BASE_URL}${started.body.link}`)).status, 410);
  assert.ok(await page.evaluate(() => document.documentElement.scrollWidth <= window.innerWidth), 'no sideways scroll at 390 px');
  assert.deepEqual(page.consoleErrors, []);
  await page.context().close();
});

test('the Events feed shows preview, deployment, pairing and persona events live', async () => {
  const page = await newPage(browser);
  await login(page);
  await page.goto('/events');
  await liveOpen(page);
  await page.evaluate(() => { window.notReloaded = true; });

  const task = await api('/tasks', { method: 'POST', body: { project_id: project, title: 'Serve a page', kind: `preview-${Date.now()}` } });
  assert.equal(task.status, 201, JSON.stringify(task.body));
  const preview = await api('/previews', {
    method: 'POST',
    body: { task_id: task.body.id, upstream: `http://127.0.0.1:${upstreamPort}/base/`, ttl_seconds: 60 },
  });
  assert.equal(preview.status, 201, JSON.stringify(preview.body));
  const deployment = await api('/deployments', { method: 'POST', body: { git_sha: 'feedc0ffee1234', branch: 'feed' } });
  assert.ok(deployment.ok, JSON.stringify(deployment.body));
  const pairing = await api('/pairings', { method: 'POST', body: { channel: 'telegram', chat: `feed-${Date.now()}`, name: '@feed' } });
  assert.ok(pairing.ok, JSON.stringify(pairing.body));
  const persona = await api('/personas', { method: 'POST', body: { name: `Feed persona ${Date.now()}`, system_prompt: 'You are brief.', model: 'm' } });
  assert.equal(persona.status, 201, JSON.stringify(persona.body));

  for (const kind of ['preview.started', 'deployment.created', 'pairing.requested', 'persona.created']) {
    await page.waitForSelector(`#feed li .kind:has-text("${kind}")`, { timeout: 15_000 });
  }
  assert.equal(await page.evaluate(() => window.notReloaded), true, 'the page was not reloaded');
  assert.equal(
    await page.locator(`#feed li:has(.kind:has-text("preview.started")) a[href="/tasks/${task.body.id}"]`).count(),
    1,
    'the preview event links to its task',
  );
  assert.deepEqual(page.consoleErrors, []);
  await page.context().close();
});
