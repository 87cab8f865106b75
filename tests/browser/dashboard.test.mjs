// The dashboard in a real browser (Debian's Chromium driven by playwright-core), against
// the whole platform started by scripts/browser-tests.sh (embedded SQLite, the embedded
// Chief of Staff executing approved plans, no embedded Seed). Screenshots of every page
// go to docs/dashboard/ (SCREENSHOTS).
import assert from 'node:assert/strict';
import net from 'node:net';
import { after, before, test } from 'node:test';
import { ADMIN_KEY, BASE_URL, api, launch, login, newPage, screenshot } from './lib.mjs';

let browser;
let project;
before(async () => {
  browser = await launch();
  const created = await api('/projects', { method: 'POST', body: { name: `Browser tests ${Date.now()}` } });
  assert.equal(created.status, 201, JSON.stringify(created.body));
  project = created.body.id;
});
after(async () => {
  await browser?.close();
});

async function createTask(title, extra = {}) {
  const res = await api('/tasks', { method: 'POST', body: { project_id: project, title, kind: 'browser', ...extra } });
  assert.equal(res.status, 201, JSON.stringify(res.body));
  return res.body;
}

let agentId;
async function agent() {
  if (!agentId) {
    const res = await api('/agents', { method: 'POST', body: { name: 'browser-test-worker', kind: 'test', version: '1.0.0', capabilities: ['browser'] } });
    assert.ok(res.ok, JSON.stringify(res.body));
    agentId = res.body.id;
  }
  return agentId;
}

async function claim(taskId) {
  const res = await api('/tasks/claim', { method: 'POST', body: { agent_id: await agent(), kinds: ['browser'], limit: 20, lease_seconds: 120 } });
  assert.ok(res.ok, JSON.stringify(res.body));
  const task = res.body.tasks.find((t) => t.id === taskId);
  assert.ok(task, `task ${taskId} was not claimed: ${JSON.stringify(res.body)}`);
  // Hand back any other task claimed by accident.
  for (const other of res.body.tasks.filter((t) => t.id !== taskId)) {
    await api(`/tasks/${other.id}/release`, { method: 'POST', body: { claim_token: other.claim_token } });
  }
  return task.claim_token;
}

/** Resolves once the page's live stream is open. */
async function liveOpen(page) {
  await page.waitForFunction(() => document.documentElement.getAttribute('data-live') === 'open', null, { timeout: 10_000 });
}

test('sign in with the admin key; the overview shows where work stands', async () => {
  const page = await newPage(browser, { width: 1440, height: 900 });
  await page.goto('/');
  assert.match(page.url(), /\/login\?next=/, 'signed out, the dashboard asks to sign in');
  await screenshot(page, 'login');
  await login(page);
  await page.waitForSelector('h1:text("Overview")');
  assert.equal(await page.locator('.cards .card').count(), 7, 'a card per task status');
  await page.waitForSelector('figure.chart svg');
  const cookies = await page.context().cookies();
  const session = cookies.find((c) => c.name === 'agentops_session');
  assert.ok(session, 'a session cookie');
  assert.equal(session.httpOnly, true);
  assert.equal(session.sameSite, 'Strict');
  assert.ok(!session.value.includes(ADMIN_KEY), 'the cookie holds a session, not the pasted key');
  await liveOpen(page);
  await screenshot(page, 'overview');
  assert.deepEqual(page.consoleErrors, []);
  await page.context().close();
});

test('a task created through the API appears in the list without a reload', async () => {
  const page = await newPage(browser);
  await login(page, ADMIN_KEY);
  await page.goto(`/tasks?project_id=${project}`);
  await liveOpen(page);
  await page.evaluate(() => { window.notReloaded = true; });
  const task = await createTask('Appears by itself');
  await page.waitForSelector(`#task-${task.id}`, { timeout: 10_000 });
  assert.equal(await page.evaluate(() => window.notReloaded), true, 'the page was not reloaded');
  assert.match(await page.textContent(`#task-${task.id}`), /queued/);
  await screenshot(page, 'tasks');
  assert.deepEqual(page.consoleErrors, []);
  await page.context().close();
});

test('task detail: the timeline grows while a worker heartbeats and completes; the artifact downloads byte for byte', async () => {
  const task = await createTask('Write the release notes', { input: { version: '1.0', notes: ['fast', 'safe'] } });
  const page = await newPage(browser, { width: 1440, height: 900 });
  await login(page);
  await page.goto(`/tasks/${task.id}`);
  await liveOpen(page);
  await page.evaluate(() => { window.notReloaded = true; });
  const before = await page.locator('#timeline li').count();
  assert.ok(before >= 1, 'the timeline starts with the task.created event');

  const token = await claim(task.id);
  await page.waitForFunction((n) => document.querySelectorAll('#timeline li').length > n, before);
  const hb = await api(`/tasks/${task.id}/heartbeat`, { method: 'POST', body: { claim_token: token, progress: 0.5, message: 'drafting' } });
  assert.ok(hb.ok, JSON.stringify(hb.body));
  await page.waitForSelector('#timeline li:has-text("drafting")');
  await page.waitForSelector('#task-card [data-field=progress]:has-text("50%")');

  const bytes = Buffer.from(Array.from({ length: 3000 }, (_, i) => i % 251));
  const text = 'Release 1.0\n\n- fast\n- safe\n';
  for (const [name, body, type] of [['notes.txt', text, 'text/plain'], ['blob.bin', bytes, 'application/octet-stream']]) {
    const res = await fetch(`${BASE_URL}/api/v1/artifacts?task_id=${task.id}&name=${name}`, {
      method: 'POST', headers: { authorization: `Bearer ${ADMIN_KEY}`, 'content-type': type }, body,
    });
    assert.equal(res.status, 201, await res.text());
  }
  const done = await api(`/tasks/${task.id}/complete`, { method: 'POST', body: { claim_token: token, result: { words: 5 } } });
  assert.ok(done.ok, JSON.stringify(done.body));
  await page.waitForSelector('#timeline li:has-text("task.completed")');
  await page.waitForSelector('#task-card [data-field=status]:has-text("completed")');
  await page.waitForSelector('#task-card a.download:has-text("blob.bin")');
  assert.equal(await page.evaluate(() => window.notReloaded), true, 'the page was not reloaded');
  assert.match(await page.textContent('#task-card details.preview pre'), /Release 1\.0/);

  const [download] = await Promise.all([
    page.waitForEvent('download'),
    page.click('#task-card a.download:has-text("blob.bin")'),
  ]);
  const path = await download.path();
  const { readFile } = await import('node:fs/promises');
  assert.ok(Buffer.compare(await readFile(path), bytes) === 0, 'the downloaded bytes are the uploaded ones');
  // An artifact that says it is an image but could run script is never shown or served
  // as one: downloads are bytes, sandboxed.
  const svg = await fetch(`${BASE_URL}/api/v1/artifacts?task_id=${task.id}&name=x.svg`, {
    method: 'POST', headers: { authorization: `Bearer ${ADMIN_KEY}`, 'content-type': 'Image/SVG+XML; charset=utf-8' },
    body: '<svg xmlns="http://www.w3.org/2000/svg"><script>alert(1)</script></svg>',
  });
  assert.equal(svg.status, 201);
  const svgId = (await svg.json()).id;
  for (const kind of ['raw', 'download']) {
    const res = await page.request.get(`/artifacts/${svgId}/${kind}`);
    assert.equal(res.headers()['content-type'], 'application/octet-stream', kind);
    assert.match(res.headers()['content-security-policy'], /sandbox/, kind);
  }
  await page.reload();
  await page.waitForSelector(`[data-artifact="${svgId}"]`);
  assert.equal(await page.locator(`[data-artifact="${svgId}"] img`).count(), 0, 'no inline SVG');
  await screenshot(page, 'task-detail');
  assert.deepEqual(page.consoleErrors, []);
  await page.context().close();
});

test('approve a Chief of Staff plan on the Approvals page and its tasks appear', async () => {
  const thread = await api('/threads', { method: 'POST', body: { channel: 'web', external_id: `browser-${Date.now()}`, title: 'Browser test' } });
  assert.ok(thread.ok, JSON.stringify(thread.body));
  const name = `Launch ${Date.now()}`;
  const plan = {
    proposed_by: 'chief-of-staff',
    actions: [
      { action: 'create_project', name },
      { action: 'create_tasks', project: name, tasks: [{ title: 'Draft the announcement' }, { title: 'Publish the announcement', after: ['Draft the announcement'] }] },
    ],
  };
  const approval = await api(`/threads/${thread.body.id}/approvals`, { method: 'POST', body: { summary: `Set up ${name}`, plan } });
  assert.equal(approval.status, 201, JSON.stringify(approval.body));

  const page = await newPage(browser);
  await login(page);
  await page.goto('/approvals');
  await page.waitForSelector(`[data-approval="${approval.body.id}"]`);
  assert.match(await page.textContent(`[data-approval="${approval.body.id}"] ol.steps`), /Draft the announcement/);
  await screenshot(page, 'approvals');
  await page.click(`[data-approval="${approval.body.id}"] [data-action=approve]`);
  await page.waitForURL(/\/approvals$/);

  // The Chief carries the plan out: its tasks appear in the list without a reload.
  await page.goto('/tasks');
  await liveOpen(page);
  await page.waitForSelector('#task-rows a:has-text("Publish the announcement")', { timeout: 15_000 });
  await page.waitForSelector('#task-rows a:has-text("Draft the announcement")');
  const projects = await api('/projects?limit=200');
  const created = projects.body.items.find((p) => p.name === name);
  assert.ok(created, 'the plan created its project');
  await page.goto(`/projects/${created.id}`);
  await page.waitForSelector('.dag svg .node');
  assert.equal(await page.locator('.dag svg .node').count(), 2);
  assert.equal(await page.locator('.dag svg line.edge').count(), 1, 'one dependency, one arrow');
  await screenshot(page, 'project');
  assert.deepEqual(page.consoleErrors, []);
  await page.context().close();
});

test('unblock a blocked task with an answer', async () => {
  const task = await createTask('Pick a colour');
  const token = await claim(task.id);
  const blocked = await api(`/tasks/${task.id}/block`, { method: 'POST', body: { claim_token: token, reason: 'Which colour: red or blue?' } });
  assert.ok(blocked.ok, JSON.stringify(blocked.body));

  const page = await newPage(browser);
  await login(page);
  await page.goto(`/tasks/${task.id}`);
  assert.match(await page.textContent('#task-card .blocked'), /red or blue/);
  await page.fill('#answer', 'Blue, please.');
  await page.click('[data-action=unblock]');
  await page.waitForSelector('#task-card [data-field=status]:has-text("queued")');
  const after = await api(`/tasks/${task.id}`);
  assert.equal(after.body.status, 'queued');
  const events = await api(`/events?task_id=${task.id}&types=task.unblocked`);
  assert.match(JSON.stringify(events.body.items), /Blue, please\./, 'the answer travels with the unblock');
  assert.deepEqual(page.consoleErrors, []);
  await page.context().close();
});

test('a viewer sees no write controls, and a forged POST is refused', async () => {
  const task = await createTask('Not yours to cancel');
  const viewer = await api('/keys', { method: 'POST', body: { name: 'browser viewer', role: 'viewer' } });
  assert.equal(viewer.status, 201);
  const page = await newPage(browser);
  await login(page, viewer.body.secret);
  await page.goto(`/tasks/${task.id}`);
  await page.waitForSelector('#task-card');
  assert.equal(await page.locator('[data-action]').count(), 0, 'no write buttons for a viewer');
  await page.goto('/approvals');
  assert.equal(await page.locator('[data-action]').count(), 0);
  assert.equal(await page.locator('nav a[href="/keys"]').count(), 0, 'no Keys page for a viewer');
  assert.equal(await page.locator('nav a[href="/chats"]').count(), 0, 'no Chats page for a viewer');
  const keys = await page.goto('/keys');
  assert.equal(keys.status(), 403);

  // With this session's own CSRF token (from its sign-out form), the API still refuses.
  await page.goto('/');
  const csrf = await page.getAttribute('form[action="/logout"] input[name=csrf]', 'value');
  const forged = await page.request.post(`/tasks/${task.id}/cancel`, { form: { csrf }, maxRedirects: 0 });
  assert.equal(forged.status(), 403);
  // Without a token, the dashboard refuses before asking the API.
  const noToken = await page.request.post(`/tasks/${task.id}/cancel`, { form: { csrf: 'nope' }, maxRedirects: 0 });
  assert.equal(noToken.status(), 403);
  assert.equal((await api(`/tasks/${task.id}`)).body.status, 'queued', 'the task was not cancelled');
  await page.context().close();

  // An admin's session refuses a form without its token too (cross-site forgery).
  const admin = await newPage(browser);
  await login(admin);
  const forgedAdmin = await admin.request.post(`/tasks/${task.id}/cancel`, { form: { csrf: 'x'.repeat(32) }, maxRedirects: 0 });
  assert.equal(forgedAdmin.status(), 403);
  assert.equal((await api(`/tasks/${task.id}`)).body.status, 'queued');
  await admin.context().close();
});

test('sign out ends the session in the API', async () => {
  const page = await newPage(browser);
  await login(page);
  const session = (await page.context().cookies()).find((c) => c.name === 'agentops_session');
  const secret = session.value.split('.').slice(1).join('.');
  assert.equal((await api('/keys/me', { key: secret })).status, 200);
  await page.click('form[action="/logout"] button');
  await page.waitForURL(/\/login$/);
  assert.equal((await api('/keys/me', { key: secret })).status, 401, 'the session key no longer works');
  await page.goto('/tasks');
  assert.match(page.url(), /\/login\?next=%2Ftasks|\/login\?next=\/tasks/);
  await page.context().close();
});

/** A TCP proxy whose connections the test can cut, to drop the live stream. */
function cuttableProxy(target) {
  const url = new URL(target);
  const sockets = new Set();
  const server = net.createServer((client) => {
    const upstream = net.connect(Number(url.port), url.hostname);
    sockets.add(client); sockets.add(upstream);
    client.pipe(upstream); upstream.pipe(client);
    const close = () => { client.destroy(); upstream.destroy(); sockets.delete(client); sockets.delete(upstream); };
    client.on('error', close); upstream.on('error', close); client.on('close', close); upstream.on('close', close);
  });
  return new Promise((resolve) => server.listen(0, '127.0.0.1', () => resolve({
    url: `http://127.0.0.1:${server.address().port}`,
    cut: () => { for (const s of sockets) s.destroy(); sockets.clear(); },
    close: () => new Promise((r) => { for (const s of sockets) s.destroy(); server.close(r); }),
  })));
}

test('a dropped live stream resumes from the last event with nothing missed', async (t) => {
  const proxy = await cuttableProxy(BASE_URL);
  t.after(() => proxy.close());
  const page = await newPage(browser, { baseURL: proxy.url });
  await login(page, ADMIN_KEY, proxy.url);
  await page.goto(`${proxy.url}/events?types=task.*&project_id=${project}`);
  await liveOpen(page);
  const first = await createTask('Before the drop');
  await page.waitForSelector(`#feed li a[href="/tasks/${first.id}"]`);

  proxy.cut();
  // Events while the stream is down.
  const during = [];
  for (let i = 0; i < 5; i += 1) during.push(await createTask(`During the drop ${i}`));
  const after = await createTask('After the drop');
  for (const task of [...during, after]) {
    await page.waitForSelector(`#feed li a[href="/tasks/${task.id}"]`, { timeout: 15_000 });
  }
  // Exactly once each: no gap, no duplicate.
  const ids = await page.$$eval('#feed li', (items) => items.map((li) => li.getAttribute('data-event-id')));
  assert.equal(new Set(ids).size, ids.length, 'no event twice');
  const log = await api(`/events?types=task.*&project_id=${project}&since=${Math.min(...ids.map(Number)) - 1}&limit=200`);
  const expected = log.body.items.map((e) => String(e.id)).filter((id) => Number(id) <= Math.max(...ids.map(Number)));
  assert.deepEqual([...ids].sort(), [...expected].sort(), 'every event of the log, once');
  // The only console errors are the stream's own drop reports.
  assert.deepEqual(page.consoleErrors.filter((e) => !/Event|ERR_|net::/.test(e)), []);
  await page.context().close();
});

test('a page whose session ends goes to the sign-in form instead of reconnecting for ever', async (t) => {
  const proxy = await cuttableProxy(BASE_URL);
  t.after(() => proxy.close());
  const page = await newPage(browser, { baseURL: proxy.url });
  await login(page, ADMIN_KEY, proxy.url);
  await page.goto(`${proxy.url}/events`);
  await liveOpen(page);
  const session = (await page.context().cookies()).find((c) => c.name === 'agentops_session');
  const secret = session.value.split('.').slice(1).join('.');
  // Signed out elsewhere, then the connection drops: the reconnect is refused.
  assert.equal((await api('/sessions/current', { method: 'DELETE', key: secret })).status, 204);
  proxy.cut();
  await page.waitForURL(/\/login\?next=%2Fevents/, { timeout: 15_000 });
  await page.context().close();
});

// The speech engine the test command starts (scripts/speech): it speaks the words the fake
// microphone plays, and the Chief hears them back through the page.
const SPEECH_URL = process.env.TEST_SPEECH_URL || '';

test('speak to the Chief of Staff with the microphone; play its answer aloud', { skip: SPEECH_URL === '' && 'no speech engine (TEST_SPEECH_URL)' }, async () => {
  // Real speech, from the engine, as the browser's (fake) microphone.
  const spoken = await fetch(`${SPEECH_URL}/audio/speech`, {
    method: 'POST', headers: { 'content-type': 'application/json' },
    body: JSON.stringify({ model: 'tts-1', voice: 'alloy', input: 'Create project Microphone.', response_format: 'wav' }),
  });
  assert.equal(spoken.status, 200);
  const { mkdtempSync, writeFileSync } = await import('node:fs');
  const { tmpdir } = await import('node:os');
  const wav = `${mkdtempSync(`${tmpdir()}/agentops-mic-`)}/voice.wav`;
  writeFileSync(wav, Buffer.from(await spoken.arrayBuffer()));
  const mic = await launch([
    '--use-fake-ui-for-media-stream',
    '--use-fake-device-for-media-stream',
    `--use-file-for-fake-audio-capture=${wav}%noloop`,
    '--autoplay-policy=no-user-gesture-required',
  ]);
  try {
    const page = await newPage(mic, { width: 1280, height: 800 });
    await login(page);
    await page.goto('/chat');
    await liveOpen(page);
    const record = page.locator('#record');
    await record.waitFor();
    await record.click();
    await page.waitForSelector('#record[aria-pressed="true"]');
    // The clip lasts about two seconds; then silence.
    await page.waitForTimeout(3_500);
    await record.click();
    await page.waitForSelector('#record-status:has-text("🎙")', { timeout: 20_000 });
    const heard = (await page.textContent('#record-status')).toLowerCase();
    assert.ok(heard.includes('microphone'), heard);
    // What was heard is the person's message (marked as spoken), then the Chief's plan.
    await page.waitForSelector('ol.messages .msg.user:has(.spoken)', { timeout: 15_000 });
    await page.waitForSelector('ol.messages .msg.assistant:has-text("Understood")', { timeout: 15_000 });
    await screenshot(page, 'chat-voice');
    // The answer, spoken: the play button fetches it as OGG/Opus and the page plays it.
    const play = page.locator('ol.messages .msg.assistant:has-text("Understood") [data-speak]').last();
    const [audio] = await Promise.all([
      page.waitForResponse((r) => r.url().includes('/chat/speech/')),
      play.click(),
    ]);
    assert.equal(audio.status(), 200);
    assert.equal(audio.headers()['content-type'], 'audio/ogg');
    assert.ok((await audio.body()).subarray(0, 4).toString() === 'OggS');
    assert.deepEqual(page.consoleErrors, []);
  } finally {
    await mic.close();
  }
});

test('chat with the Chief of Staff: the reply appears in the conversation', async () => {
  const page = await newPage(browser, { width: 1440, height: 900 });
  await login(page);
  await page.goto('/chat');
  await liveOpen(page);
  await page.fill('#text', 'help');
  await page.click('form.chat button[type=submit]');
  await page.waitForURL(/\/chat$/);
  await page.waitForSelector('ol.messages .msg.user:has-text("help")');
  await page.waitForSelector('ol.messages .msg.assistant', { timeout: 15_000 });
  // A plan proposed in this person's thread shows its OK button here, and approving
  // it from the chat carries it out.
  const threads = await api('/threads?channel=web');
  const thread = threads.body.items[0];
  assert.ok(thread, 'the chat opened a thread on the web channel');
  const name = `Chat plan ${Date.now()}`;
  const approval = await api(`/threads/${thread.id}/approvals`, { method: 'POST', body: {
    summary: `Create ${name}`, plan: { proposed_by: 'chief-of-staff', actions: [{ action: 'create_project', name }] } } });
  assert.equal(approval.status, 201, JSON.stringify(approval.body));
  await page.waitForSelector(`[data-approval="${approval.body.id}"] [data-action=approve]`);
  await screenshot(page, 'chat');
  await page.click(`[data-approval="${approval.body.id}"] [data-action=approve]`);
  await page.waitForURL(/\/chat$/);
  await page.waitForSelector('ol.messages .msg.assistant:has-text("Done")', { timeout: 15_000 });
  // Plain English, with no LLM: the plan comes back with its OK button, and OK runs it.
  const site = `Site ${Date.now()}`;
  await page.fill('#text', `create a project ${site} with tasks: write copy, build page after write copy`);
  await page.click('form.chat button[type=submit]');
  await page.waitForURL(/\/chat$/);
  await page.waitForSelector(`ol.messages .msg.assistant:has-text('Understood: a new project "${site}" with 2 tasks')`, { timeout: 15_000 });
  await page.locator('[data-action=approve]').last().click();
  await page.waitForURL(/\/chat$/);
  await page.waitForSelector(`ol.messages .msg.assistant:has-text('Done: created project "${site}"')`, { timeout: 15_000 });
  const made = await api('/projects?limit=200');
  const project = made.body.items.find((p) => p.name === site);
  assert.ok(project, 'the project exists');
  // The plan's work is followed in the chat as it happens (lighter lines): a task that
  // starts, its progress (every 2 s here: AGENTOPS_PLAN_PROGRESS_SECS), and at once the
  // question it asks.
  const claimed = await api('/tasks/claim', { method: 'POST', body: { agent_id: await agent(), kinds: ['seed'], project_id: project.id, limit: 1, lease_seconds: 120 } });
  assert.equal(claimed.status, 200, JSON.stringify(claimed.body));
  const [work] = claimed.body.tasks;
  assert.equal(work.title, 'write copy');
  await page.waitForSelector(`ol.messages .msg.progress:has-text('"write copy" started')`, { timeout: 15_000 });
  const hb = await api(`/tasks/${work.id}/heartbeat`, { method: 'POST', body: { claim_token: work.claim_token, progress: 0.4, message: 'drafting the headline' } });
  assert.equal(hb.status, 200, JSON.stringify(hb.body));
  await page.waitForSelector(`ol.messages .msg.progress:has-text('40% · drafting the headline')`, { timeout: 15_000 });
  const blocked = await api(`/tasks/${work.id}/block`, { method: 'POST', body: { claim_token: work.claim_token, reason: 'Formal or friendly tone?' } });
  assert.equal(blocked.status, 200, JSON.stringify(blocked.body));
  const question = page.locator(`ol.messages .msg.assistant:has-text('needs an answer: Formal or friendly tone?')`);
  await question.waitFor({ timeout: 15_000 });
  assert.equal(await question.evaluate((el) => el.classList.contains('progress')), false, 'a question is not shown as a progress line');
  await question.scrollIntoViewIfNeeded();
  await screenshot(page, 'chat-progress');
  assert.deepEqual(page.consoleErrors, []);
  await page.context().close();
});

test('pause and resume a schedule; usage shows what was spent', async () => {
  const schedule = await api('/schedules', { method: 'POST', body: {
    name: 'Hourly digest', project_id: project, task: { title: 'Write the digest', kind: 'digest' }, every_seconds: 3600 } });
  assert.equal(schedule.status, 201, JSON.stringify(schedule.body));
  const spent = await api('/usage', { method: 'POST', body: {
    provider: 'local', model: 'tiny-model', tokens_in: 1200, tokens_out: 300, latency_ms: 80 } });
  assert.equal(spent.status, 201, JSON.stringify(spent.body));

  const page = await newPage(browser, { width: 1440, height: 900 });
  await login(page);
  await page.goto('/schedules');
  const row = `[data-schedule="${schedule.body.id}"]`;
  await page.click(`${row} [data-action=pause]`);
  await page.waitForSelector(`${row} .badge:has-text("paused")`);
  assert.equal((await api(`/schedules/${schedule.body.id}`)).body.status, 'paused');
  await page.click(`${row} [data-action=resume]`);
  await page.waitForSelector(`${row} .badge:has-text("active")`);
  await screenshot(page, 'schedules');

  await page.goto('/usage');
  assert.match(await page.textContent('main'), /tiny-model/);
  assert.match(await page.textContent('main'), /1,500/);
  await screenshot(page, 'usage');
  assert.deepEqual(page.consoleErrors, []);
  await page.context().close();
});

test('deployments recorded by the release script are listed with their outcome and report', async () => {
  const made = await api('/deployments', { method: 'POST', body: { git_sha: 'abc1234def5678', branch: 'main' } });
  assert.equal(made.status, 201, JSON.stringify(made.body));
  const ended = await api(`/deployments/${made.body.id}`, { method: 'PATCH', body: {
    status: 'rolled_back', report: 'tag abc1234 never became ready (/ready answered 503 for 300 s); rolled back to 9f8e7d6' } });
  assert.equal(ended.status, 200, JSON.stringify(ended.body));

  const page = await newPage(browser, { width: 1440, height: 900 });
  await login(page);
  await page.goto('/deployments');
  const row = `[data-deployment="${made.body.id}"]`;
  await page.waitForSelector(`${row} .badge:has-text("rolled_back")`);
  assert.match(await page.textContent(row), /abc1234/);
  assert.match(await page.textContent(row), /rolled back to 9f8e7d6/);
  // Live: a deployment that starts while the page is open appears without a reload.
  const next = await api('/deployments', { method: 'POST', body: { git_sha: 'fedcba9876', branch: 'main' } });
  assert.equal(next.status, 201, JSON.stringify(next.body));
  await page.waitForSelector(`[data-deployment="${next.body.id}"] .badge:has-text("building")`, { timeout: 15_000 });
  await screenshot(page, 'deployments');
  assert.deepEqual(page.consoleErrors, []);
  await page.context().close();
});

test('a chat waiting with its code is approved on the Chats page, then revoked; both show live', async () => {
  const chat = `${Date.now()}`;
  const asked = await api('/pairings', { method: 'POST', body: { channel: 'telegram', chat, name: '@alice (Alice Smith)' } });
  assert.equal(asked.status, 201, JSON.stringify(asked.body));
  const code = asked.body.code;
  assert.match(code, /^[A-Z2-9]{8}$/);

  const page = await newPage(browser, { width: 1440, height: 900 });
  await login(page);
  await page.goto('/chats');
  await liveOpen(page);
  const row = `[data-pairing="${asked.body.id}"]`;
  await page.waitForSelector(`${row} .badge:has-text("pending")`);
  assert.match(await page.textContent(row), /Alice Smith/);
  assert.match(await page.textContent(row), new RegExp(code));
  // Live: another chat asking while the page is open appears without a reload.
  await page.evaluate(() => { window.notReloaded = true; });
  const other = await api('/pairings', { method: 'POST', body: { channel: 'telegram', chat: `${chat}-2`, name: '@bob' } });
  assert.equal(other.status, 201, JSON.stringify(other.body));
  await page.waitForSelector(`[data-pairing="${other.body.id}"] .badge:has-text("pending")`, { timeout: 15_000 });
  assert.equal(await page.evaluate(() => window.notReloaded), true, 'the page was not reloaded');
  await screenshot(page, 'chats');

  await page.click(`${row} [data-action=approve]`);
  await page.waitForURL(/\/chats$/);
  await page.waitForSelector(`${row} .badge:has-text("approved")`);
  const approved = await api(`/pairings/${asked.body.id}`);
  assert.equal(approved.body.status, 'approved');
  assert.equal(approved.body.code, null);
  assert.ok(approved.body.decided_by, 'the session key is recorded as the decider');

  // Live: approved elsewhere (the bot, by code), the other row changes without a reload.
  await liveOpen(page);
  await page.evaluate(() => { window.notReloaded = true; });
  const byBot = await api('/pairings/approve', { method: 'POST', body: { code: other.body.code.toLowerCase(), by: '@operator' } });
  assert.equal(byBot.status, 200, JSON.stringify(byBot.body));
  await page.waitForSelector(`[data-pairing="${other.body.id}"] .badge:has-text("approved")`, { timeout: 15_000 });
  assert.equal(await page.evaluate(() => window.notReloaded), true, 'the page was not reloaded');

  await page.click(`${row} [data-action=revoke]`);
  await page.waitForURL(/\/chats$/);
  await page.waitForSelector(`${row} .badge:has-text("revoked")`);
  assert.equal((await api(`/pairings/${asked.body.id}`)).body.status, 'revoked');
  assert.deepEqual(page.consoleErrors, []);
  await page.context().close();
});

test('make a persona on the Personas page, give it new instructions, delete it', async () => {
  const page = await newPage(browser, { width: 1440, height: 900 });
  await login(page);
  await page.goto('/personas');
  const name = `Captain Byte ${Date.now()}`;
  await page.fill('form[action="/personas"] input[name=name]', name);
  await page.fill('form[action="/personas"] textarea[name=system_prompt]', 'You are a cheerful pirate who explains computers.');
  await page.selectOption('form[action="/personas"] select[name=visibility]', 'public');
  await page.fill('form[action="/personas"] input[name=daily_limit]', '20');
  await page.click('[data-action=create-persona]');
  await page.waitForURL(/\/personas$/);
  const card = page.locator('article.persona', { hasText: name });
  await card.waitFor();
  assert.match(await card.textContent(), /public/);
  assert.match(await card.textContent(), /20 messages a day each/);
  const listed = await api('/personas?visibility=public');
  const made = listed.body.items.find((p) => p.name === name);
  assert.ok(made, JSON.stringify(listed.body));
  assert.ok(made.owner.startsWith('web:'), made.owner);
  // Live: a persona made elsewhere (the API, as Telegram's bot would) appears.
  await liveOpen(page);
  const other = await api('/personas', { method: 'POST', body: { name: 'Stargazer', system_prompt: 'You love astronomy.', model: 'm', visibility: 'public', owner: 'telegram:42' } });
  assert.equal(other.status, 201, JSON.stringify(other.body));
  await page.waitForSelector(`[data-persona-row="${other.body.id}"]`, { timeout: 15_000 });
  await screenshot(page, 'personas');

  // Its owner reads who talked to it and what was said, live.
  const said = await api(`/personas/${made.id}/chat?wait=0`, { method: 'POST', body: { text: 'Ahoy, what is a CPU?' }, headers: { 'x-on-behalf-of': 'telegram:7' } });
  assert.equal(said.status, 202, JSON.stringify(said.body));
  await card.locator('[data-action=conversations]').click();
  await page.waitForURL(/\/personas\/[0-9a-f-]+\/conversations$/);
  const row = page.locator(`[data-conversation="${said.body.thread_id}"]`);
  await row.waitFor();
  assert.match(await row.textContent(), /telegram:7/);
  await row.locator('a').click();
  await page.waitForURL(/\/conversations\/[0-9a-f-]+$/);
  await page.locator('ol.transcript li[data-role=user]', { hasText: 'Ahoy, what is a CPU?' }).waitFor();
  assert.equal(await page.locator('h1 .person').textContent(), 'telegram:7');
  await liveOpen(page);
  const again = await api(`/personas/${made.id}/chat?wait=0`, { method: 'POST', body: { text: 'And a GPU?' }, headers: { 'x-on-behalf-of': 'telegram:7' } });
  assert.equal(again.status, 202, JSON.stringify(again.body));
  await page.locator('ol.transcript li[data-role=user]', { hasText: 'And a GPU?' }).waitFor({ timeout: 15_000 });
  await screenshot(page, 'persona-conversation');
  await page.goto('/personas');

  await card.locator('textarea[name=system_prompt]').fill('You are a grumpy pirate now.');
  await card.locator('[data-action=save-prompt]').click();
  await page.waitForURL(/\/personas$/);
  await page.locator('article.persona', { hasText: name }).locator('.version:has-text("2")').waitFor();
  assert.equal((await api(`/personas/${made.id}`)).body.version, 2);

  await page.locator('article.persona', { hasText: name }).locator('[data-action=delete-persona]').click();
  await page.waitForURL(/\/personas$/);
  assert.equal((await api(`/personas/${made.id}`)).body.status, 'deleted');
  assert.deepEqual(page.consoleErrors, []);
  await page.context().close();
});

const PAGES = [
  ['overview', '/'], ['tasks', '/tasks'], ['projects', '/projects'], ['agents', '/agents'],
  ['events', '/events'], ['approvals', '/approvals'], ['tools', '/tools'], ['schedules', '/schedules'], ['deployments', '/deployments'],
  ['usage', '/usage'], ['chat', '/chat'], ['chats', '/chats'], ['personas', '/personas'], ['keys', '/keys'],
];

test('every page renders at phone and desktop width with no console errors', async () => {
  // Something on the agents page.
  await agent();
  for (const [width, height, suffix] of [[390, 844, 'phone'], [1440, 900, 'desktop']]) {
    const page = await newPage(browser, { width, height });
    await login(page);
    for (const [name, path] of PAGES) {
      const res = await page.goto(path);
      assert.equal(res.status(), 200, `${path} answered ${res.status()}`);
      await page.waitForLoadState('networkidle').catch(() => {});
      const overflow = await page.evaluate(() => document.documentElement.scrollWidth - window.innerWidth);
      assert.ok(overflow <= 1, `${path} at ${width}px scrolls sideways by ${overflow}px`);
      await screenshot(page, `${name}-${suffix}`);
    }
    const res = await page.goto('/keys');
    assert.equal(res.status(), 200);
    await page.fill('input[name=name]', `copied-${suffix}`);
    await page.click('form[action="/keys"] button[type=submit]');
    await page.waitForSelector('#new-secret');
    assert.match(await page.inputValue('#new-secret'), /^aok_/);
    if (suffix === 'desktop') await screenshot(page, 'keys-created');
    assert.deepEqual(page.consoleErrors, [], `console errors at ${width}px`);
    await page.context().close();
  }
});

test('a page left open under a steady event rate keeps its memory flat', async () => {
  const seconds = Number(process.env.MEMORY_SECONDS || 20);
  const rate = 10;
  const page = await newPage(browser);
  await login(page);
  await page.goto('/events');
  await liveOpen(page);
  const heap = () => page.evaluate(() => { window.gc?.(); return performance.memory.usedJSHeapSize; });
  const samples = [];
  const started = Date.now();
  let made = 0;
  while (Date.now() - started < seconds * 1000) {
    const tick = Date.now();
    await Promise.all(Array.from({ length: rate }, (_, i) => api('/tasks', { method: 'POST', body: { project_id: project, title: `load ${made + i}`, kind: 'load' } })));
    made += rate;
    if ((made / rate) % 5 === 0) samples.push(await heap());
    const wait = 1000 - (Date.now() - tick);
    if (wait > 0) await new Promise((r) => setTimeout(r, wait));
  }
  await page.waitForTimeout(1500);
  const rows = await page.locator('#feed li').count();
  assert.ok(rows <= 300, `the feed keeps at most 300 rows (has ${rows})`);
  const first = samples[1] ?? samples[0];
  const last = samples[samples.length - 1];
  console.log(`memory: ${made} tasks in ${seconds} s; JS heap ${(first / 1e6).toFixed(2)} MB -> ${(last / 1e6).toFixed(2)} MB; feed rows ${rows}; samples ${samples.map((s) => (s / 1e6).toFixed(2)).join(' ')}`);
  assert.ok(last < first + 5e6, `the heap grew from ${first} to ${last} bytes`);
  assert.deepEqual(page.consoleErrors, []);
  await page.context().close();
});
