// Shared helpers of the browser tests: a Doorstep server on a fresh demo database, Chromium
// (Debian's, driven by playwright-core; no browser is downloaded), API calls from node, and
// screenshots under artifacts/screenshots/.
import { spawn } from 'node:child_process';
import { randomBytes } from 'node:crypto';
import { existsSync } from 'node:fs';
import { mkdir, mkdtemp, rm } from 'node:fs/promises';
import net from 'node:net';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { fileURLToPath } from 'node:url';

import { chromium } from 'playwright-core';

export const ROOT = path.resolve(path.dirname(fileURLToPath(import.meta.url)), '..', '..');
export const SCREENSHOTS = path.join(ROOT, 'artifacts', 'screenshots');
export const PASSWORD = 'doorstep2021';
export const CHROMIUM = process.env.CHROMIUM || '/usr/bin/chromium';

export function serverBinary() {
  const dir = process.env.CARGO_TARGET_DIR || path.join(ROOT, 'target');
  for (const profile of ['debug', 'release']) {
    const p = path.join(dir, profile, 'doorstep-server');
    if (existsSync(p)) return p;
  }
  throw new Error('no doorstep-server binary: run `cargo build -p doorstep-server` first');
}

export const sleep = (ms) => new Promise((r) => setTimeout(r, ms));

export function assert(cond, message) {
  if (!cond) throw new Error(`assertion failed: ${message}`);
}

export function assertEqual(actual, expected, message) {
  const a = JSON.stringify(actual);
  const e = JSON.stringify(expected);
  if (a !== e) throw new Error(`${message}: expected ${e}, got ${a}`);
}

/** Polls `fn` until it returns a truthy value (returned) or the time is up (throws). */
export async function waitFor(fn, { timeout = 10000, interval = 100, what = 'condition' } = {}) {
  const until = Date.now() + timeout;
  let last;
  for (;;) {
    try {
      const v = await fn();
      if (v) return v;
    } catch (e) {
      last = e;
    }
    if (Date.now() > until) {
      throw new Error(`timed out waiting for ${what}${last ? `: ${last.message}` : ''}`);
    }
    await sleep(interval);
  }
}

export async function freePort() {
  return new Promise((resolve, reject) => {
    const srv = net.createServer();
    srv.unref();
    srv.on('error', reject);
    srv.listen(0, '127.0.0.1', () => {
      const { port } = srv.address();
      srv.close(() => resolve(port));
    });
  });
}

/** A UUIDv7, as devices make mutation IDs. */
export function uuidv7() {
  const b = randomBytes(16);
  let t = Date.now();
  for (let i = 5; i >= 0; i--) {
    b[i] = t % 256;
    t = Math.floor(t / 256);
  }
  b[6] = (b[6] & 0x0f) | 0x70;
  b[8] = (b[8] & 0x3f) | 0x80;
  const h = b.toString('hex');
  return `${h.slice(0, 8)}-${h.slice(8, 12)}-${h.slice(12, 16)}-${h.slice(16, 20)}-${h.slice(20)}`;
}

/**
 * Starts `doorstep-server --data-dir TMP demo --bind 127.0.0.1:PORT` and waits for /healthz.
 * Returns { url, port, dir, output(), stop() }.
 */
export async function startServer({ seed } = {}) {
  const dir = await mkdtemp(path.join(tmpdir(), 'doorstep-browser-'));
  const port = await freePort();
  const args = ['--data-dir', dir, 'demo', '--bind', `127.0.0.1:${port}`];
  if (seed !== undefined) args.push('--seed', String(seed));
  const proc = spawn(serverBinary(), args, {
    stdio: ['ignore', 'pipe', 'pipe'],
    env: { ...process.env, RUST_LOG: process.env.RUST_LOG || 'doorstep_server=warn' },
  });
  let out = '';
  proc.stdout.on('data', (d) => {
    out += d;
  });
  proc.stderr.on('data', (d) => {
    out += d;
  });
  let exited = null;
  proc.on('exit', (code, signal) => {
    exited = { code, signal };
  });
  const url = `http://127.0.0.1:${port}`;
  await waitFor(
    async () => {
      if (exited) throw new Error(`the server exited (${JSON.stringify(exited)}):\n${out}`);
      const r = await fetch(`${url}/healthz`);
      return r.ok;
    },
    { timeout: 60000, interval: 200, what: 'the server to answer /healthz' },
  );
  return {
    url,
    port,
    dir,
    output: () => out,
    async stop() {
      if (!exited) {
        proc.kill('SIGTERM');
        await waitFor(() => exited, { timeout: 5000, what: 'the server to stop' }).catch(() =>
          proc.kill('SIGKILL'),
        );
      }
      await rm(dir, { recursive: true, force: true });
    },
  };
}

/** Chromium with a throwaway profile. Returns { context, newPage(opts), close() }. */
export async function launchBrowser() {
  const profile = await mkdtemp(path.join(tmpdir(), 'doorstep-chromium-'));
  const context = await chromium.launchPersistentContext(profile, {
    executablePath: CHROMIUM,
    args: [
      '--headless',
      '--no-sandbox',
      '--disable-gpu',
      '--disable-background-networking',
      '--disable-component-update',
      '--disable-sync',
    ],
    viewport: { width: 1366, height: 900 },
    locale: 'zh-CN',
    timezoneId: 'Asia/Shanghai',
    acceptDownloads: true,
  });
  context.setDefaultTimeout(15000);
  return {
    context,
    async newPage() {
      const page = await context.newPage();
      const errors = [];
      page.on('pageerror', (e) => errors.push(e.message));
      page.on('console', (m) => {
        if (m.type() === 'error') errors.push(m.text());
      });
      page.jsErrors = errors;
      return page;
    },
    async close() {
      await context.close().catch(() => {});
      await rm(profile, { recursive: true, force: true });
    },
  };
}

/** Saves a screenshot (the full page unless `fullPage: false`) as artifacts/screenshots/NAME.png. */
export async function screenshot(page, name, { fullPage = true } = {}) {
  await mkdir(SCREENSHOTS, { recursive: true });
  const file = path.join(SCREENSHOTS, `${name}.png`);
  await page.screenshot({ path: file, fullPage });
  return file;
}

/** The JSON API from node, as a device or a console user. */
export class Api {
  constructor(url) {
    this.url = url;
  }

  async request(method, p, { token, json, body, headers = {} } = {}) {
    const h = { ...headers };
    if (token) h.Authorization = `Bearer ${token}`;
    let payload = body;
    if (json !== undefined) {
      h['Content-Type'] = 'application/json';
      payload = JSON.stringify(json);
    }
    const r = await fetch(`${this.url}${p}`, { method, headers: h, body: payload });
    const text = await r.text();
    let data = text;
    try {
      data = text ? JSON.parse(text) : null;
    } catch {
      // not JSON
    }
    return { status: r.status, data, headers: r.headers };
  }

  async ok(method, p, opts) {
    const r = await this.request(method, p, opts);
    if (r.status < 200 || r.status >= 300) {
      throw new Error(`${method} ${p} → ${r.status}: ${JSON.stringify(r.data)}`);
    }
    return r.data;
  }

  /** Signs in; with a device name it is the app on a phone (its outcomes count as APP). */
  async login(username, { deviceName, deviceId, password = PASSWORD } = {}) {
    const data = await this.ok('POST', '/api/v1/auth/login', {
      json: { username, password, device_name: deviceName ?? null, device_id: deviceId ?? null },
    });
    return { token: data.token, deviceId: data.device_id, account: data.account, cursor: 0, records: new Map() };
  }

  get(session, p) {
    return this.ok('GET', p, { token: session.token });
  }

  post(session, p, json) {
    return this.ok('POST', p, { token: session.token, json });
  }

  /** Pulls every page from the session's cursor into session.records; returns the records changed. */
  async pull(session) {
    const changed = [];
    for (;;) {
      const page = await this.get(session, `/api/v1/sync/pull?cursor=${session.cursor}&limit=500`);
      session.campaign = page.campaign;
      for (const r of page.records) {
        session.records.set(r.person.id, r);
        changed.push(r);
      }
      session.cursor = page.cursor;
      if (!page.more) return changed;
    }
  }

  async push(session, mutations) {
    return this.post(session, '/api/v1/sync/push', { protocol: 1, mutations });
  }

  progress(session) {
    return this.get(session, '/api/v1/progress');
  }
}

/** A mutation of a record as a device holds it: `items` maps item keys to new values. */
export function edit(record, items, wall = Date.now()) {
  const changes = {};
  for (const [k, v] of Object.entries(items)) {
    const c = { value: v };
    if (record.answers[k] !== undefined) c.base = record.answers[k];
    changes[k] = c;
  }
  return {
    id: uuidv7(),
    person: record.person.id,
    base_version: record.version,
    hlc: { wall, counter: 0 },
    changes,
  };
}

/** Signs in through the console's form. */
export async function signIn(page, url, username, password = PASSWORD) {
  await page.goto(`${url}/console/login`);
  await page.fill('input[name="username"]', username);
  await page.fill('input[name="password"]', password);
  await Promise.all([page.waitForURL((u) => !u.pathname.startsWith('/console/login')), page.click('button[type="submit"]')]);
}

/**
 * A test's resources, released by the runner when the test ends:
 * `await t.server()`, `await t.browser()`, `t.defer(fn)`.
 */
export function context(name) {
  const cleanups = [];
  return {
    name,
    defer(fn) {
      cleanups.push(fn);
    },
    async server(opts) {
      const s = await startServer(opts);
      cleanups.push(() => s.stop());
      return s;
    },
    async browser() {
      const b = await launchBrowser();
      cleanups.push(() => b.close());
      return b;
    },
    async cleanup() {
      for (const fn of cleanups.reverse()) {
        try {
          await fn();
        } catch (e) {
          console.warn(`cleanup of ${name}: ${e.message}`);
        }
      }
    },
  };
}

// --- Complete records, as the server requires for a final one (shared/src/form.rs) ---

function ageOn(residentId, onIso) {
  const b = residentId.slice(6, 14);
  const [y, m, d] = [Number(b.slice(0, 4)), Number(b.slice(4, 6)), Number(b.slice(6, 8))];
  const [oy, om, od] = onIso.split('-').map(Number);
  let age = oy - y;
  if (om < m || (om === m && od < d)) age -= 1;
  return Math.max(age, 0);
}

function holds(cond, answers, ctx) {
  const [[kind, arg]] = Object.entries(cond);
  switch (kind) {
    case 'outcome_in':
      return arg.includes(answers.outcome);
    case 'age_between':
      return ctx.age >= arg[0] && ctx.age <= arg[1];
    case 'category_in':
      return arg.includes(ctx.category);
    case 'level_at_most':
      return ctx.level <= arg;
    case 'equals':
      return JSON.stringify(answers[arg.item]) === JSON.stringify(arg.value);
    case 'contains':
      return Array.isArray(answers[arg.item]) && answers[arg.item].includes(arg.option);
    case 'answered':
      return answers[arg] !== undefined && answers[arg] !== '';
    case 'all':
      return arg.every((c) => holds(c, answers, ctx));
    case 'any':
      return arg.some((c) => holds(c, answers, ctx));
    case 'not':
      return !holds(arg, answers, ctx);
    default:
      throw new Error(`unknown condition ${kind}`);
  }
}

/** What relevance rules read of a person: age on the campaign's start, category, level. */
export function personContext(person, campaign) {
  const cert = String(person.certificate);
  return {
    age: ageOn(person.resident_id, campaign.starts),
    category: Number(cert[18]),
    level: Number(cert[19]),
  };
}

function answerFor(item, person) {
  switch (item.kind.type) {
    case 'single':
      return item.options[0].key;
    case 'multi':
      return [item.options[0].key];
    case 'yes_no':
      return false;
    case 'integer':
      return Math.max(item.kind.min ?? 3, Math.min(3, item.kind.max ?? 3));
    case 'date':
      return '2021-03-02';
    case 'phone':
      return person.phone || '13800138000';
    case 'text':
      return '已核实';
    default:
      return null;
  }
}

/**
 * The answers of a complete, final record with `outcome`: every item the outcome makes relevant
 * (the questionnaire for a home visit or a phone survey; the note or the date a non-survey outcome
 * needs), as a worker's phone would send them.
 */
export function complete(form, campaign, person, outcome) {
  const ctx = personContext(person, campaign);
  const answers = { outcome };
  for (let round = 0; round < 5; round++) {
    let added = false;
    for (const section of form.sections) {
      if (section.relevant && !holds(section.relevant, answers, ctx)) continue;
      for (const item of section.items) {
        if (item.key === 'outcome' || item.kind.type === 'geo') continue;
        if (item.relevant && !holds(item.relevant, answers, ctx)) continue;
        if (answers[item.key] !== undefined) continue;
        const v = answerFor(item, person);
        if (v === null) continue;
        answers[item.key] = v;
        added = true;
      }
    }
    if (!added) break;
  }
  for (const section of form.sections) {
    for (const item of section.items) {
      if (item.key === 'outcome' || answers[item.key] === undefined) continue;
      const on =
        (!section.relevant || holds(section.relevant, answers, ctx)) &&
        (!item.relevant || holds(item.relevant, answers, ctx));
      if (!on) delete answers[item.key];
    }
  }
  return { ...answers, status: 'final' };
}

// ---- the worker app process ----

/** The worker app binary (`doorstep`, the default liveview build). */
export function appBinary() {
  const dir = process.env.CARGO_TARGET_DIR || path.join(ROOT, 'target');
  for (const profile of ['debug', 'release']) {
    const p = path.join(dir, profile, 'doorstep');
    if (existsSync(p)) return p;
  }
  throw new Error('no doorstep binary: run `cargo build -p doorstep-app` first');
}

/** Starts a process that prints `listening on http://ADDR`; resolves with { proc, url, output }. */
export function startListening(bin, args, what) {
  return new Promise((resolve, reject) => {
    const proc = spawn(bin, args, {
      stdio: ['ignore', 'pipe', 'pipe'],
      env: { ...process.env, RUST_LOG: process.env.RUST_LOG || 'warn' },
    });
    let out = '';
    let settled = false;
    const timer = setTimeout(() => {
      if (!settled) {
        settled = true;
        proc.kill('SIGKILL');
        reject(new Error(`${what} did not start:\n${out}`));
      }
    }, 120000);
    proc.stdout.on('data', (d) => {
      out += d;
      const m = out.match(/listening on (http:\/\/[^\s]+)/);
      if (m && !settled) {
        settled = true;
        clearTimeout(timer);
        resolve({ proc, url: m[1], output: () => out });
      }
    });
    proc.stderr.on('data', (d) => {
      out += d;
    });
    proc.on('exit', (code, signal) => {
      if (!settled) {
        settled = true;
        clearTimeout(timer);
        reject(new Error(`${what} exited (${code ?? signal}):\n${out}`));
      }
    });
  });
}

/** Stops a process started by startListening (SIGTERM, then SIGKILL). */
export async function stopProcess(p) {
  if (!p || p.proc.exitCode !== null || p.proc.signalCode !== null) return;
  p.proc.kill('SIGTERM');
  await waitFor(() => p.proc.exitCode !== null || p.proc.signalCode !== null, { timeout: 10000, what: 'a process to stop' })
    .catch(() => p.proc.kill('SIGKILL'));
}

/** The trimmed text of the first element with this test id. */
export async function testText(page, id) {
  return ((await page.getByTestId(id).first().textContent()) ?? '').trim();
}

/** Waits until the element with this test id shows exactly `want`. */
export async function untilText(page, id, want, what) {
  await waitFor(async () => (await testText(page, id)) === String(want), {
    timeout: 20000,
    what: `${what} (${id} = ${want}, now ${await testText(page, id).catch(() => '?')})`,
  });
}
