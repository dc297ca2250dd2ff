// The worker app in Chromium (served by `doorstep` through dioxus-liveview), against the real
// server: first sign-in and PIN, find a person by search, a home visit with the questionnaire,
// then two records while the server is down (unsent: 2), the server back on the same port and
// data, sync, and the community's progress moving on the server (API) and on the home screen.
// Screenshots: artifacts/screenshots/app-*.png.
import { mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import path from 'node:path';

const PIN = '246810';

/** Answers one item the way a worker would: "no", the first option, a plausible value. */
async function answer(page, key) {
  const timeout = 5000;
  const field = page.locator(`[data-item="${key}"]`);
  if (await field.getByTestId(`item-${key}-no`).count()) {
    await field.getByTestId(`item-${key}-no`).click({ timeout });
  } else if (await field.locator('button.choice').count()) {
    await field.locator('button.choice').first().click({ timeout });
  } else if (await field.locator('input[type=checkbox]').count()) {
    await field.locator('input[type=checkbox]').first().click({ timeout });
  } else if (await field.locator('select').count()) {
    await field.locator('select').selectOption({ index: 1 }, { timeout });
  } else {
    const input = field.locator('input').first();
    const type = await input.getAttribute('type', { timeout });
    const value = { number: '3', tel: '13800138000', date: '2021-03-02' }[type] ?? '见面核实';
    await input.fill(value, { timeout });
  }
}

/**
 * Submits; while the app lists missing items, answers them and submits again. Returns after the
 * submission went through (the app is back on the list). `onFirstErrors` sees the first list.
 */
async function submitAnsweringRequired(lib, page, onFirstErrors) {
  for (let round = 0; round < 10; round++) {
    await page.getByTestId('finalize').click();
    const state = await lib.waitFor(
      async () => {
        if (await page.getByTestId('errors').count()) return 'errors';
        if (await page.getByTestId('search').count()) return 'submitted';
        return null;
      },
      { what: 'the submission to be checked' },
    );
    if (state === 'submitted') return;
    const keys = await page
      .locator('[data-testid^="error-"]')
      .evaluateAll((els) => els.map((e) => e.getAttribute('data-testid').slice('error-'.length)));
    lib.assert(keys.length > 0, 'the missing items are named');
    if (round === 0 && onFirstErrors) await onFirstErrors(keys);
    for (const key of keys) {
      await answer(page, key);
      // The app answers each tap (the item's message goes): wait for it, so that the next tap
      // does not land on a page still moving.
      await page.getByTestId(`error-${key}`).waitFor({ state: 'detached' });
    }
  }
  throw new Error('the questionnaire never validated');
}

/** From a community's list: search a person by name and open the record. Returns the name. */
async function findAndOpen(lib, page, nth) {
  const names = await lib.waitFor(
    async () => {
      const n = await page.locator('.item-row .name').allTextContents();
      return n.length > nth ? n : null;
    },
    { what: 'persons to be listed' },
  );
  const name = names[nth].trim();
  await page.getByTestId('search').fill(name);
  await lib.waitFor(async () => (await page.locator('.item-row').count()) < names.length, { what: 'the search to narrow the list' });
  const rows = await page.locator('.item-row .name').allTextContents();
  lib.assert(rows.every((n) => n.includes(name)), `only persons named ${name} are listed`);
  await page.locator('.item-row', { hasText: name }).first().click();
  await page.getByTestId('outcome-home_visit').waitFor();
  lib.assertEqual((await lib.testText(page, 'person-name')), name, 'the record opened');
  return name;
}

async function serverDone(api, admin, code) {
  const prog = await api.progress(admin);
  const row = prog.communities.find((c) => c.code === code);
  if (!row) throw new Error(`community ${code} is not in the progress table`);
  return row.figures.done;
}

export default async function app(lib, t) {
  const procs = {};
  let page;
  try {
    await run(lib, t, procs, (p) => {
      page = p;
    });
  } catch (e) {
    // What the processes said, and the screen, for whoever reads the failure.
    if (page) await lib.screenshot(page, 'app-failure').catch(() => {});
    for (const [name, p] of Object.entries(procs)) {
      if (p) console.log(`--- ${name} output ---\n${p.output().slice(-4000)}`);
    }
    throw e;
  }
}

async function run(lib, t, procs, onPage) {
  const serverBin = lib.serverBinary();
  const appBin = lib.appBinary();
  const serverDir = await mkdtemp(path.join(tmpdir(), 'doorstep-app-server-'));
  const appDir = await mkdtemp(path.join(tmpdir(), 'doorstep-app-data-'));
  t.defer(() => rm(serverDir, { recursive: true, force: true }));
  t.defer(() => rm(appDir, { recursive: true, force: true }));

  let server = await lib.startListening(serverBin, ['--data-dir', serverDir, 'demo', '--bind', '127.0.0.1:0'], 'the server');
  t.defer(() => lib.stopProcess(server));
  procs.server = server;
  const port = new URL(server.url).port;
  const appProc = await lib.startListening(
    appBin,
    ['--data-dir', appDir, '--bind', '127.0.0.1:0', '--server', server.url],
    'the app',
  );
  t.defer(() => lib.stopProcess(appProc));
  procs.app = appProc;
  const api = new lib.Api(server.url);
  const admin = await api.login('admin');

  const browser = await t.browser();
  const page = await browser.newPage();
  onPage(page);
  await page.setViewportSize({ width: 412, height: 915 });
  await page.goto(appProc.url);

  // First sign-in: the server address is filled in; then the PIN.
  await page.getByTestId('server').waitFor();
  lib.assertEqual(await page.getByTestId('server').inputValue(), server.url, 'the server address is offered');
  await page.getByTestId('username').fill('w001');
  await page.getByTestId('password').fill(lib.PASSWORD);
  await lib.screenshot(page, 'app-1-sign-in');
  await page.getByTestId('next').click();
  await page.getByTestId('pin').fill(PIN);
  await page.getByTestId('pin2').fill(PIN);
  await lib.screenshot(page, 'app-2-pin');
  await page.getByTestId('finish-sign-in').click();

  // Home: the worker's communities with progress, nothing unsent.
  await page.locator('[data-testid^="community-"]').first().waitFor({ timeout: 30000 });
  await lib.untilText(page, 'unsent-count', 0, 'nothing unsent after sign-in');
  const card = page.locator('[data-testid^="community-"]').first();
  const code = (await card.getAttribute('data-testid')).slice('community-'.length);
  const doneBefore = await serverDone(api, admin, code);
  const total = Number((await lib.testText(page, `done-${code}`)).split('/')[1]);
  lib.assertEqual(await lib.testText(page, `done-${code}`), `${doneBefore} / ${total}`, 'home shows the community progress');
  await lib.screenshot(page, 'app-3-home');

  // Find a person by search and record a home visit with the questionnaire.
  await card.click();
  await page.getByTestId('person-list').waitFor();
  const first = await findAndOpen(lib, page, 0);
  await lib.screenshot(page, 'app-4-person');
  await page.getByTestId('outcome-home_visit').click();
  await page.getByTestId('questionnaire').waitFor();
  lib.assert((await lib.testText(page, 'no-position')).includes('无法获取位置'), 'a browser has no position: said plainly');
  lib.assert(/\d{4}-\d{2}-\d{2} \d{2}:\d{2}/.test(await lib.testText(page, 'visit-time')), 'the visit time is recorded');
  await lib.screenshot(page, 'app-5-questionnaire');
  await submitAnsweringRequired(lib, page, async (keys) => {
    lib.assert(keys.includes('ethnicity'), 'a missing required item is named');
    lib.assert((await page.getByTestId('error-ethnicity').textContent()).includes('「民族」为必填项'), 'in plain words');
    await page.getByTestId('errors').scrollIntoViewIfNeeded();
    await lib.screenshot(page, 'app-6-validation', { fullPage: false });
  });
  lib.assert((await lib.testText(page, 'notice')).includes(`已提交：${first}`), 'the submission is confirmed');
  await lib.screenshot(page, 'app-7-submitted');

  // Sent as soon as the server answers (the background sync after saving).
  await page.getByTestId('back').click();
  await lib.untilText(page, 'unsent-count', 0, 'the first record sent automatically');
  await lib.waitFor(async () => (await serverDone(api, admin, code)) === doneBefore + 1, {
    timeout: 20000,
    what: 'the server to count the first record',
  });

  // The server goes away: two more records, kept on the phone as unsent.
  await lib.stopProcess(server);
  await card.click();
  await page.getByTestId('person-list').waitFor();
  await findAndOpen(lib, page, 0);
  await page.getByTestId('outcome-home_visit').click();
  await page.getByTestId('questionnaire').waitFor();
  await submitAnsweringRequired(lib, page);
  await page.getByTestId('search').fill('');
  await findAndOpen(lib, page, 1);
  await page.getByTestId('outcome-away').click();
  await page.getByTestId('item-outcome_note').fill('在广东务工，春节回来');
  await submitAnsweringRequired(lib, page);
  await page.getByTestId('back').click();
  await lib.untilText(page, 'unsent-count', 2, 'two records unsent while offline');
  lib.assertEqual(await lib.testText(page, `done-${code}`), `${doneBefore + 3} / ${total}`, 'the phone counts its own records');
  await page.getByTestId('sync').click();
  await lib.waitFor(async () => (await page.getByTestId('sync-error').count()) > 0, { what: 'the sync error' });
  lib.assert((await lib.testText(page, 'sync-error')).includes('无法连接服务器'), 'the sync error is in plain words');
  await lib.untilText(page, 'unsent-count', 2, 'still unsent');
  await lib.screenshot(page, 'app-8-offline-unsent');

  // The server is back on the same data and port: sync, and the progress moves.
  server = await lib.startListening(
    serverBin,
    ['--data-dir', serverDir, 'serve', '--bind', `127.0.0.1:${port}`],
    'the server (restart)',
  );
  procs.server = server;
  lib.assertEqual(new URL(server.url).port, port, 'the server is back on its port');
  await page.getByTestId('sync').click();
  await lib.untilText(page, 'unsent-count', 0, 'everything sent');
  await page.getByTestId('sync-report').waitFor();
  const doneAfter = await serverDone(api, admin, code);
  lib.assertEqual(doneAfter, doneBefore + 3, "the server's progress for the community");
  await lib.untilText(page, `done-${code}`, `${doneAfter} / ${total}`, 'the home progress');
  await lib.waitFor(async () => (await lib.testText(page, `server-done-${code}`)).includes(`${doneAfter} / ${total}`), {
    what: "the server's confirmed figure on the home screen",
  });
  lib.assertEqual(
    await page.getByTestId(`progress-${code}`).getAttribute('aria-valuenow'),
    String(doneAfter),
    'the progress bar',
  );
  await lib.screenshot(page, 'app-9-synced');

  // English is a tap away.
  await page.getByTestId('lang').click();
  await lib.waitFor(async () => (await lib.testText(page, 'sync')) === 'Sync now', { what: 'English' });
  await lib.screenshot(page, 'app-10-english');
}
