// The needs and services analysis page in Chromium: a supervisor (their street) and the admin
// (the district) open it, filter, and export an action list whose XLSX equals the API's list.
// Screenshots: artifacts/screenshots/analysis-*.png.
import { readFile } from 'node:fs/promises';

import ExcelJS from 'exceljs';

/** Pushes complete surveys for the first `n` persons of a worker's communities. */
async function survey(lib, api, username, n) {
  const worker = await api.login(username, { deviceName: `${username} 的手机` });
  await api.pull(worker);
  const mix = ['home_visit', 'home_visit', 'home_visit', 'phone', 'home_visit', 'away'];
  const records = [...worker.records.values()].filter((r) => r.answers.status !== 'final').slice(0, n);
  const form = await api.get(worker, `/api/v1/forms/${worker.campaign.form_version}`);
  const mutations = records.map((r, i) =>
    lib.edit(r, lib.complete(form, worker.campaign, r.person, mix[i % mix.length]), Date.now() - 1000 * (n - i)),
  );
  const res = await api.push(worker, mutations);
  for (const r of res.results) lib.assertEqual(r.status, 'applied', 'a survey push is applied');
}

/** The rows of a downloaded action-list workbook, as text cells. */
async function sheetRows(download) {
  const wb = new ExcelJS.Workbook();
  await wb.xlsx.load(await readFile(await download.path()));
  const ws = wb.worksheets[0];
  const rows = [];
  ws.eachRow((row) => {
    const cells = [];
    for (let c = 1; c <= 12; c++) {
      const v = row.getCell(c).value;
      cells.push(v === null || v === undefined ? '' : String(v));
    }
    rows.push(cells);
  });
  return rows;
}

const COLUMNS = [
  'community',
  'community_name',
  'name',
  'resident_id',
  'certificate',
  'category',
  'level',
  'sex',
  'age',
  'phone',
  'address',
  'detail',
];

function noJsErrors(lib, page, where) {
  const errors = page.jsErrors.filter((e) => !e.startsWith('Failed to load resource'));
  lib.assertEqual(errors, [], `no script errors on ${where}`);
}

/** Every item table on the page: its options add up to the records it applies to. */
async function checkItemTables(lib, page, analysis) {
  const tables = await page.$$eval('table.item-table', (ts) =>
    ts.map((t) => ({
      item: t.dataset.item,
      options: [...t.querySelectorAll('tbody tr[data-option] td[data-k="n"]')].map((td) => Number(td.textContent)),
    })),
  );
  lib.assertEqual(tables.length, analysis.items.length, 'one table per item');
  for (const t of tables) {
    const item = analysis.items.find((i) => i.key === t.item);
    lib.assertEqual(t.options, item.options.map((o) => o.n), `${t.item}: the page shows the API's counts`);
    const sum = t.options.reduce((a, b) => a + b, 0);
    if (item.kind === 'multi') lib.assert(sum >= item.applies, `${t.item}: a multi item covers its records`);
    else lib.assertEqual(sum, item.applies, `${t.item}: the options add up to the records it applies to`);
  }
}

export const tests = {
  async 'a supervisor and the admin filter the analysis and export an action list'(lib, t) {
    const server = await t.server();
    const api = new lib.Api(server.url);
    for (const w of ['w001', 'w002', 'w004']) await survey(lib, api, w, 60);
    const sup = await api.login('sup01');
    const admin = await api.login('admin');

    // The supervisor: their street, by community.
    const browser = await t.browser();
    const page = await browser.newPage();
    await lib.signIn(page, server.url, 'sup01');
    await page.click('nav.main a[href="/console/analysis"]');
    await page.waitForURL((u) => u.pathname === '/console/analysis');
    let analysis = await api.get(sup, '/api/v1/analysis');
    lib.assert(analysis.records > 0, 'records were surveyed in the street');
    lib.assertEqual(Number(await page.locator('#records').textContent()), analysis.records, 'records on the page');
    await checkItemTables(lib, page, analysis);
    // The chart and the table under it: one row per community of the street.
    await page.waitForFunction(() => window.Chart && document.querySelector('#chart-actions').width > 0);
    lib.assertEqual(await page.locator('#chart-table tbody tr').count(), analysis.places.length, 'chart table rows');
    await lib.screenshot(page, 'analysis-supervisor');

    // Filter: severe level 1.
    await page.selectOption('#f-level', '1');
    await Promise.all([page.waitForURL((u) => u.searchParams.get('level') === '1'), page.click('#f-apply')]);
    const filtered = await api.get(sup, '/api/v1/analysis?level=1');
    lib.assertEqual(Number(await page.locator('#records').textContent()), filtered.records, 'filtered records');
    lib.assert(filtered.records < analysis.records, 'the filter narrows');

    // Export the device list of the filtered view: the XLSX equals the API's list, IDs masked.
    const [download] = await Promise.all([
      page.waitForEvent('download'),
      page.click('tr[data-list="device"] a.export'),
    ]);
    lib.assertEqual(download.suggestedFilename(), 'analysis-device.xlsx', 'file name');
    const rows = await sheetRows(download);
    const list = await api.get(sup, '/api/v1/analysis/actions/device?level=1');
    lib.assertEqual(rows[0][0], '社区代码', 'header');
    lib.assertEqual(
      rows.slice(1),
      list.rows.map((r) => COLUMNS.map((c) => String(r[c]))),
      'the export equals the API list',
    );
    lib.assert(list.rows.every((r) => r.resident_id.includes('********')), 'a supervisor gets masked IDs');
    const n = Number(await page.locator('tr[data-list="device"] td[data-k="n"]').textContent());
    lib.assertEqual(n, list.rows.length, 'the count on the page is the list');
    noJsErrors(lib, page, 'the supervisor analysis page');

    // The admin: the district, by street; then one street, and the nursing-subsidy list.
    const b2 = await t.browser();
    const ap = await b2.newPage();
    await lib.signIn(ap, server.url, 'admin');
    await ap.goto(`${server.url}/console/analysis`);
    analysis = await api.get(admin, '/api/v1/analysis');
    lib.assertEqual(Number(await ap.locator('#records').textContent()), analysis.records, 'district records');
    await checkItemTables(lib, ap, analysis);
    const street = analysis.places[0].key;
    await ap.selectOption('#f-place', street);
    await ap.selectOption('#f-sex', 'female');
    await Promise.all([ap.waitForURL((u) => u.searchParams.get('place') === street), ap.click('#f-apply')]);
    const one = await api.get(admin, `/api/v1/analysis?place=${street}&sex=female`);
    lib.assertEqual(Number(await ap.locator('#records').textContent()), one.records, 'one street, women');
    await lib.screenshot(ap, 'analysis-admin');
    const [d2] = await Promise.all([
      ap.waitForEvent('download'),
      ap.click('tr[data-list="nursing_subsidy"] a.export'),
    ]);
    const rows2 = await sheetRows(d2);
    const list2 = await api.get(admin, `/api/v1/analysis/actions/nursing_subsidy?place=${street}&sex=female`);
    lib.assertEqual(rows2.slice(1), list2.rows.map((r) => COLUMNS.map((c) => String(r[c]))), 'admin export equals API');
    lib.assert(list2.rows.every((r) => !r.resident_id.includes('*')), 'the admin gets full IDs');
    noJsErrors(lib, ap, 'the admin analysis page');
  },
};
