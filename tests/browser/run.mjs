// Runs every tests/browser/*.test.mjs and prints pass/fail per test; exits non-zero on a failure.
//
// A test file exports either `default async function (lib, t)` (one test named after the file)
// or `tests = { 'name': async (lib, t) => … }` (several). `lib` is ./lib.mjs; `t` holds the
// test's resources (`await t.server()`, `await t.browser()`, `t.defer(fn)`), released after it.
//
// Usage: node tests/browser/run.mjs [filter…]   (a filter matches file or test names)
// Build first: cargo build -p doorstep-server -p doorstep-app
import { readdir } from 'node:fs/promises';
import path from 'node:path';
import { fileURLToPath, pathToFileURL } from 'node:url';

import * as lib from './lib.mjs';

const here = path.dirname(fileURLToPath(import.meta.url));
const filters = process.argv.slice(2);
const TEST_TIMEOUT_MS = Number(process.env.BROWSER_TEST_TIMEOUT_MS || 240000);

function withTimeout(promise, ms, what) {
  let timer;
  const timeout = new Promise((_, reject) => {
    timer = setTimeout(() => reject(new Error(`${what} timed out after ${ms / 1000} s`)), ms);
  });
  return Promise.race([promise, timeout]).finally(() => clearTimeout(timer));
}

const files = (await readdir(here)).filter((f) => f.endsWith('.test.mjs')).sort();
const results = [];
for (const file of files) {
  const mod = await import(pathToFileURL(path.join(here, file)).href);
  const base = file.replace(/\.test\.mjs$/, '');
  const tests = mod.tests
    ? Object.entries(mod.tests).map(([name, fn]) => [`${base}: ${name}`, fn])
    : typeof mod.default === 'function'
      ? [[base, mod.default]]
      : [];
  for (const [name, fn] of tests) {
    if (filters.length && !filters.some((f) => name.includes(f))) continue;
    const t = lib.context(name);
    const started = Date.now();
    process.stdout.write(`… ${name}\n`);
    try {
      await withTimeout(Promise.resolve().then(() => fn(lib, t)), TEST_TIMEOUT_MS, name);
      results.push({ name, ok: true, ms: Date.now() - started });
      process.stdout.write(`✔ PASS ${name} (${((Date.now() - started) / 1000).toFixed(1)} s)\n`);
    } catch (e) {
      results.push({ name, ok: false, ms: Date.now() - started, error: e });
      process.stdout.write(`✘ FAIL ${name}\n    ${(e && e.stack) || e}\n`);
    } finally {
      await t.cleanup();
    }
  }
}

const failed = results.filter((r) => !r.ok);
console.log(`\n${results.length - failed.length} passed, ${failed.length} failed`);
for (const f of failed) console.log(`  failed: ${f.name}`);
if (results.length === 0) {
  console.log('no tests matched');
  process.exit(1);
}
process.exit(failed.length ? 1 : 0);
