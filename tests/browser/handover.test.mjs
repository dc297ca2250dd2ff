// The hand-over to the national system in Chromium: a supervisor marks records keyed on a
// community's hand-over page, the overview's figures count them, the printable checklist has a
// sheet per person. Screenshots: artifacts/screenshots/handover-*.png.

async function text(page, selector) {
  return (await page.locator(selector).first().textContent()).trim();
}

export default async function (lib, t) {
  const server = await t.server();
  const api = new lib.Api(server.url);
  const sup = await api.login('sup01');
  const prog = await api.progress(sup);
  const codes = new Set(prog.communities.map((c) => c.code));
  let worker;
  let code;
  for (let i = 1; i <= 60 && !code; i++) {
    const w = await api.login(`w${String(i).padStart(3, '0')}`, { deviceName: `w${i} 的手机` });
    code = w.account.communities.find((c) => codes.has(c));
    worker = w;
  }
  lib.assert(code, "a worker has a community in the supervisor's street");
  // Three persons surveyed at home.
  await api.pull(worker);
  const form = await api.get(worker, `/api/v1/forms/${worker.campaign.form_version}`);
  const records = [...worker.records.values()].filter((r) => r.person.community === code);
  const surveyed = records.slice(0, 3);
  const res = await api.push(
    worker,
    surveyed.map((r) => lib.edit(r, lib.complete(form, worker.campaign, r.person, 'home_visit'))),
  );
  for (const r of res.results) lib.assertEqual(r.status, 'applied', 'a survey push is applied');

  const browser = await t.browser();
  const page = await browser.newPage();
  await lib.signIn(page, server.url, 'sup01');
  await page.goto(`${server.url}/console/handover?area=${code}`);
  lib.assertEqual(await text(page, '#keyed-count'), '0', 'nothing keyed yet');
  const row = `#handover-persons tr[data-person="${surveyed[0].person.id}"]`;
  await page.click(`${row} button[data-keyed="true"]`);
  await page.waitForFunction(
    (sel) => document.querySelector(`${sel} td.keyed`)?.textContent.includes('已录入'),
    row,
  );
  lib.assert((await text(page, `${row} td.keyed`)).includes('sup01'), 'who keyed it is shown');
  lib.assertEqual(await text(page, '#keyed-count'), '1', 'the count moved');
  // A person not surveyed cannot be marked.
  const notYet = records[records.length - 1];
  lib.assert(
    await page.locator(`#handover-persons tr[data-person="${notYet.person.id}"] button`).isDisabled(),
    'a record without a final outcome cannot be marked keyed',
  );
  await lib.screenshot(page, 'handover-community');

  // The overview counts the mark.
  await page.goto(`${server.url}/console`);
  lib.assertEqual(await text(page, `#communities tr[data-code="${code}"] [data-k="keyed"]`), '1', 'the community row');
  lib.assertEqual(await text(page, '[data-total="keyed"]'), '1', 'the total card');

  // The printable checklist: a sheet per person of the community.
  const sheet = await browser.newPage();
  await sheet.goto(`${server.url}/console/handover/checklist?area=${code}`);
  lib.assertEqual(await sheet.locator('section.sheet').count(), records.length, 'a sheet per person');
  lib.assertEqual(
    await sheet.locator('section.sheet td').first().evaluate((el) => getComputedStyle(el).borderTopStyle),
    'solid',
    'the print style sheet applies (the console\'s CSP allows no inline style)',
  );
  await lib.screenshot(sheet, 'handover-checklist', { fullPage: false });

  // Unmarking takes the mark back.
  await page.goto(`${server.url}/console/handover?area=${code}`);
  await page.click(`${row} button[data-keyed="false"]`);
  await page.waitForFunction(() => document.querySelector('#keyed-count')?.textContent.trim() === '0');
  const errors = page.jsErrors.filter((e) => !e.startsWith('Failed to load resource'));
  lib.assertEqual(errors, [], 'no script errors');
}
