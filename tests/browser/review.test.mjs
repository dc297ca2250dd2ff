// The review chain (docs/review.md) walked in the console: next year is opened from the demo's
// year with street and district review (API); a worker submits records (push API); the street
// supervisor approves one in the record view, returns one with a per-item note, approves another
// on the community page; the district admin approves the street-approved record at the district
// level, returns another with a comment, draws a sample and records a check (the community falls
// below the threshold and is flagged), decides a follow-up case; then the worker app pulls and
// shows the district's comment on the returned person. Screenshots: artifacts/screenshots/review-*.png.
import { mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import path from 'node:path';

const PIN = '246810';
const NOTE_ITEM = 'household_size';
const STREET_NOTE = '家庭人口数与户口簿不符，请核实';
const STREET_COMMENT = '请核对家庭人口数';
const DISTRICT_COMMENT = '区级审核：请重新核实残疾人证等级';

function noJsErrors(lib, page, where) {
  const errors = page.jsErrors.filter((e) => !e.startsWith('Failed to load resource'));
  lib.assertEqual(errors, [], `no script errors on ${where}`);
}

async function text(page, selector) {
  return ((await page.locator(selector).first().textContent()) ?? '').trim();
}

/** A worker (signed in as an app device) with a community in the supervisor's street. */
async function workerInArea(api, sup) {
  const prog = await api.progress(sup);
  const codes = new Set(prog.communities.map((c) => c.code));
  for (let i = 1; i <= 60; i++) {
    const username = `w${String(i).padStart(3, '0')}`;
    const worker = await api.login(username, { deviceName: `${username} 的手机` });
    const code = worker.account.communities.find((c) => codes.has(c));
    if (code) return { worker, username, code };
  }
  throw new Error("no worker has a community in the supervisor's street");
}

/**
 * Submits final records of the community, one at a time, until `outcomes` are all placed (a push
 * the server refuses, e.g. a soft check wanting a reason, moves on to the next person).
 */
async function submit(lib, api, worker, code, outcomes, extra = {}) {
  await api.pull(worker);
  const form = await api.get(worker, `/api/v1/forms/${encodeURIComponent(worker.campaign.form_version)}`);
  const candidates = [...worker.records.values()]
    .filter((r) => r.person.community === code && r.answers.status !== 'final')
    .sort((a, b) => a.person.id.localeCompare(b.person.id));
  const out = [];
  let i = 0;
  for (const outcome of outcomes) {
    for (;;) {
      const r = candidates[i++];
      lib.assert(r, `enough persons in ${code} to submit a ${outcome}`);
      const answers = { ...lib.complete(form, worker.campaign, r.person, outcome), ...(extra[outcome] ?? {}) };
      const res = (await api.push(worker, [lib.edit(r, answers)])).results[0];
      if (res.status === 'applied') {
        out.push(r);
        break;
      }
    }
  }
  await api.pull(worker);
  return { records: out, form };
}

async function openRecord(lib, page, url, person) {
  await page.goto(`${url}/console/record/${person.id}`);
  await page.locator('#record-items').waitFor();
  lib.assertEqual(await text(page, 'h1'), person.name, 'the record view opened');
}

async function stage(page) {
  return page.locator('#record-stage .stage').getAttribute('data-review');
}

export default async function reviewChain(lib, t) {
  let pages = [];
  const procs = {};
  try {
    await run(lib, t, procs, (p) => pages.push(p));
  } catch (e) {
    for (const [i, p] of pages.entries()) await lib.screenshot(p, `review-failure-${i}`).catch(() => {});
    for (const [name, p] of Object.entries(procs)) {
      if (p) console.log(`--- ${name} output ---\n${p.output().slice(-4000)}`);
    }
    throw e;
  }
}

async function run(lib, t, procs, onPage) {
  const server = await t.server();
  procs.server = server;
  const api = new lib.Api(server.url);
  const admin = await api.login('admin');
  const demo = (await api.progress(admin)).campaign;

  // Next year, carried over from the demo's, with street and district review.
  const opened = await api.post(admin, '/api/v1/admin/campaigns', {
    district: demo.district,
    district_name: demo.district_name,
    year: demo.year + 1,
    from: demo.year,
    review_levels: 'street,district',
  });
  lib.assertEqual(opened.campaign.review_levels, 'street,district', 'the new year has two review levels');
  lib.assert(opened.carry.carried > 0, 'the roster carried over');

  // A worker of the supervisor's street submits: three home visits and a person who moved.
  const sup = await api.login('sup01');
  const { worker, username, code } = await workerInArea(api, sup);
  const { records, form } = await submit(lib, api, worker, code, ['home_visit', 'home_visit', 'home_visit', 'moved'], {
    home_visit: { visit_at: `${demo.year + 1}-03-05 10:30`, visit_geo: { lat: 27.24, lon: 111.46 } },
  });
  const [a, b, c, m] = records.map((r) => r.person);
  lib.assert(form.sections.some((s) => s.items.some((i) => i.key === NOTE_ITEM)), `the form has ${NOTE_ITEM}`);

  // ---- the street supervisor
  const supBrowser = await t.browser();
  const sp = await supBrowser.newPage();
  onPage(sp);
  await lib.signIn(sp, server.url, 'sup01');
  await sp.goto(`${server.url}/console/review`);
  await sp.locator('#stages').waitFor();
  lib.assertEqual(await sp.locator('#review-levels').getAttribute('data-levels'), 'street,district', 'the page names the levels');
  lib.assertEqual(await text(sp, `#stages tr[data-code="${code}"] [data-k="submitted"]`), '4', 'four submitted records wait');
  lib.assertEqual(await sp.locator('#draw-sample').count(), 0, 'a supervisor draws no sample');
  lib.assertEqual(await sp.locator('form.case').count(), 0, 'a supervisor decides no case');
  lib.assert(
    (await sp.locator(`#follow-ups .case-group[data-outcome="moved"] tr[data-person="${m.id}"]`).count()) === 1,
    'the person who moved is a follow-up case, shown to the supervisor',
  );
  noJsErrors(lib, sp, 'the review page (supervisor)');

  // The community page links the person to the record view.
  await sp.goto(`${server.url}/console/community/${code}`);
  await sp.locator('#persons').waitFor();
  await sp.locator(`tr[data-person="${a.id}"] th a`).click();
  await sp.locator('#record-items').waitFor();
  lib.assertEqual(new URL(sp.url()).pathname, `/console/record/${a.id}`, 'the name links to the record view');

  // A: approved by the street, in the record view.
  lib.assertEqual(await stage(sp), 'pending', 'A waits for the street');
  lib.assertEqual(await text(sp, '#visit-at'), `${demo.year + 1}-03-05 10:30`, 'the visit time is shown');
  lib.assert((await text(sp, '#visit-geo')).startsWith('27.24'), 'the visit position is shown');
  await sp.locator('#record-warnings').waitFor();
  lib.assertEqual(await sp.locator('#review-panel').getAttribute('data-level'), 'street', 'the supervisor acts at the street');
  await lib.screenshot(sp, 'review-1-record-panel');
  await sp.locator('#approve').click();
  await lib.waitFor(async () => (await stage(sp)) === 'street_approved', { what: 'A to be street-approved' });
  lib.assert((await text(sp, '#flash')).length > 0, 'the result is said after the reload');
  lib.assertEqual(await sp.locator('#review-panel').count(), 0, 'no more review for the street');
  lib.assert((await text(sp, '#review-locked')).includes('区级'), 'the page says the district has it');

  // B: returned by the street with a per-item note.
  await openRecord(lib, sp, server.url, b);
  await sp.locator(`input[data-note-item="${NOTE_ITEM}"]`).fill(STREET_NOTE);
  await sp.locator('#return-form button.return').click();
  await lib.waitFor(async () => (await text(sp, '#review-msg')).length > 0, { what: 'the empty comment to be refused' });
  lib.assertEqual(await stage(sp), 'pending', 'nothing returned without a comment');
  await sp.locator('#return-comment').fill(STREET_COMMENT);
  await sp.locator('#return-form button.return').click();
  await lib.waitFor(async () => (await stage(sp)) === 'returned', { what: 'B to be returned' });
  lib.assertEqual(await text(sp, '#review-comment'), STREET_COMMENT, "the street's comment is shown");
  lib.assert(
    (await text(sp, `#review-notes li[data-note-item="${NOTE_ITEM}"]`)).includes(STREET_NOTE),
    'the item note is listed',
  );
  lib.assert(
    (await text(sp, `tr[data-item="${NOTE_ITEM}"] .note-old`)).includes(STREET_NOTE),
    'and shown at its item',
  );
  await lib.screenshot(sp, 'review-2-returned-with-note');

  // C: approved by the street on the community page.
  await sp.goto(`${server.url}/console/community/${code}`);
  const rowC = sp.locator(`tr[data-person="${c.id}"]`);
  await rowC.locator('button.approve').click();
  await lib.waitFor(async () => (await rowC.getAttribute('data-review')) === 'street_approved', {
    what: 'C to be street-approved on the community page',
  });
  await lib.waitFor(async () => await rowC.locator('.review-actions').isHidden(), {
    what: "the street's buttons to go once the district has it",
  });
  lib.assertEqual(await text(sp, `tr[data-person="${c.id}"] [data-k="review"]`), '街道已复查', 'the stage is shown');
  noJsErrors(lib, sp, 'the supervisor pages');

  // ---- the district admin
  const adminBrowser = await t.browser();
  const ap = await adminBrowser.newPage();
  onPage(ap);
  await lib.signIn(ap, server.url, 'admin');

  // A: the district approves the street-approved record.
  await openRecord(lib, ap, server.url, a);
  lib.assertEqual(await ap.locator('#review-panel').getAttribute('data-level'), 'district', 'the admin acts at the district');
  await ap.locator('#approve').click();
  await lib.waitFor(async () => (await stage(ap)) === 'approved', { what: 'A to be approved at the district' });

  // C: the district returns it with a comment.
  await openRecord(lib, ap, server.url, c);
  lib.assertEqual(await stage(ap), 'street_approved', 'C waits for the district');
  await ap.locator('#return-comment').fill(DISTRICT_COMMENT);
  await ap.locator('#return-form button.return').click();
  await lib.waitFor(async () => (await stage(ap)) === 'returned', { what: 'C to be returned by the district' });
  lib.assertEqual(await text(ap, '#review-comment'), DISTRICT_COMMENT, "the district's comment is shown");

  // The review page: the stages, a sample drawn and checked, a case decided.
  await ap.goto(`${server.url}/console/review`);
  const cell = (k) => text(ap, `#stages tfoot tr.total [data-k="${k}"]`);
  lib.assertEqual(
    [await cell('submitted'), await cell('street_approved'), await cell('approved'), await cell('returned'), await cell('total')],
    ['1', '0', '1', '2', '4'],
    'the stage totals (pending, street-approved, approved, returned, total)',
  );
  await ap.locator('#draw-sample input[name="rate_permille"]').fill('50');
  await ap.locator('#draw-sample input[name="seed"]').fill('42');
  await ap.locator('#draw-sample input[name="threshold_percent"]').fill('95');
  await ap.locator('#draw-sample button[type="submit"]').click();
  await ap.locator('#samples').waitFor();
  lib.assert((await text(ap, '#flash')).includes('1'), `the draw is reported (${await text(ap, '#flash')})`);
  const sampled = ap.locator('#samples tbody tr');
  lib.assertEqual(await sampled.count(), 1, 'one record of two eligible at 50‰ (at least one)');
  const sampledId = await sampled.first().getAttribute('data-person');
  lib.assert([a.id, m.id].includes(sampledId), 'the sample is of submitted records not returned');
  await sampled.first().locator('details.check-box summary').click();
  const check = sampled.first().locator('form.check');
  await check.locator('input[name="checker"]').fill('区残联 李四');
  await check.locator('select[name="method"]').selectOption('call');
  await check.locator('select[name="differing"]').selectOption(['outcome']);
  lib.assert(!(await check.locator('input[name="confirmed"]').isChecked()), 'a differing item unticks "confirmed"');
  await lib.screenshot(ap, 'review-3-check-form');
  await check.locator('button[type="submit"]').click();
  await ap.locator('#samples tbody tr[data-checked="true"]').waitFor();
  const flagged = ap.locator(`#agreement-communities tr[data-key="${code}"]`);
  lib.assert(((await flagged.getAttribute('class')) ?? '').includes('flagged'), 'the community is flagged');
  lib.assert((await flagged.textContent()).includes('低于阈值'), 'and says it is below the threshold');
  lib.assert(
    ((await ap.locator(`#agreement-workers tr[data-key="${username}"]`).getAttribute('class')) ?? '').includes('flagged'),
    'so is the worker',
  );

  const caseRow = ap.locator(`#follow-ups tr[data-person="${m.id}"]`);
  const caseForm = caseRow.locator('form.case');
  lib.assert(await caseForm.locator('label.county').isHidden(), 'the county is asked only for a transfer');
  await caseForm.locator('select[name="decision"]').selectOption('transferred');
  await caseForm.locator('label.county').waitFor();
  await caseForm.locator('input[name="county"]').fill('邵东市');
  await caseForm.locator('input[name="decided_on"]').fill(`${demo.year + 1}-10-01`);
  await caseForm.locator('input[name="note"]').fill('已开具迁移证明');
  await caseForm.locator('button[type="submit"]').click();
  await lib.waitFor(async () => (await caseRow.getAttribute('data-decision')) === 'transferred', {
    what: 'the case to be decided',
  });
  lib.assert((await caseRow.textContent()).includes('邵东市'), 'the county is shown');
  lib.assertEqual(await text(ap, '#open-cases'), '0', 'no open case left');
  const xlsx = await ap.request.get(`${server.url}${await ap.locator('#cases-xlsx').getAttribute('href')}`);
  lib.assertEqual(xlsx.status(), 200, 'the cases download');
  lib.assert(xlsx.headers()['content-type'].includes('spreadsheetml'), 'as a spreadsheet');
  await lib.screenshot(ap, 'review-4-review-page');
  // The same page in English.
  await ap.goto(`${server.url}/console/review?lang=en`);
  lib.assertEqual(await text(ap, 'h1'), 'Review', 'the page in English');
  lib.assert(
    (await ap.locator(`#agreement-communities tr[data-key="${code}"]`).textContent()).includes('below threshold'),
    'the flag in English',
  );
  await ap.goto(`${server.url}/console/review?lang=zh`);
  noJsErrors(lib, ap, 'the admin pages');

  // The API agrees with the pages.
  const onServer = await api.get(admin, `/api/v1/records/${c.id}`);
  lib.assertEqual([onServer.review, onServer.review_comment], ['returned', DISTRICT_COMMENT], 'C on the server');

  // ---- the worker app: the district's return and its comment reach the phone.
  const appDir = await mkdtemp(path.join(tmpdir(), 'doorstep-review-app-'));
  t.defer(() => rm(appDir, { recursive: true, force: true }));
  const app = await lib.startListening(
    lib.appBinary(),
    ['--data-dir', appDir, '--bind', '127.0.0.1:0', '--server', server.url],
    'the app',
  );
  t.defer(() => lib.stopProcess(app));
  procs.app = app;
  const phoneBrowser = await t.browser();
  const pp = await phoneBrowser.newPage();
  onPage(pp);
  await pp.setViewportSize({ width: 412, height: 915 });
  await pp.goto(app.url);
  await pp.getByTestId('username').fill(username);
  await pp.getByTestId('password').fill(lib.PASSWORD);
  await pp.getByTestId('next').click();
  await pp.getByTestId('pin').fill(PIN);
  await pp.getByTestId('pin2').fill(PIN);
  await pp.getByTestId('finish-sign-in').click();
  await pp.getByTestId(`community-${code}`).waitFor({ timeout: 60000 });
  const returned = pp.getByTestId(`returned-${c.id}`);
  await returned.waitFor({ timeout: 30000 });
  lib.assert((await returned.textContent()).includes(DISTRICT_COMMENT), "the home lists C with the district's comment");
  await pp.getByTestId(`returned-${b.id}`).waitFor();
  await returned.click();
  await pp.getByTestId('review-banner').waitFor();
  lib.assert(
    (await lib.testText(pp, 'review-comment')).includes(DISTRICT_COMMENT),
    "the record shows the district's comment",
  );
  await lib.screenshot(pp, 'review-5-phone-returned', { fullPage: false });
  // B: the street's note on one item stands beside that item on the phone.
  await pp.getByTestId('back').click();
  await pp.getByTestId(`returned-${b.id}`).click();
  await pp.getByTestId('review-banner').waitFor();
  const note = pp.locator(`div.review-note[data-note-item="${NOTE_ITEM}"]`);
  await note.waitFor({ timeout: 30000 });
  lib.assert((await note.textContent()).includes(STREET_NOTE), "the item note is shown at its item on the phone");
  lib.assert((await lib.testText(pp, 'review-notes-count')).includes('1'), 'the banner counts the notes');
  await note.scrollIntoViewIfNeeded();
  await lib.screenshot(pp, 'review-6-phone-item-note', { fullPage: false });
}
