// A shopper opens the chat while the gateway restarts over a journal that takes a while to
// replay: the page says Lantern is starting (503, not a connection error), and turns into the
// chat by itself once the gateway is ready, with no reload by the shopper.
import { test, before, after } from 'node:test';
import assert from 'node:assert/strict';
import { spawn, execFileSync } from 'node:child_process';
import { mkdtempSync, rmSync } from 'node:fs';
import { createServer } from 'node:net';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { LANTERN, launchBrowser, screenshots, checkAccessibility, STEP_TIMEOUT_MS } from './harness.mjs';

/** Orders in the journal: a replay of a second or more in a debug build. */
const JOURNAL_ORDERS = 100_000;

let browser;
let dir;
let child;
let stderr = '';

/** A loopback port free now (the gateway's address has to be known before it is ready). */
async function freePort() {
  const server = createServer();
  await new Promise((resolve) => server.listen(0, '127.0.0.1', resolve));
  const { port } = server.address();
  await new Promise((resolve) => server.close(resolve));
  return port;
}

before(async () => {
  dir = mkdtempSync(path.join(tmpdir(), 'lantern-starting-'));
  const { LANTERN_BIN: _bin, ...inherited } = process.env;
  execFileSync(LANTERN, ['loadgen', '--workers', '64', '--max-orders', String(JOURNAL_ORDERS), '--create', '--data', path.join(dir, 'data')], { env: inherited, stdio: 'ignore' });
  browser = await launchBrowser();
});

after(async () => {
  await browser?.close();
  if (child && child.exitCode === null) {
    child.kill('SIGTERM');
    await new Promise((resolve) => child.on('exit', resolve));
  }
  if (dir) rmSync(dir, { recursive: true, force: true });
  assert.ok(!/panicked at/.test(stderr), `lantern serve panicked:\n${stderr}`);
});

test('the chat page waits for a starting gateway and opens by itself when it is ready', async () => {
  const context = await browser.newContext({ viewport: { width: 390, height: 844 }, locale: 'en-US' });
  const page = await context.newPage();
  const problems = [];
  page.on('pageerror', (error) => problems.push(`page error: ${error.message}`));
  page.on('console', (message) => {
    // The page's own polls of /readyz answer 503 until the gateway is ready, and the chat's
    // calls may answer 4xx (as the harness allows): both expected.
    if (message.type() === 'error' && !/status of (503|4\d\d)/.test(message.text())) problems.push(message.text());
  });

  const port = await freePort();
  const url = `http://127.0.0.1:${port}/`;
  const { LANTERN_BIN: _bin, ...inherited } = process.env;
  child = spawn(LANTERN, ['serve', '--data', path.join(dir, 'data'), '--listen', `127.0.0.1:${port}`], {
    env: { ...inherited, LANTERN_LOG: process.env.LANTERN_LOG || 'warn' },
    stdio: ['ignore', 'ignore', 'pipe'],
  });
  child.stderr.on('data', (chunk) => { stderr = (stderr + chunk).slice(-20_000); });

  // The first answer: as soon as the port takes connections, before the journal is replayed.
  let first;
  const deadline = Date.now() + STEP_TIMEOUT_MS;
  while (!first) {
    try {
      first = await page.goto(url);
    } catch (error) {
      assert.ok(Date.now() < deadline, `the port never answered: ${error.message}\n${stderr}`);
      await new Promise((resolve) => setTimeout(resolve, 20));
    }
  }
  assert.equal(first.status(), 503, 'the first answer is the starting page, not the chat');
  await page.getByRole('heading', { name: /Lantern is starting/ }).waitFor({ timeout: STEP_TIMEOUT_MS });
  await checkAccessibility(page, ['#connection']);
  await screenshots(page, 'starting');

  // No reload by the shopper: the page opens the chat itself once /readyz says ready.
  await page.locator('#message').waitFor({ timeout: 120_000 });
  await page.getByRole('heading', { name: 'Chat', exact: true }).waitFor({ timeout: STEP_TIMEOUT_MS });
  assert.deepEqual(problems, [], 'no script errors on the page');
  await context.close();
});
