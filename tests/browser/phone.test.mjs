// The worker app walked as a community worker walks it, for the field defects of a phone app:
// only the browser given the app's address may open it; the list is in walking order; a
// certificate number as shown on the card finds its person; fast typing loses no character;
// a reload in the middle of a questionnaire loses nothing; 注销 without a date is refused at the
// item, which comes into view; an approved record cannot be changed.
// Screenshots: artifacts/screenshots/phone-*.png.
import { randomBytes } from 'node:crypto';
import { mkdtemp, rm } from 'node:fs/promises';
import http from 'node:http';
import { tmpdir } from 'node:os';
import path from 'node:path';

const PIN = '246810';

/** Addresses compared as the app orders them (numbers as numbers). */
function walkingOrder(a, b) {
  const runs = (s) => s.match(/\d+|\D+/g) ?? [];
  const ra = runs(a);
  const rb = runs(b);
  for (let i = 0; i < Math.min(ra.length, rb.length); i++) {
    const x = ra[i];
    const y = rb[i];
    const dx = /^\d/.test(x);
    const dy = /^\d/.test(y);
    let c;
    if (dx && dy) {
      const nx = x.replace(/^0+/, '');
      const ny = y.replace(/^0+/, '');
      c = nx.length - ny.length || (nx < ny ? -1 : nx > ny ? 1 : 0);
    } else {
      c = x < y ? -1 : x > y ? 1 : 0;
    }
    if (c !== 0) return c;
  }
  return ra.length - rb.length;
}

/** The status a websocket upgrade of `url` gets (101 when it is accepted). */
function upgradeStatus(url, headers = {}) {
  return new Promise((resolve, reject) => {
    const req = http.request(url, {
      headers: {
        Connection: 'Upgrade',
        Upgrade: 'websocket',
        'Sec-WebSocket-Version': '13',
        'Sec-WebSocket-Key': randomBytes(16).toString('base64'),
        ...headers,
      },
    });
    req.on('upgrade', (res, socket) => {
      socket.destroy();
      resolve(res.statusCode);
    });
    req.on('response', (res) => {
      res.resume();
      resolve(res.statusCode);
    });
    req.on('error', reject);
    req.end();
  });
}

function masked(s) {
  return s.slice(0, 6) + '*'.repeat(s.length - 10) + s.slice(-4);
}

async function openPerson(lib, page, community, person) {
  await page.getByTestId(`community-${community}`).click();
  await page.getByTestId('person-list').waitFor();
  await page.getByTestId('filter-all').click();
  await page.getByTestId('search').fill(person.name);
  await page.getByTestId(`person-${person.id}`).click();
  await page.getByTestId('outcome-home_visit').waitFor();
  lib.assertEqual(await lib.testText(page, 'person-name'), person.name, 'the record opened');
}

export default async function phone(lib, t) {
  const server = await t.server();
  const appDir = await mkdtemp(path.join(tmpdir(), 'doorstep-phone-'));
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
  const mine = pulled.records.filter((r) => r.person.community === community && !r.answers.outcome);
  lib.assert(mine.length >= 4, 'persons not surveyed yet');

  // Only the browser given the printed address (its per-start secret) opens the app.
  const origin = new URL(app.url).origin;
  const bare = await fetch(`${origin}/`);
  lib.assertEqual(bare.status, 403, 'the app without its secret is refused');
  lib.assert((await bare.text()).includes('请用应用启动时显示的地址打开'), 'and says how to open it');
  lib.assertEqual(await upgradeStatus(`${origin}/ws`), 403, 'the websocket without the secret is refused');

  const browser = await t.browser();
  const page = await browser.newPage();
  await page.setViewportSize({ width: 412, height: 915 });
  await page.goto(app.url);
  await page.getByTestId('username').fill('w001');
  await page.getByTestId('password').fill('not-the-password');
  await page.getByTestId('next').click();
  await lib.waitFor(async () => (await page.getByTestId('sign-in-error').count()) > 0, {
    what: 'a wrong password to be said on the account step',
  });
  lib.assertEqual(await page.getByTestId('pin').count(), 0, 'no PIN is asked before the account is checked');
  await page.getByTestId('password').fill(lib.PASSWORD);
  await page.getByTestId('next').click();
  await page.getByTestId('pin').fill(PIN);
  await page.getByTestId('pin2').fill(PIN);
  await page.getByTestId('finish-sign-in').click();
  await page.getByTestId(`community-${community}`).waitFor({ timeout: 30000 });

  // Walking order.
  await page.getByTestId(`community-${community}`).click();
  await page.getByTestId('filter-all').click();
  await page.getByTestId('person-list').waitFor();
  const addresses = await page.locator('.item-row > div.muted').allTextContents();
  lib.assert(addresses.length > 10, 'the community is listed');
  for (let i = 1; i < addresses.length; i++) {
    lib.assert(walkingOrder(addresses[i - 1], addresses[i]) <= 0, `${addresses[i - 1]} before ${addresses[i]}`);
  }
  await lib.screenshot(page, 'phone-1-walking-order', { fullPage: false });

  // A certificate number finds its person: in full, and as the card shows it.
  const [p1, p2] = mine;
  for (const q of [p1.person.certificate, masked(p1.person.certificate)]) {
    await page.getByTestId('search').fill(q);
    await lib.waitFor(async () => (await page.locator('.item-row').count()) === 1, {
      what: `only ${p1.person.name} for ${q}`,
    });
    await page.getByTestId(`person-${p1.person.id}`).waitFor();
  }
  await page.getByTestId('back').click();

  // Fast typing, then a reload in the middle of the questionnaire: nothing is lost.
  await openPerson(lib, page, community, p1.person);
  await page.getByTestId('outcome-home_visit').click();
  await page.getByTestId('questionnaire').waitFor();
  const phoneInput = page.getByTestId('item-phone');
  await phoneInput.fill('');
  await phoneInput.pressSequentially('18247188724', { delay: 0 });
  const note = page.getByTestId('item-household_size');
  await note.fill('');
  await note.pressSequentially('12', { delay: 0 });
  await page.waitForTimeout(1500);
  lib.assertEqual(await phoneInput.inputValue(), '18247188724', 'fast typing loses no character');
  await page.reload();
  await page.getByTestId(`community-${community}`).waitFor({ timeout: 30000 });
  await openPerson(lib, page, community, p1.person);
  await page.getByTestId('questionnaire').waitFor();
  lib.assert((await lib.testText(page, 'notice')).includes('已恢复'), 'the unsaved answers are said to be back');
  lib.assertEqual(await page.getByTestId('outcome-home_visit').getAttribute('aria-pressed'), 'true', 'the outcome is back');
  lib.assertEqual(await page.getByTestId('item-phone').inputValue(), '18247188724', 'the phone typed is back, whole');
  lib.assertEqual(await page.getByTestId('item-household_size').inputValue(), '12', 'the number typed is back');
  await lib.screenshot(page, 'phone-2-restored', { fullPage: false });
  // Back: the list marks the person with unsaved answers.
  await page.getByTestId('back').click();
  await page.getByTestId(`unsaved-${p1.person.id}`).waitFor();
  await page.getByTestId('back').click();

  // 注销 without a date: refused at the item, which is brought into view.
  await openPerson(lib, page, community, p2.person);
  await page.getByTestId('outcome-deregistered').click();
  await page.getByTestId('finalize').click();
  const error = page.getByTestId('error-deregistered_on');
  await error.waitFor();
  lib.assert((await error.textContent()).includes('注销日期'), `the message names the date (${await error.textContent()})`);
  await lib.waitFor(
    async () => {
      const box = await page.locator('#item-deregistered_on').boundingBox();
      return box && box.y >= 0 && box.y < 915;
    },
    { what: 'the failing item to come into view' },
  );
  await lib.screenshot(page, 'phone-3-deregistered-refused', { fullPage: false });
  await page.getByTestId('item-deregistered_on').fill('2021-03-02');
  await page.getByTestId('finalize').click();
  await page.getByTestId('search').waitFor();
  await page.getByTestId('back').click();
  await page.getByTestId('sync').click();
  await lib.untilText(page, 'unsent-count', 0, 'the submitted record is sent');

  // The supervisor approves it: on the phone it can no longer be changed.
  const sup = await api.login('sup01');
  await api.post(sup, `/api/v1/records/${p2.person.id}/review`, { decision: 'approved' });
  const before = await lib.testText(page, 'sync-report');
  await page.getByTestId('sync').click();
  await lib.waitFor(
    async () =>
      !(await page.getByTestId('sync').isDisabled()) && (await lib.testText(page, 'sync-report')) !== before,
    { what: 'the approval to be pulled' },
  );
  await openPerson(lib, page, community, p2.person);
  await page.getByTestId('approved-locked').waitFor();
  lib.assertEqual(await page.getByTestId('finalize').count(), 0, 'no submit on an approved record');
  lib.assert(await page.getByTestId('item-deregistered_on').isDisabled(), 'the answers are read only');
  lib.assert(await page.getByTestId('outcome-away').isDisabled(), 'the outcome cannot be changed');
  await lib.screenshot(page, 'phone-4-approved', { fullPage: false });
}
