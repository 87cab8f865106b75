// The Tools page in a real browser: tools an agent wrote for itself wait for review; an
// admin reads one (source, input schema, tests) and approves, rejects or retires it; a
// viewer sees no buttons and a forged approval is refused. The tools are stored through
// the API the way the Seed stores them (in a task its agent holds, with every test passed)
// on the server scripts/browser-tests.sh starts (AGENTOPS_TOOL_APPROVAL unset: a new tool
// waits for review). Screenshots: docs/dashboard/tools.png, docs/dashboard/tool-detail.png.
import assert from 'node:assert/strict';
import { after, before, test } from 'node:test';
import { api, launch, login, newPage, screenshot } from './lib.mjs';

let browser;
let project;
let agent;
const kind = `tool-author-${Date.now()}`;
before(async () => {
  browser = await launch();
  const made = await api('/projects', { method: 'POST', body: { name: `Tools ${Date.now()}` } });
  assert.equal(made.status, 201, JSON.stringify(made.body));
  project = made.body.id;
  const registered = await api('/agents', { method: 'POST', body: { name: 'seed-browser', kind: 'seed', version: '1.0.0', capabilities: [kind] } });
  assert.ok(registered.ok, JSON.stringify(registered.body));
  agent = registered.body.id;
});
after(async () => {
  await browser?.close();
});

/** Resolves once the page's live stream is open. */
async function liveOpen(page) {
  await page.waitForFunction(() => document.documentElement.getAttribute('data-live') === 'open', null, { timeout: 10_000 });
}

/** Stores a tool as the Seed does: made in a task its agent has claimed, its tests passed. */
async function storeTool(tool) {
  const task = await api('/tasks', { method: 'POST', body: { project_id: project, title: `Write the ${tool.name} tool`, kind } });
  assert.equal(task.status, 201, JSON.stringify(task.body));
  const claimed = await api('/tasks/claim', { method: 'POST', body: { agent_id: agent, kinds: [kind], limit: 1, lease_seconds: 300 } });
  assert.ok(claimed.ok, JSON.stringify(claimed.body));
  assert.equal(claimed.body.tasks[0]?.id, task.body.id, JSON.stringify(claimed.body));
  const stored = await api('/tools', { method: 'POST', body: { ...tool, task_id: task.body.id } });
  assert.equal(stored.status, 201, JSON.stringify(stored.body));
  assert.equal(stored.body.status, 'pending_review');
  assert.equal(stored.body.author_agent_id, agent);
  return stored.body;
}

const passed = (output) => ({ passed: true, output });

const WORD_COUNT = {
  name: 'word_count',
  description: 'Counts the words in `text` (whitespace-separated).',
  runtime: 'sh',
  source: "#!/bin/sh\n# Counts the words in <text>: prints one number.\nprintf '%s' \"$ARG_TEXT\" | wc -w | tr -d ' '\n",
  input_schema: { type: 'object', properties: { text: { type: 'string', description: 'The text to count' } }, required: ['text'] },
  tests: [
    { input: { text: 'the quick brown fox' }, expect: '4', exact: true, result: passed('4') },
    { input: { text: '' }, expect: '0', exact: true, result: passed('0') },
  ],
};

const SLUGIFY = {
  name: 'slugify',
  description: 'Turns a title into a URL slug: lower case, words joined by dashes.',
  runtime: 'python',
  source: 'import json, re, sys\nargs = json.load(sys.stdin)\nprint(re.sub(r"[^a-z0-9]+", "-", args["title"].lower()).strip("-"))\n',
  input_schema: { type: 'object', properties: { title: { type: 'string' } }, required: ['title'] },
  tests: [{ input: { title: 'Hello, World!' }, expect: 'hello-world', exact: true, result: passed('hello-world') }],
};

const CSV_SUM = {
  name: 'csv_sum',
  description: 'Sums one column of a CSV file in the workspace.',
  runtime: 'python',
  source: 'import csv, json, sys\nargs = json.load(sys.stdin)\nwith open(args["path"]) as f:\n    print(sum(float(row[args["column"]]) for row in csv.DictReader(f)))\n',
  input_schema: { type: 'object', properties: { path: { type: 'string' }, column: { type: 'string' } }, required: ['path', 'column'] },
  tests: [{ input: { path: 'sales.csv', column: 'amount' }, expect: '42', result: passed('42.0') }],
};

test('a tool waiting for review is approved on the Tools page; another is rejected; the approved one retired', async () => {
  // One reviewed earlier (on Telegram, say) that has run a few times, one failure.
  const csv = await storeTool(CSV_SUM);
  const ok = await api(`/tools/${csv.id}/approve`, { method: 'POST', body: { by: 'telegram:@ana' } });
  assert.equal(ok.status, 200, JSON.stringify(ok.body));
  for (const error of [null, null, "column 'amount' not found in sales.csv", null]) {
    const run = await api(`/tools/${csv.id}/runs`, { method: 'POST', body: error ? { error } : {} });
    assert.equal(run.status, 200, JSON.stringify(run.body));
  }
  const words = await storeTool(WORD_COUNT);

  const page = await newPage(browser, { width: 1440, height: 900 });
  await login(page);
  await page.goto('/tools');
  await liveOpen(page);
  const waiting = `#waiting [data-tool="${words.id}"]`;
  await page.waitForSelector(`${waiting} .badge:has-text("pending_review")`);
  assert.match(await page.textContent(waiting), /Counts the words/);
  assert.match(await page.textContent(waiting), /seed-browser/, 'its author agent by name');
  assert.match(await page.textContent(waiting), /2 tests passed/);
  const reviewed = `#reviewed [data-tool="${csv.id}"]`;
  assert.match(await page.textContent(reviewed), /approved/);
  assert.match(await page.textContent(reviewed), /4 runs · 1 failed/);
  assert.match(await page.textContent(reviewed), /column 'amount' not found/);
  // The source is text, never markup.
  await page.click(`${waiting} details.source summary`);
  assert.match(await page.textContent(`${waiting} details.source pre`), /# Counts the words in <text>: prints one number\./);

  // Live: a tool stored while the page is open appears under review without a reload.
  await page.evaluate(() => { window.notReloaded = true; });
  const slug = await storeTool(SLUGIFY);
  await page.waitForSelector(`#waiting [data-tool="${slug.id}"]`, { timeout: 15_000 });
  assert.equal(await page.evaluate(() => window.notReloaded), true, 'the page was not reloaded');
  assert.equal(await page.locator(`${waiting} details.source`).getAttribute('open'), '', 'the source being read stays open');
  await screenshot(page, 'tools');

  // Approve: the tool leaves the queue, approved, the decider recorded.
  await page.click(`${waiting} [data-action=approve]`);
  await page.waitForURL(/\/tools$/);
  await page.waitForSelector(`#reviewed [data-tool="${words.id}"] .badge:has-text("approved")`);
  assert.equal(await page.locator(waiting).count(), 0, 'no longer waiting');
  const approved = (await api(`/tools/${words.id}`)).body;
  assert.equal(approved.status, 'approved');
  assert.match(approved.reviewed_by, /^web:/, 'the dashboard names the key that decided');

  // Reject, with a reason.
  const slugCard = `#waiting [data-tool="${slug.id}"]`;
  await page.fill(`${slugCard} input[name=reason]`, 'Use the shared slug library instead.');
  await page.click(`${slugCard} [data-action=reject]`);
  await page.waitForURL(/\/tools$/);
  await page.waitForSelector(`#reviewed [data-tool="${slug.id}"] .badge:has-text("rejected")`);
  const rejected = (await api(`/tools/${slug.id}`)).body;
  assert.equal(rejected.status, 'rejected');
  assert.equal(rejected.review_reason, 'Use the shared slug library instead.');
  await page.goto('/tools?status=rejected');
  assert.equal(await page.locator(`[data-tool="${slug.id}"]`).count(), 1);
  assert.equal(await page.locator(`[data-tool="${words.id}"]`).count(), 0, 'the filter keeps only rejected tools');

  // The tool's own page: source, input schema, tests, versions; live as it runs.
  await page.goto('/tools');
  await page.click(`#reviewed [data-tool="${words.id}"] a[href="/tools/${words.id}"]`);
  await page.waitForURL(new RegExp(`/tools/${words.id}$`));
  await liveOpen(page);
  assert.equal(await page.textContent('pre.source'), WORD_COUNT.source);
  assert.match(await page.textContent('#tool-card'), /The text to count/, 'the input schema');
  assert.equal(await page.locator('ol.tests li').count(), 2);
  assert.match(await page.textContent('ol.tests li[data-test="0"]'), /passed.*the quick brown fox.*must be 4/s);
  assert.match(await page.textContent('#tool-card'), /Approved.*by web:/s);
  await page.evaluate(() => { window.notReloaded = true; });
  const ran = await api(`/tools/${words.id}/runs`, { method: 'POST', body: { error: 'exit 1: wc: not found' } });
  assert.equal(ran.status, 200, JSON.stringify(ran.body));
  await page.waitForSelector('#tool-card [data-field=runs]:has-text("1 run · 1 failed")', { timeout: 15_000 });
  await page.waitForSelector('#tool-card .problem:has-text("wc: not found")');
  assert.equal(await page.evaluate(() => window.notReloaded), true, 'the page was not reloaded');
  await screenshot(page, 'tool-detail');

  // Retire it from its page.
  await page.fill('form[action$="/retire"] input[name=reason]', 'Fails on this worker.');
  await page.click('[data-action=retire]');
  await page.waitForURL(new RegExp(`/tools/${words.id}$`));
  await page.waitForSelector('#tool-card [data-field=status] .badge:has-text("retired")');
  assert.equal((await api(`/tools/${words.id}`)).body.status, 'retired');
  assert.equal(await page.locator('[data-action]').count(), 0, 'a retired tool has no buttons');
  assert.deepEqual(page.consoleErrors, []);
  await page.context().close();
});

test('a viewer sees tools but no review buttons, and a forged approval is refused', async () => {
  const tool = await storeTool({ ...WORD_COUNT, name: 'line_count', description: 'Counts lines.' });
  const viewer = await api('/keys', { method: 'POST', body: { name: 'tools viewer', role: 'viewer' } });
  assert.equal(viewer.status, 201, JSON.stringify(viewer.body));
  const page = await newPage(browser, { width: 390, height: 844 });
  await login(page, viewer.body.secret);
  await page.goto('/tools');
  await page.waitForSelector(`#waiting [data-tool="${tool.id}"]`);
  assert.equal(await page.locator('[data-action]').count(), 0, 'no buttons for a viewer');
  const overflow = await page.evaluate(() => document.documentElement.scrollWidth - window.innerWidth);
  assert.ok(overflow <= 1, `/tools at 390px scrolls sideways by ${overflow}px`);
  await page.goto(`/tools/${tool.id}`);
  await page.waitForSelector('pre.source');
  assert.equal(await page.locator('[data-action]').count(), 0);
  const wide = await page.evaluate(() => document.documentElement.scrollWidth - window.innerWidth);
  assert.ok(wide <= 1, `a tool's page at 390px scrolls sideways by ${wide}px`);

  // With this session's own CSRF token, the API still refuses; without it, the dashboard does.
  const csrf = await page.getAttribute('form[action="/logout"] input[name=csrf]', 'value');
  const forged = await page.request.post(`/tools/${tool.id}/approve`, { form: { csrf }, maxRedirects: 0 });
  assert.equal(forged.status(), 403);
  const noToken = await page.request.post(`/tools/${tool.id}/approve`, { form: { csrf: 'x'.repeat(32) }, maxRedirects: 0 });
  assert.equal(noToken.status(), 403);
  assert.equal((await api(`/tools/${tool.id}`)).body.status, 'pending_review', 'still waiting');
  assert.deepEqual(page.consoleErrors, []);
  await page.context().close();

  // An admin's session refuses a form without its token too (cross-site forgery).
  const admin = await newPage(browser);
  await login(admin);
  const forgedAdmin = await admin.request.post(`/tools/${tool.id}/approve`, { form: { csrf: 'x'.repeat(32) }, maxRedirects: 0 });
  assert.equal(forgedAdmin.status(), 403);
  assert.equal((await api(`/tools/${tool.id}`)).body.status, 'pending_review');
  await admin.context().close();
});
