// The supervisor console in Chromium: live figures as devices sync, conflict resolution synced
// back to the device, review, roster import with a bad row, the XLSX export against the API,
// roles and scope, keyed-in entry. Screenshots: artifacts/screenshots/console-*.png.
import { readFile } from 'node:fs/promises';

import ExcelJS from 'exceljs';

const OUTCOME_ZH = {
  home_visit: '入户调查',
  phone: '电话调查',
  not_found: '查无此人',
  moved: '已搬迁',
  registered_only: '空挂户',
  away: '外出',
  deregistered: '注销',
};

/** A worker (signed in as an app device) with a community in the supervisor's street. */
async function workerInArea(api, sup, skip = 0) {
  const prog = await api.progress(sup);
  const codes = new Set(prog.communities.map((c) => c.code));
  let seen = 0;
  for (let i = 1; i <= 60; i++) {
    const username = `w${String(i).padStart(3, '0')}`;
    const worker = await api.login(username, { deviceName: `${username} 的手机` });
    const code = worker.account.communities.find((c) => codes.has(c));
    if (code && seen++ >= skip) return { worker, username, code, prog };
  }
  throw new Error("no worker has a community in the supervisor's street");
}

/** Pushes final outcomes for the first `n` persons of a worker's scope (a realistic mix). */
async function surveySome(lib, api, worker, n, { code } = {}) {
  await api.pull(worker);
  const mix = ['home_visit', 'home_visit', 'home_visit', 'phone', 'home_visit', 'away', 'home_visit', 'not_found'];
  const records = [...worker.records.values()]
    .filter((r) => !code || r.person.community === code)
    .filter((r) => r.answers.status !== 'final')
    .slice(0, n);
  const form = await api.get(worker, `/api/v1/forms/${worker.campaign.form_version}`);
  const mutations = records.map((r, i) =>
    lib.edit(
      r,
      lib.complete(form, worker.campaign, r.person, mix[i % mix.length]),
      Date.now() - 1000 * (n - i),
    ),
  );
  const res = await api.push(worker, mutations);
  for (const r of res.results) lib.assertEqual(r.status, 'applied', 'a survey push is applied');
  await api.pull(worker);
  return records;
}

async function text(page, selector) {
  return (await page.locator(selector).first().textContent()).trim();
}

function noJsErrors(lib, page, where) {
  // Refused requests the test makes on purpose (401, 403, 422) are logged by Chromium too.
  const errors = page.jsErrors.filter((e) => !e.startsWith('Failed to load resource'));
  lib.assertEqual(errors, [], `no script errors on ${where}`);
}

/** A valid resident ID number: region + birth date + sequence + check character. */
function residentId(region, birth, seq) {
  const body = `${region}${birth}${String(seq).padStart(3, '0')}`;
  const w = [7, 9, 10, 5, 8, 4, 2, 1, 6, 3, 7, 9, 10, 5, 8, 4, 2];
  const sum = [...body].reduce((s, c, i) => s + Number(c) * w[i], 0);
  return body + '10X98765432'[sum % 11];
}

export const tests = {
  async 'a supervisor watches the figures move live as a device syncs'(lib, t) {
    const server = await t.server();
    const api = new lib.Api(server.url);
    const sup = await api.login('sup01');
    const { worker, username, code } = await workerInArea(api, sup);
    // Some earlier work in the street so the charts have something to show.
    const other = await workerInArea(api, sup, 1);
    await surveySome(lib, api, other.worker, 25);

    const browser = await t.browser();
    const overview = await browser.newPage();
    await lib.signIn(overview, server.url, 'sup01');
    await overview.goto(`${server.url}/console`);
    const community = await browser.newPage();
    await community.goto(`${server.url}/console/community/${code}`);
    await overview.waitForSelector('#live.on');
    await community.waitForSelector('#live.on');
    const row = `#communities tr[data-code="${code}"]`;
    const before = Number(await text(overview, `${row} [data-k="done"]`));
    const totalBefore = Number(await text(overview, '[data-total="done"]'));
    const roster = Number(await text(overview, `${row} [data-k="roster"]`));
    for (const p of [overview, community]) await p.evaluate(() => (window.__sameDocument = true));

    // The device pulls, surveys a person at home, finalizes and pushes.
    await api.pull(worker);
    const person = [...worker.records.values()].find(
      (r) => r.person.community === code && r.answers.status !== 'final',
    );
    const form = await api.get(worker, `/api/v1/forms/${worker.campaign.form_version}`);
    const res = await api.push(worker, [
      lib.edit(person, lib.complete(form, worker.campaign, person.person, 'home_visit')),
    ]);
    lib.assertEqual(res.results[0].status, 'applied', 'the push is applied');

    // The overview's row, totals and the community page move without a reload.
    await overview.waitForFunction(
      ([sel, n]) => document.querySelector(sel)?.textContent.trim() === String(n),
      [`${row} [data-k="done"]`, before + 1],
      { timeout: 10000 },
    );
    lib.assertEqual(Number(await text(overview, '[data-total="done"]')), totalBefore + 1, 'district total moved');
    lib.assertEqual(await text(overview, `${row} [data-k="home"]`), '100.00%', 'home-visit rate of the community');
    lib.assert(
      (await overview.locator(`${row} [data-k="home"]`).getAttribute('class')).includes('good'),
      'a 100 % home-visit rate is coloured as meeting the target',
    );
    const bp = Math.floor(((before + 1) * 20000 + roster) / (2 * roster)); // half-up, as the brief
    lib.assertEqual(
      await text(overview, `${row} [data-k="completion"]`),
      `${Math.floor(bp / 100)}.${String(bp % 100).padStart(2, '0')}%`,
      'completion rate of the community',
    );
    const cell = `tr[data-person="${person.person.id}"]`;
    await community.waitForFunction(
      ([sel, n]) => document.querySelector(sel)?.textContent.trim() === String(n),
      ['#community-figures [data-k="done"]', before + 1],
      { timeout: 10000 },
    );
    await community.waitForFunction(
      ([sel, label]) => document.querySelector(`${sel} [data-k="outcome"]`)?.textContent.trim() === label,
      [cell, OUTCOME_ZH.home_visit],
    );
    lib.assertEqual(await text(community, `${cell} [data-k="worker"]`), username, 'the worker is shown');
    lib.assertEqual(await text(community, `${cell} [data-k="review"]`), '待审核', 'awaiting review');
    for (const p of [overview, community]) {
      lib.assert(await p.evaluate(() => window.__sameDocument === true), 'the page was not reloaded');
    }

    // A second device's phone survey moves the phone column too.
    const second = [...worker.records.values()].find(
      (r) => r.person.community === code && r.answers.status !== 'final' && r.person.id !== person.person.id,
    );
    await api.push(worker, [lib.edit(second, lib.complete(form, worker.campaign, second.person, 'phone'))]);
    await overview.waitForFunction(
      ([sel, n]) => document.querySelector(sel)?.textContent.trim() === String(n),
      [`${row} [data-k="done"]`, before + 2],
      { timeout: 10000 },
    );
    lib.assertEqual(await text(overview, `${row} [data-k="home"]`), '50.00%', 'one of two by phone');
    lib.assert(
      (await overview.locator(`${row} [data-k="home"]`).getAttribute('class')).includes('bad'),
      'below the 95 % target is coloured',
    );

    // Sorting by completion puts the most complete community first.
    await overview.click('#communities thead th:nth-child(12) button');
    await overview.click('#communities thead th:nth-child(12) button');
    const firstSorted = await overview.locator('#communities tbody tr').first().getAttribute('data-code');
    const api2 = await api.progress(sup);
    const best = Math.max(...api2.communities.map((c) => c.figures.completion_bp ?? -1));
    const firstRow = api2.communities.find((c) => c.code === firstSorted);
    lib.assertEqual(firstRow.figures.completion_bp, best, 'descending sort by completion');

    await overview.waitForTimeout(400); // let the charts settle
    noJsErrors(lib, overview, 'the overview');
    noJsErrors(lib, community, 'the community page');
    await lib.screenshot(overview, 'console-overview');
    await lib.screenshot(community, 'console-community');
  },

  async 'a supervisor approves and returns finalized records'(lib, t) {
    const server = await t.server();
    const api = new lib.Api(server.url);
    const sup = await api.login('sup01');
    const { worker, code, prog: start } = await workerInArea(api, sup);
    const doneBefore = start.communities.find((c) => c.code === code).figures.done;
    const [a, b] = await surveySome(lib, api, worker, 2, { code });
    const browser = await t.browser();
    const page = await browser.newPage();
    await lib.signIn(page, server.url, 'sup01');
    await page.goto(`${server.url}/console/community/${code}`);
    const rowA = page.locator(`tr[data-person="${a.person.id}"]`);
    const rowB = page.locator(`tr[data-person="${b.person.id}"]`);
    await rowA.locator('button[data-act="approve"]').click();
    await page.waitForFunction(
      (id) => document.querySelector(`tr[data-person="${id}"] [data-k="review"]`)?.textContent.trim() === '已通过',
      a.person.id,
    );
    // Returning needs a comment.
    await rowB.locator('button[data-act="return"]').click();
    lib.assert((await rowB.locator('.msg').textContent()).includes('退回原因'), 'asks for a comment');
    await rowB.locator('input.comment').fill('请补充联系电话');
    await rowB.locator('button[data-act="return"]').click();
    await page.waitForFunction(
      (id) => document.querySelector(`tr[data-person="${id}"] [data-k="review"]`)?.textContent.trim() === '已退回',
      b.person.id,
    );
    // The device gets the review; the returned record no longer counts as done.
    await api.pull(worker);
    lib.assertEqual(worker.records.get(a.person.id).review, 'approved', 'approved on the device');
    lib.assertEqual(worker.records.get(b.person.id).review, 'returned', 'returned on the device');
    lib.assertEqual(worker.records.get(b.person.id).review_comment, '请补充联系电话', 'with the comment');
    const prog = await api.progress(sup);
    lib.assertEqual(
      prog.communities.find((c) => c.code === code).figures.done,
      doneBefore + 1,
      'a returned record is not done',
    );
    await page.waitForFunction(
      (n) => document.querySelector('#community-figures [data-k="done"]')?.textContent.trim() === String(n),
      doneBefore + 1,
    );
    noJsErrors(lib, page, 'the community page');
    await lib.screenshot(page, 'console-review');
  },

  async 'a supervisor resolves a conflict and the device pulls the resolution'(lib, t) {
    const server = await t.server();
    const api = new lib.Api(server.url);
    const sup = await api.login('sup01');
    const { worker: phoneA, username, code } = await workerInArea(api, sup);
    const phoneB = await api.login(username, { deviceName: `${username} 的平板` });
    await api.pull(phoneA);
    await api.pull(phoneB);
    const person = [...phoneA.records.values()].find((r) => r.person.community === code);
    const id = person.person.id;
    // Both devices start from the same base and change the same item differently.
    const rA = await api.push(phoneA, [lib.edit(phoneA.records.get(id), { marital_status: 'married' }, Date.now() - 60000)]);
    lib.assertEqual(rA.results[0].status, 'applied', 'A applied');
    const rB = await api.push(phoneB, [lib.edit(phoneB.records.get(id), { marital_status: 'unmarried' })]);
    lib.assertEqual(rB.results[0].items, { marital_status: 'conflict' }, 'B conflicts');

    const browser = await t.browser();
    const page = await browser.newPage();
    await lib.signIn(page, server.url, 'sup01');
    await page.goto(`${server.url}/console/conflicts`);
    const card = page.locator(`article.conflict[data-person="${id}"][data-item="marital_status"]`);
    await card.waitFor();
    lib.assert((await card.locator('h2').textContent()).includes('婚姻状况'), 'the item is named by its label');
    const values = (await card.locator('.candidate:not(.typed) .value').allTextContents()).map((v) => v.trim());
    lib.assertEqual(values, ['有配偶', '未婚当前暂用'], 'both values side by side, the later one provisional');
    lib.assertEqual(
      await card.locator('.candidate .device').allTextContents(),
      [`设备：${username} 的手机`, `设备：${username} 的平板`],
      'from which device',
    );
    lib.assert((await card.locator('.base').textContent()).includes('空'), 'the base value is shown');
    lib.assert((await card.locator('.candidate .by').first().textContent()).includes(username), 'who wrote it');
    await lib.screenshot(page, 'console-conflicts');

    // The provisional value is B's (later); the supervisor adopts A's.
    lib.assertEqual(person.answers.marital_status, undefined, 'no value at the base');
    await card.locator('button.adopt[data-value="\\"married\\""]').click();
    await card.waitFor({ state: 'detached' });
    lib.assert(await page.locator('#no-conflicts').isVisible(), 'the list says nothing is open');
    lib.assertEqual((await api.get(sup, '/api/v1/conflicts')).length, 0, 'no conflict left');

    // Device B's next pull holds the resolution.
    const changed = await api.pull(phoneB);
    lib.assert(changed.some((r) => r.person.id === id), 'the resolution arrives in the pull');
    const after = phoneB.records.get(id);
    lib.assertEqual(after.answers.marital_status, 'married', 'the device holds the resolution');
    lib.assertEqual(Object.keys(after.conflicts || {}).length, 0, 'and no open conflict');

    // A conflict on the outcome resolved with a typed (chosen) value.
    const p2 = [...phoneA.records.values()].find((r) => r.person.community === code && r.person.id !== id);
    await api.push(phoneA, [lib.edit(p2, { outcome: 'not_found', status: 'final' }, Date.now() - 60000)]);
    await api.push(phoneB, [lib.edit(phoneB.records.get(p2.person.id), { outcome: 'registered_only', status: 'final' })]);
    await page.goto(`${server.url}/console/conflicts`);
    const card2 = page.locator(`article.conflict[data-person="${p2.person.id}"][data-item="outcome"]`);
    await card2.locator('.typed select.input').selectOption('away');
    await card2.locator('button.adopt-typed').click();
    await card2.waitFor({ state: 'detached', timeout: 5000 }).catch(async (e) => {
      throw new Error(`${e.message}\nmessage: ${await card2.locator('.msg').last().textContent()}`);
    });
    await api.pull(phoneA);
    lib.assertEqual(phoneA.records.get(p2.person.id).answers.outcome, 'away', 'the typed value synced back');
    noJsErrors(lib, page, 'the conflicts page');
  },

  async 'an admin imports a roster with a bad row: the row is reported, nothing imported'(lib, t) {
    const server = await t.server();
    const api = new lib.Api(server.url);
    const admin = await api.login('admin');
    const before = await api.progress(admin);
    const c = before.communities[0];
    const headers = ['序号', '姓名', '身份证号', '残疾证号', '街道（乡镇）', '社区（村）', '社区代码', '住址', '联系电话', '护理补贴', '生活补贴'];
    const names = ['赵一', '钱二', '孙三', '李四', '周五', '吴六', '郑七', '王八', '冯九', '陈十'];
    const rows = names.map((name, i) => {
      const id = residentId('430503', `1965${String(i + 1).padStart(2, '0')}1${i % 10}`, 201 + i * 2);
      return [i + 1, name, id, `${id}4${(i % 4) + 1}`, c.street_name, c.name, c.code, `${c.name}${i + 1}号`, '13800138000', i % 2 ? '是' : '否', '否'];
    });
    const good = '\ufeff' + [headers, ...rows].map((r) => r.join(',')).join('\n') + '\n';
    // Line 8 of the file (the 7th person): a wrong check character in the ID number only.
    const id7 = rows[6][2];
    const wrong = id7.slice(0, 17) + (id7[17] === '1' ? '2' : '1');
    const bad = good.replace(`,${id7},`, `,${wrong},`);

    const browser = await t.browser();
    const page = await browser.newPage();
    await lib.signIn(page, server.url, 'admin');
    await page.goto(`${server.url}/console/admin`);
    await page.setInputFiles('#import-file', { name: 'roster.csv', mimeType: 'text/csv', buffer: Buffer.from(bad) });
    await page.click('#import-form button[type="submit"]');
    const errors = page.locator('#import-result .error-list li');
    await errors.first().waitFor();
    const items = await errors.allTextContents();
    lib.assertEqual(items.length, 1, 'exactly one bad row');
    lib.assert(items[0].startsWith('第 8 行 身份证号'), `the row is named: ${items[0]}`);
    lib.assert((await text(page, '#import-status')).includes('未导入'), 'says nothing was imported');
    const after = await api.progress(admin);
    lib.assertEqual(after.total.roster, before.total.roster, 'the roster is unchanged');
    await lib.screenshot(page, 'console-admin-import-error', { fullPage: false });

    // The corrected file imports every row.
    await page.setInputFiles('#import-file', { name: 'roster.csv', mimeType: 'text/csv', buffer: Buffer.from(good) });
    await page.click('#import-form button[type="submit"]');
    await page.waitForFunction(() => document.querySelector('#import-status')?.textContent.includes('导入成功'));
    lib.assert((await text(page, '#import-status')).includes('10 人'), 'ten persons imported');
    lib.assertEqual((await api.progress(admin)).total.roster, before.total.roster + 10, 'the roster grew by ten');
    lib.assertEqual(await page.locator('#import-result .error-list').count(), 0, 'no error list');
    noJsErrors(lib, page, 'the admin page');
  },

  async 'the XLSX export read back equals the progress API'(lib, t) {
    const server = await t.server();
    const api = new lib.Api(server.url);
    const admin = await api.login('admin');
    const doneBefore = (await api.progress(admin)).total.done;
    for (const w of ['w001', 'w004', 'w009']) {
      const worker = await api.login(w, { deviceName: `${w} 的手机` });
      await surveySome(lib, api, worker, 17);
    }
    const browser = await t.browser();
    await browser.context.grantPermissions(['clipboard-read', 'clipboard-write']);
    const page = await browser.newPage();
    await lib.signIn(page, server.url, 'admin');
    await page.goto(`${server.url}/console/exports`);
    const [download] = await Promise.all([
      page.waitForEvent('download'),
      page.click('a[href="/api/v1/export/progress.xlsx"]'),
    ]);
    lib.assertEqual(download.suggestedFilename(), 'progress.xlsx', 'file name');
    const wb = new ExcelJS.Workbook();
    await wb.xlsx.load(await readFile(await download.path()));
    const ws = wb.worksheets[0];
    const header = ws.getRow(1).values; // 1-based
    const col = (name) => {
      const i = header.indexOf(name);
      if (i < 0) throw new Error(`no column ${name} in ${header}`);
      return i;
    };
    const [cLevel, cCode, cRoster, cDone] = ['级别', '代码', '底册人数', '已完成'].map(col);
    const fromSheet = {};
    let total = null;
    ws.eachRow((row, n) => {
      if (n === 1) return;
      const level = row.getCell(cLevel).value;
      const figures = { roster: Number(row.getCell(cRoster).value), done: Number(row.getCell(cDone).value) };
      if (level === '社区') fromSheet[String(row.getCell(cCode).value)] = figures;
      if (level === '合计') total = figures;
    });
    const prog = await api.progress(admin);
    const fromApi = Object.fromEntries(prog.communities.map((c) => [c.code, { roster: c.figures.roster, done: c.figures.done }]));
    lib.assertEqual(Object.keys(fromSheet).length, prog.communities.length, 'one row per community');
    lib.assertEqual(fromSheet, fromApi, 'roster and done per community');
    lib.assertEqual(total, { roster: prog.total.roster, done: prog.total.done }, 'the total row');
    lib.assertEqual(prog.total.done, doneBefore + 51, 'the 51 persons surveyed are done');

    // The annual-report paragraph, ready to copy.
    const paragraph = await page.locator('#report').inputValue();
    const report = await api.get(admin, '/api/v1/report');
    lib.assertEqual(paragraph, report.paragraph, 'the paragraph is the API\'s');
    lib.assert(paragraph.includes(`共完成${prog.total.done}名`), 'it counts the persons done');
    await page.click('#copy-report');
    await page.waitForFunction(() => document.querySelector('#copy-msg')?.textContent === '已复制');
    noJsErrors(lib, page, 'the exports page');
    await lib.screenshot(page, 'console-exports');
  },

  async 'roles, scope, sign-in and sign-out, English, a phone-sized screen'(lib, t) {
    const server = await t.server();
    const browser = await t.browser();
    const page = await browser.newPage();
    // Signed out: pages redirect to the sign-in page, which comes back afterwards.
    await page.goto(`${server.url}/`);
    lib.assert(new URL(page.url()).pathname === '/console/login', 'signed out → sign-in page');
    await page.goto(`${server.url}/console/conflicts`);
    lib.assertEqual(new URL(page.url()).searchParams.get('next'), '/console/conflicts', 'remembers the page');
    await lib.screenshot(page, 'console-login');
    await page.fill('input[name="username"]', 'sup01');
    await page.fill('input[name="password"]', 'wrong password');
    await page.click('button[type="submit"]');
    lib.assert((await text(page, '.error')).includes('用户名或密码错误'), 'wrong password is refused');
    await page.fill('input[name="password"]', lib.PASSWORD);
    await Promise.all([page.waitForURL('**/console/conflicts'), page.click('button[type="submit"]')]);
    const cookies = await browser.context.cookies();
    const session = cookies.find((c) => c.name === 'doorstep_token');
    lib.assert(session && session.httpOnly && session.sameSite === 'Lax', 'an HttpOnly, SameSite=Lax cookie');

    // A supervisor sees their street only, and no admin page.
    await page.goto(`${server.url}/console`);
    const streets = await page.locator('#streets tbody tr').count();
    lib.assertEqual(streets, 1, 'one street for sup01');
    const r = await page.goto(`${server.url}/console/admin`);
    lib.assertEqual(r.status(), 403, 'admin page refused to a supervisor');
    const api = new lib.Api(server.url);
    const admin = await api.login('admin');
    const all = await api.progress(admin);
    const sup = await api.login('sup01');
    const mine = new Set((await api.progress(sup)).communities.map((c) => c.code));
    const elsewhere = all.communities.find((c) => !mine.has(c.code));
    const r2 = await page.goto(`${server.url}/console/community/${elsewhere.code}`);
    lib.assertEqual(r2.status(), 403, 'a community of another street is refused');
    await lib.screenshot(page, 'console-forbidden-scope');

    // English labels.
    await page.goto(`${server.url}/console?lang=en`);
    lib.assertEqual(await text(page, 'h2'), 'Streets and townships', 'English page');
    await page.goto(`${server.url}/console/exports`);
    lib.assertEqual(await text(page, 'h1'), 'Exports and the annual report', 'English is remembered');
    await page.goto(`${server.url}/console?lang=zh`);

    // A phone-sized screen.
    await page.setViewportSize({ width: 390, height: 844 });
    await page.goto(`${server.url}/console`);
    await page.waitForSelector('#live.on');
    const overflow = await page.evaluate(() => document.documentElement.scrollWidth - window.innerWidth);
    lib.assert(overflow <= 1, `the page fits a phone's width (overflow ${overflow}px)`);
    await page.waitForTimeout(400);
    await lib.screenshot(page, 'console-phone-overview');
    await page.setViewportSize({ width: 1366, height: 900 });

    // Sign out: the session is over.
    await Promise.all([page.waitForURL('**/console/login'), page.click('form.signout button')]);
    await page.goto(`${server.url}/console`);
    lib.assert(new URL(page.url()).pathname === '/console/login', 'signed out for good');

    // A worker gets a polite 403 page.
    await lib.signIn(page, server.url, 'w001');
    const r3 = await page.goto(`${server.url}/console`);
    lib.assertEqual(r3.status(), 403, 'a worker is refused');
    lib.assert((await text(page, 'h1')).includes('无权'), 'politely');
    lib.assert(await page.locator('form.signout button').isVisible(), 'with a way to sign out');
    await lib.screenshot(page, 'console-forbidden-worker');

    // Chart.js is served from the binary with a long cache.
    const asset = await fetch(`${server.url}/console/assets/chart.js`);
    lib.assertEqual(asset.status, 200, 'chart.js served');
    lib.assert(asset.headers.get('content-type').startsWith('text/javascript'), 'as JavaScript');
    lib.assert(asset.headers.get('cache-control').includes('max-age=31536000'), 'with a long cache');
    lib.assert((await asset.text()).includes('Chart.js v4'), 'Chart.js 4');
    noJsErrors(lib, page, 'the pages');
  },

  async 'an admin manages accounts, assignments, devices and keys in a paper record'(lib, t) {
    const server = await t.server();
    const api = new lib.Api(server.url);
    const admin = await api.login('admin');
    const lost = await api.login('w002', { deviceName: '丢失的手机' });
    const before = await api.progress(admin);
    const browser = await t.browser();
    const page = await browser.newPage();
    await lib.signIn(page, server.url, 'admin');
    await page.goto(`${server.url}/console/admin`);

    // A new worker, assigned a community.
    await page.fill('#user-form input[name="username"]', 'w900');
    await page.fill('#user-form input[name="display_name"]', '新来的专干');
    await page.selectOption('#user-form select[name="role"]', 'worker');
    await page.fill('#user-form input[name="password"]', 'a-long-password');
    await page.click('#user-form button[type="submit"]');
    await page.locator('#users-table tr[data-user="w900"]').waitFor();
    await page.reload();
    const community = before.communities[5];
    await page.selectOption('#assign-form select[name="community"]', community.code);
    await page.selectOption('#assign-form select[name="username"]', 'w900');
    await page.click('#assign-form button[type="submit"]');
    await page.waitForFunction(
      (code) => document.querySelector(`#assignments-table tr[data-community="${code}"]`)?.textContent.includes('w900'),
      community.code,
    );
    const newcomer = await api.login('w900', { deviceName: '新手机', password: 'a-long-password' });
    lib.assertEqual(newcomer.account.communities, [community.code], 'the worker holds the community');

    // Revoke a lost device: two clicks, then the device is refused.
    const revoke = page.locator(`#devices-table button.revoke[data-device="${lost.deviceId}"]`);
    await revoke.click();
    await revoke.click();
    await revoke.waitFor({ state: 'detached' });
    const refused = await api.request('GET', '/api/v1/sync/pull', { token: lost.token });
    lib.assertEqual(refused.status, 401, 'the revoked device is refused');
    lib.assertEqual(refused.data.error.code, 'device_revoked', 'as revoked');

    // Keyed-in entry of a paper record: counts as done, not as APP.
    const target = before.communities[2];
    const records = await api.get(admin, `/api/v1/records?community=${target.code}`);
    const person = records.filter((l) => l.status !== 'final')[3];
    const rowBefore = before.communities.find((c) => c.code === target.code);
    await page.selectOption('#keyed-community', target.code);
    await page.waitForFunction(() => document.querySelectorAll('#keyed-person option').length > 0);
    await page.fill('#keyed-search', person.name);
    await page.waitForFunction(
      (id) => [...document.querySelectorAll('#keyed-person option')].some((o) => o.value === id),
      person.person,
    );
    await page.selectOption('#keyed-person', person.person);
    await page.selectOption('#keyed-outcome', 'away');
    await page.fill('#keyed-note', '在长沙务工');
    await page.click('#keyed-form button[type="submit"]');
    await page.waitForFunction(() => document.querySelector('#keyed-status')?.textContent.startsWith('已提交'));
    const after = await api.progress(admin);
    const row = after.communities.find((c) => c.code === target.code);
    lib.assertEqual(row.figures.done, rowBefore.figures.done + 1, 'the keyed-in record is done');
    lib.assertEqual(row.figures.outcomes[5], rowBefore.figures.outcomes[5] + 1, 'as away');
    lib.assertEqual(after.total.via_app, before.total.via_app, 'not counted as APP');
    const line = (await api.get(admin, `/api/v1/records?community=${target.code}`)).find((l) => l.person === person.person);
    lib.assertEqual([line.outcome, line.status, line.updated_by], ['away', 'final', 'admin'], 'final, by the admin');
    noJsErrors(lib, page, 'the admin page');
    await page.evaluate(() => window.scrollTo(0, 0));
    await lib.screenshot(page, 'console-admin', { fullPage: false });
    await page.locator('#keyed').scrollIntoViewIfNeeded();
    await lib.screenshot(page, 'console-admin-keyed-entry', { fullPage: false });
  },
};
