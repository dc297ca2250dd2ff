// The year-over-year update end to end: a home visit submitted this year (API), next year opened
// from it with the CLI, then the worker app in Chromium shows last year's values, confirms a
// section with one tap ("与去年相同"), changes one item, saves and syncs; the console's record page
// lists what changed since last year. Screenshots: artifacts/screenshots/carry-*.png.
import { execFile } from 'node:child_process';
import { mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { promisify } from 'node:util';

const PIN = '246810';

export default async function carry(lib, t) {
  const procs = {};
  let page;
  try {
    await run(lib, t, procs, (p) => {
      page = p;
    });
  } catch (e) {
    if (page) await lib.screenshot(page, 'carry-failure').catch(() => {});
    for (const [name, p] of Object.entries(procs)) {
      if (p) console.log(`--- ${name} output ---\n${p.output().slice(-4000)}`);
    }
    throw e;
  }
}

async function run(lib, t, procs, onPage) {
  const serverBin = lib.serverBinary();
  const appBin = lib.appBinary();
  const serverDir = await mkdtemp(path.join(tmpdir(), 'doorstep-carry-server-'));
  const appDir = await mkdtemp(path.join(tmpdir(), 'doorstep-carry-app-'));
  t.defer(() => rm(serverDir, { recursive: true, force: true }));
  t.defer(() => rm(appDir, { recursive: true, force: true }));

  const server = await lib.startListening(serverBin, ['--data-dir', serverDir, 'demo', '--bind', '127.0.0.1:0'], 'the server');
  t.defer(() => lib.stopProcess(server));
  procs.server = server;
  const api = new lib.Api(server.url);
  const admin = await api.login('admin');
  const year = (await api.progress(admin)).campaign.year;
  lib.assert(Number.isInteger(year), `the demo's campaign has a year (${year})`);
  const next = year + 1;

  // This year: one complete home visit for an adult of w001, through the API.
  const w = await api.login('w001', { deviceName: 't' });
  const pulled = await api.get(w, '/api/v1/sync/pull?cursor=0&limit=2000');
  const campaign = pulled.campaign;
  lib.assertEqual(campaign.year, year, 'the pull is of the open year');
  const form = await api.get(w, `/api/v1/forms/${encodeURIComponent(campaign.form_version)}`);
  const nextStarts = `${next}${campaign.starts.slice(4)}`;
  const candidates = pulled.records.filter((r) => {
    if (r.answers.outcome !== undefined) return false;
    const c = lib.personContext(r.person, campaign);
    const cn = lib.personContext(r.person, { starts: nextStarts });
    // An adult both years, without the care section or the nursing subsidy: the plainest form.
    return c.age >= 20 && cn.age <= 55 && ![5, 6].includes(c.category) && c.level >= 3;
  });
  lib.assert(candidates.length > 0, 'w001 has an adult with a plain form to survey');
  const rec = candidates[0];
  const person = rec.person;
  const answers = lib.complete(form, campaign, person, 'home_visit');
  lib.assertEqual(answers.marital_status, 'unmarried', 'last year: unmarried (the first option)');
  lib.assertEqual(answers.ethnicity, 'han', 'last year: Han');
  const pushed = await api.push(w, [lib.edit(rec, answers)]);
  const res = pushed.results[0];
  lib.assertEqual(
    res.status,
    'applied',
    `the home visit is applied (${res.code ?? ''} ${res.message ?? ''})`,
  );

  // Next year, carried over from this one, by the CLI on the same data while the server runs.
  const cli = await promisify(execFile)(
    serverBin,
    ['--data-dir', serverDir, 'open-campaign', '--district', '430503', '--district-name', '大祥区', '--year', String(next), '--from', String(year)],
    { env: { ...process.env, RUST_LOG: 'warn' } },
  );
  lib.assert(cli.stdout.includes(`carried from ${year}`), `the CLI carried the year over:\n${cli.stdout}${cli.stderr}`);

  // The new year's record of the same resident, with last year's answers as its prior.
  const w2 = await api.login('w001', { deviceName: 't2' });
  const pulled2 = await api.get(w2, '/api/v1/sync/pull?cursor=0&limit=2000');
  lib.assertEqual(pulled2.campaign.year, next, 'the pull is of the new year');
  const carried = pulled2.records.find((r) => r.person.resident_id === person.resident_id);
  lib.assert(carried, 'the person is carried into the new year');
  lib.assert(carried.person.id !== person.id, 'with a new key');
  lib.assertEqual(carried.prior?.marital_status, 'unmarried', "the carried record's prior");
  lib.assertEqual(carried.answers.outcome, undefined, 'the answers start empty');

  // The worker app: sign in, the new year in the header, the carried person.
  const appProc = await lib.startListening(
    appBin,
    ['--data-dir', appDir, '--bind', '127.0.0.1:0', '--server', server.url],
    'the app',
  );
  t.defer(() => lib.stopProcess(appProc));
  procs.app = appProc;
  const browser = await t.browser();
  const page = await browser.newPage();
  onPage(page);
  await page.setViewportSize({ width: 412, height: 915 });
  await page.goto(appProc.url);
  await page.getByTestId('server').waitFor();
  await page.getByTestId('username').fill('w001');
  await page.getByTestId('password').fill(lib.PASSWORD);
  await page.getByTestId('next').click();
  await page.getByTestId('pin').fill(PIN);
  await page.getByTestId('pin2').fill(PIN);
  await page.getByTestId('finish-sign-in').click();
  await page.getByTestId(`community-${carried.person.community}`).waitFor({ timeout: 30000 });
  await lib.untilText(page, 'unsent-count', 0, 'nothing unsent after sign-in');
  await lib.untilText(page, 'campaign-year', `${next}年度 · 大祥区`, 'the header names the new year');
  await lib.screenshot(page, 'carry-1-home');

  await page.getByTestId(`community-${carried.person.community}`).click();
  await page.getByTestId('person-list').waitFor();
  await page.getByTestId('search').fill(person.name);
  await page.getByTestId(`person-${carried.person.id}`).click();
  await page.getByTestId('outcome-home_visit').waitFor();
  lib.assertEqual(await lib.testText(page, 'person-name'), person.name, 'the carried record opened');
  await page.getByTestId('outcome-home_visit').click();
  await page.getByTestId('questionnaire').waitFor();

  // Last year's values beside the items; nothing confirmed yet.
  const basic = page.locator('[data-section="basic"]');
  await basic.waitFor();
  const prior = await lib.testText(page, 'prior-marital_status');
  lib.assert(prior.includes('去年') && prior.includes('未婚'), `last year's marital status is shown (${prior})`);
  lib.assert((await lib.testText(page, 'prior-ethnicity')).includes('汉'), "last year's ethnicity is shown");
  lib.assertEqual(await page.getByTestId('section-unchanged-basic').count(), 0, 'the section is not confirmed yet');
  lib.assertEqual(
    await page.getByTestId('item-marital_status-unmarried').getAttribute('aria-pressed'),
    'false',
    'this year starts empty',
  );
  await lib.screenshot(page, 'carry-2-prior');

  // One tap: the section as last year.
  await page.getByTestId('confirm-section-basic').click();
  await page.getByTestId('section-unchanged-basic').waitFor();
  lib.assert((await lib.testText(page, 'notice')).includes('已按去年填写本部分'), 'the confirmation is said');
  lib.assertEqual(
    await page.getByTestId('item-marital_status-unmarried').getAttribute('aria-pressed'),
    'true',
    "marital status holds last year's value",
  );
  lib.assertEqual(
    await page.getByTestId(`item-ethnicity-${answers.ethnicity}`).getAttribute('aria-pressed'),
    'true',
    "ethnicity holds last year's value",
  );
  lib.assertEqual(
    await page.getByTestId('item-household_size').inputValue(),
    String(answers.household_size),
    "household size holds last year's value",
  );
  lib.assertEqual(await basic.locator('[data-testid^="changed-"]').count(), 0, 'nothing changed yet');
  await lib.screenshot(page, 'carry-3-confirmed');

  // One item changed: tagged, the only one.
  await page.getByTestId('item-marital_status-married').click();
  await page.getByTestId('changed-marital_status').waitFor();
  const changedKeys = await basic
    .locator('[data-testid^="changed-"]')
    .evaluateAll((els) => els.map((e) => e.getAttribute('data-testid')));
  lib.assertEqual(changedKeys, ['changed-marital_status'], 'only the changed item is tagged');
  lib.assertEqual(await page.getByTestId('section-unchanged-basic').count(), 0, 'the section is no longer "as last year"');
  await page.getByTestId('changed-marital_status').scrollIntoViewIfNeeded();
  await lib.screenshot(page, 'carry-4-changed', { fullPage: false });

  // Saved as a draft, sent.
  await page.getByTestId('save-draft').click();
  await lib.waitFor(async () => (await lib.testText(page, 'notice')).includes('草稿已保存'), { what: 'the draft to be saved' });
  await page.getByTestId('back').click();
  await page.getByTestId('person-list').waitFor();
  await page.getByTestId('back').click();
  await page.getByTestId('sync').click();
  await lib.untilText(page, 'unsent-count', 0, 'everything sent');
  const onServer = await lib.waitFor(
    async () => {
      const r = (await api.pull(w2)).find((x) => x.person.id === carried.person.id);
      return r && r.answers.marital_status === 'married' ? r : null;
    },
    { timeout: 20000, what: 'the server to hold the changed answer' },
  );
  lib.assertEqual(onServer.answers.ethnicity, answers.ethnicity, 'the confirmed answers reached the server');
  await lib.screenshot(page, 'carry-5-synced');

  // The console: what changed since last year.
  const consolePage = await browser.newPage();
  onPage(consolePage);
  await lib.signIn(consolePage, server.url, 'admin');
  await consolePage.goto(`${server.url}/console/record/${carried.person.id}`);
  await consolePage.locator('#record-items').waitFor();
  const change = (item) => consolePage.locator(`tr[data-item="${item}"]`).getAttribute('data-change');
  lib.assertEqual(await change('marital_status'), 'changed', 'marital status: changed');
  lib.assertEqual(await change('ethnicity'), 'unchanged', 'ethnicity: unchanged');
  lib.assertEqual(await change('household_size'), 'unchanged', 'household size: unchanged');
  const changedRows = await consolePage
    .locator('tr[data-change="changed"]')
    .evaluateAll((els) => els.map((e) => e.getAttribute('data-item')));
  lib.assertEqual(changedRows, ['marital_status'], 'one changed row');
  const summary = (await consolePage.locator('#diff-summary').textContent()).trim();
  lib.assertEqual((await consolePage.locator('#diff-summary strong').textContent()).trim(), '1', `one changed item (${summary})`);
  await lib.screenshot(consolePage, 'carry-6-console-record');
}
