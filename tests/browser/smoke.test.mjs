// Smoke test of the browser-test set-up: the server answers, the admin key works and
// Chromium starts and renders a page of the server with no errors.
import assert from 'node:assert/strict';
import { after, before, test } from 'node:test';
import { api, BASE_URL, launch, newPage } from './lib.mjs';

let browser;
before(async () => {
  browser = await launch();
});
after(async () => {
  await browser?.close();
});

test('smoke: server ready, admin key accepted, Chromium renders /docs', async () => {
  const ready = await fetch(`${BASE_URL}/ready`);
  assert.equal(ready.status, 200, `GET /ready answered ${ready.status}`);

  const me = await api('/keys/me');
  assert.equal(me.status, 200, `GET /api/v1/keys/me answered ${me.status}: ${JSON.stringify(me.body)}`);

  const page = await newPage(browser);
  const res = await page.goto(`${BASE_URL}/docs/`);
  assert.ok(res && res.ok(), `GET /docs/ answered ${res && res.status()}`);
  // Swagger UI renders the title of the OpenAPI document once it has fetched it.
  await page.waitForSelector('.swagger-ui .info .title', { timeout: 15_000 });
  assert.match(await page.title(), /swagger/i);
  assert.match(await page.textContent('.swagger-ui .info .title'), /agentops/i);
  assert.deepEqual(page.consoleErrors, []);
  await page.context().close();
});
