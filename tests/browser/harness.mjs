// What the browser tests share: a real `lantern serve --demo` on a free loopback port over a
// temporary data directory, Debian's chromium driven by playwright-core, screenshots at phone and
// desktop sizes, and the accessibility checks (labels, keyboard, contrast).
import { spawn, execFileSync } from 'node:child_process';
import { mkdtempSync, rmSync, mkdirSync, existsSync } from 'node:fs';
import { tmpdir } from 'node:os';
import path from 'node:path';
import assert from 'node:assert/strict';
import { chromium } from 'playwright-core';

export const LANTERN = process.env.LANTERN_BIN || path.resolve('../../target/debug/lantern');
export const CHROMIUM = process.env.CHROMIUM_BIN || '/usr/bin/chromium';
export const ARTIFACTS = process.env.BROWSER_ARTIFACTS || path.resolve('../../target/browser-artifacts');
/** How long a page may take to show what a step expects (a debug build on two shared cores). */
export const STEP_TIMEOUT_MS = 20_000;
export const PHONE = { width: 390, height: 844 };
export const DESKTOP = { width: 1280, height: 800 };

/** Starts a gateway; `env` adds `LANTERN_<SECTION>__<KEY>` overrides. */
export async function startGateway(env = {}) {
  assert.ok(existsSync(LANTERN), `the lantern binary is missing at ${LANTERN}: build it (cargo build -p lantern) or set LANTERN_BIN`);
  const data = mkdtempSync(path.join(tmpdir(), 'lantern-browser-'));
  // LANTERN_BIN names the binary for this harness; lantern would read it as a setting.
  const { LANTERN_BIN: _bin, ...inherited } = process.env;
  const child = spawn(LANTERN, ['serve', '--demo', '--data', path.join(data, 'data'), '--listen', '127.0.0.1:0'], {
    env: { ...inherited, LANTERN_LOG: process.env.LANTERN_LOG || 'warn', ...env },
    stdio: ['ignore', 'pipe', 'pipe'],
  });
  let stderr = '';
  child.stderr.on('data', (chunk) => { stderr = (stderr + chunk).slice(-20_000); });
  const url = await new Promise((resolve, reject) => {
    let stdout = '';
    const timer = setTimeout(() => reject(new Error(`lantern serve did not start within 60 s:\n${stderr}`)), 60_000);
    child.stdout.on('data', (chunk) => {
      stdout += chunk;
      const match = stdout.match(/lantern listening on (http:\/\/[^\s]+)/);
      if (match) { clearTimeout(timer); resolve(match[1]); }
    });
    child.on('exit', (code) => { clearTimeout(timer); reject(new Error(`lantern serve exited (${code}):\n${stderr}`)); });
  });
  return {
    url,
    data: path.join(data, 'data'),
    token(...role) {
      return execFileSync(LANTERN, ['token', ...role, '--data', path.join(data, 'data'), '--ttl-s', '3600'], { env: inherited }).toString().trim();
    },
    async stop() {
      child.kill('SIGTERM');
      await new Promise((resolve) => { if (child.exitCode !== null) resolve(); else child.on('exit', resolve); });
      rmSync(data, { recursive: true, force: true });
      assert.ok(!/panicked at/.test(stderr), `lantern serve panicked:\n${stderr}`);
    },
    stderr: () => stderr,
  };
}

export async function launchBrowser() {
  assert.ok(existsSync(CHROMIUM), `chromium is missing at ${CHROMIUM}: scripts/browser.sh installs Debian's chromium (apt-get install -y chromium)`);
  mkdirSync(ARTIFACTS, { recursive: true });
  // playwright gives every launch a fresh, empty --user-data-dir of its own.
  return chromium.launch({
    executablePath: CHROMIUM,
    headless: true,
    args: ['--no-sandbox', '--disable-gpu', '--disable-quic', '--no-first-run', '--disable-background-networking', '--disable-component-update', '--disable-sync'],
  });
}

/** A fresh context (its own localStorage: a new guest shopper) and page at phone size. */
export async function openPage(browser, url) {
  const context = await browser.newContext({ viewport: PHONE, locale: 'en-US' });
  const page = await context.newPage();
  const problems = [];
  page.on('pageerror', (error) => problems.push(`page error: ${error.message}`));
  page.on('console', (message) => { if (message.type() === 'error') problems.push(`console error: ${message.text()}`); });
  page.problems = problems;
  await page.goto(url);
  return page;
}

/** Saves `name-phone.png` and `name-desktop.png`, then goes back to phone size. */
export async function screenshots(page, name) {
  for (const [size, viewport] of [['phone', PHONE], ['desktop', DESKTOP]]) {
    await page.setViewportSize(viewport);
    await page.screenshot({ path: path.join(ARTIFACTS, `${name}-${size}.png`), fullPage: true });
    // Mobile first: nothing makes the page wider than the screen.
    const width = await page.evaluate(() => document.documentElement.scrollWidth);
    assert.ok(width <= viewport.width, `${name} at ${size} size is ${width} px wide, wider than the ${viewport.width} px screen`);
  }
  await page.setViewportSize(PHONE);
}

/** Presses Tab until `selector` has the focus (at most `max` presses); fails if it never does. */
export async function tabTo(page, selector, max = 80) {
  for (let n = 0; n < max; n += 1) {
    await page.keyboard.press('Tab');
    if (await page.evaluate((s) => document.activeElement?.matches(s) ?? false, selector)) return;
  }
  assert.fail(`Tab never reached ${selector}`);
}

/**
 * Every visible control has an accessible name, and each of `mainControls` (selectors) has text
 * contrast of at least 4.5:1 against its background, computed from the computed styles.
 */
export async function checkAccessibility(page, mainControls) {
  const unlabelled = await page.evaluate(() => {
    const visible = (node) => !!(node.offsetWidth || node.offsetHeight || node.getClientRects().length);
    const nameOf = (node) => {
      if (node.getAttribute('aria-label')) return node.getAttribute('aria-label');
      const labelledBy = node.getAttribute('aria-labelledby');
      if (labelledBy) return labelledBy.split(/\s+/).map((id) => document.getElementById(id)?.textContent || '').join(' ').trim();
      if (node.labels && node.labels.length) return [...node.labels].map((label) => label.textContent).join(' ').trim();
      if (node.tagName === 'BUTTON' || node.tagName === 'A' || node.tagName === 'SUMMARY') return node.textContent.trim();
      return node.getAttribute('title') || '';
    };
    return [...document.querySelectorAll('button, input, select, textarea, a[href], summary')]
      .filter((node) => visible(node) && node.type !== 'hidden')
      .filter((node) => !nameOf(node))
      .map((node) => node.outerHTML.slice(0, 120));
  });
  assert.deepEqual(unlabelled, [], 'every control has an accessible name');
  for (const selector of mainControls) {
    const ratio = await page.locator(selector).first().evaluate((node) => {
      const rgba = (text) => (text.match(/[\d.]+/g) || []).map(Number);
      const luminance = ([r, g, b]) => {
        const channel = (c) => { const v = c / 255; return v <= 0.03928 ? v / 12.92 : ((v + 0.055) / 1.055) ** 2.4; };
        return 0.2126 * channel(r) + 0.7152 * channel(g) + 0.0722 * channel(b);
      };
      const blend = (top, bottom) => { const a = top[3] ?? 1; return [0, 1, 2].map((i) => top[i] * a + bottom[i] * (1 - a)); };
      // The background: the first ancestor (or itself) with an opaque-enough colour, over white.
      let background = [255, 255, 255];
      const layers = [];
      for (let current = node; current; current = current.parentElement) {
        const colour = rgba(getComputedStyle(current).backgroundColor);
        if (colour.length >= 3 && (colour[3] ?? 1) > 0) layers.push(colour);
        if (colour.length >= 3 && (colour[3] ?? 1) >= 1) break;
      }
      for (const layer of layers.reverse()) background = blend(layer, background);
      const foreground = blend(rgba(getComputedStyle(node).color), background);
      const [light, dark] = [luminance(foreground), luminance(background)].sort((a, b) => b - a);
      return (light + 0.05) / (dark + 0.05);
    });
    assert.ok(ratio >= 4.5, `${selector}: contrast ${ratio.toFixed(2)} is under 4.5`);
  }
}

/** Asserts the page logged no script errors. */
export function assertNoPageErrors(page) {
  assert.deepEqual(page.problems.filter((problem) => !/status of 4\d\d/.test(problem)), [], 'no script errors on the page');
}
