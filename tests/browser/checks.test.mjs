// The soft checks in the worker app: an answer that a check questions (a severe person without
// the nursing subsidy) is warned about beside its item while the worker answers, counted above
// the submit button; the worker gives the reason in 核实说明 and submits; the server holds the
// final record with the reason. A warning is never an error: the submit goes through.
// Screenshots: artifacts/screenshots/checks-*.png.
import { mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import path from 'node:path';

const PIN = '246810';
const REASON = '本人放弃申请护理补贴，已核实';

/** Answers one item the way a worker would: "yes", the first option, a plausible value. */
async function answer(page, key) {
  const timeout = 5000;
  const field = page.locator(`[data-item="${key}"]`);
  if (await field.getByTestId(`item-${key}-yes`).count()) {
    await field.getByTestId(`item-${key}-yes`).click({ timeout });
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

/** Submits; while the app lists missing items, answers them and submits again. */
async function submitAnsweringRequired(lib, page) {
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
    for (const key of keys) {
      await answer(page, key);
      await page.getByTestId(`error-${key}`).waitFor({ state: 'detached' });
    }
  }
  throw new Error('the questionnaire never validated');
}

export default async function checks(lib, t) {
  const server = await t.server();
  const appDir = await mkdtemp(path.join(tmpdir(), 'doorstep-checks-'));
  t.defer(() => rm(appDir, { recursive: true, force: true }));
  const app = await lib.startListening(
    lib.appBinary(),
    ['--data-dir', appDir, '--bind', '127.0.0.1:0', '--server', server.url, '--sync-interval', '0'],
    'the app',
  );
  t.defer(() => lib.stopProcess(app));
  const api = new lib.Api(server.url);
  const w = await api.login('w001', { deviceName: 'reader' });
  const pulled = await api.get(w, '/api/v1/sync/pull?cursor=0&limit=2000');
  const community = pulled.scope[0];
  // A person not surveyed yet with a level 1 or 2 disability: the nursing subsidy item applies.
  const severe = pulled.records.find(
    (r) =>
      r.person.community === community &&
      !r.answers.outcome &&
      lib.personContext(r.person, pulled.campaign).level <= 2,
  );
  lib.assert(severe, 'a severe person not surveyed yet');
  const person = severe.person;

  const browser = await t.browser();
  const page = await browser.newPage();
  const jsErrors = [];
  page.on('pageerror', (e) => jsErrors.push(String(e)));
  await page.setViewportSize({ width: 412, height: 915 });
  await page.goto(app.url);
  await page.getByTestId('username').fill('w001');
  await page.getByTestId('password').fill(lib.PASSWORD);
  await page.getByTestId('next').click();
  await page.getByTestId('pin').fill(PIN);
  await page.getByTestId('pin2').fill(PIN);
  await page.getByTestId('finish-sign-in').click();
  await page.getByTestId(`community-${community}`).waitFor({ timeout: 30000 });

  // Open the person and record a home visit.
  await page.getByTestId(`community-${community}`).click();
  await page.getByTestId('person-list').waitFor();
  await page.getByTestId('filter-all').click();
  await page.getByTestId('search').fill(person.name);
  await page.getByTestId(`person-${person.id}`).click();
  await page.getByTestId('outcome-home_visit').waitFor();
  lib.assertEqual(await lib.testText(page, 'person-name'), person.name, 'the record opened');
  await page.getByTestId('outcome-home_visit').click();
  await page.getByTestId('questionnaire').waitFor();

  // "Yes": nothing to check. "No" for a severe person: a warning beside the item, at once.
  const field = page.locator('#item-nursing_subsidy');
  await page.getByTestId('item-nursing_subsidy-yes').click();
  await lib.waitFor(
    async () => (await field.locator('.check-warning').count()) === 0,
    { what: 'no warning with the subsidy' },
  );
  await page.getByTestId('item-nursing_subsidy-no').click();
  const warning = field.locator('div.check-warning[data-check="nursing_subsidy_for_severe"]');
  await warning.waitFor();
  const text = await warning.textContent();
  lib.assert(text.includes('护理补贴'), `the warning says what to check (${text})`);
  lib.assert(text.includes('核实说明'), `and where the reason goes (${text})`);
  lib.assertEqual(await field.locator('.err').count(), 0, 'a warning, not an error');
  const summary = page.getByTestId('check-summary');
  await summary.waitFor();
  lib.assert(/^\d+ 项提示待核实$/.test((await summary.textContent()).trim()), 'the warnings are counted');
  lib.assert(Number.parseInt(await summary.textContent(), 10) >= 1, 'at least the one given');
  const color = await warning.evaluate((e) => getComputedStyle(e).backgroundColor);
  lib.assert(color !== 'rgba(0, 0, 0, 0)', `the warning stands out (${color})`);
  await warning.scrollIntoViewIfNeeded();
  await lib.screenshot(page, 'checks-1-warning', { fullPage: false });

  // The reason, in 核实说明; then submit (answering what is still required).
  const reason = page.getByTestId('item-check_reason');
  await reason.scrollIntoViewIfNeeded();
  await reason.fill(REASON);
  await lib.waitFor(async () => (await warning.textContent()).includes('已填写核实说明'), {
    what: 'the warning to see the reason',
  });
  await lib.screenshot(page, 'checks-2-reason', { fullPage: false });
  await submitAnsweringRequired(lib, page);
  const notice = await lib.testText(page, 'notice');
  lib.assert(notice.includes(`已提交：${person.name}`), `submitted (${notice})`);
  lib.assert(!notice.includes('未填写核实说明'), `with its reason (${notice})`);

  // Sent; on the server the record is final with the reason given.
  await page.getByTestId('back').click();
  await page.getByTestId('sync').click();
  await lib.untilText(page, 'unsent-count', 0, 'the record is sent');
  const admin = await api.login('admin');
  const rec = await api.get(admin, `/api/v1/records/${person.id}`);
  lib.assertEqual(rec.answers.status, 'final', 'the record is final on the server');
  lib.assertEqual(rec.answers.outcome, 'home_visit', 'a home visit');
  lib.assertEqual(rec.answers.nursing_subsidy, false, 'the answer the check questioned');
  lib.assertEqual(rec.answers.check_reason, REASON, 'the reason as given');
  lib.assertEqual(jsErrors.length, 0, `no JavaScript errors: ${jsErrors.join('; ')}`);
}
