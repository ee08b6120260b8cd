// Benchmark (run on purpose, not in CI): do the live pages stay fast under 10,000 order updates a
// minute? Drives a real gateway with coupon orders that the shop then accepts, readies,
// dispatches and delivers (five updates per order) at BENCH_UPDATES_PER_MIN, while the merchant
// console and the operator dashboard are open in chromium, and reads each page's main-thread
// busy time from the browser (Chrome DevTools Protocol `Performance.getMetrics`). Baseline: the
// same pages, in the same run, for the same time with no updates.
//
//   cd tests/browser && LANTERN_BIN=../../target/release/lantern node bench-live.mjs
//
// Environment: BENCH_UPDATES_PER_MIN (10000), BENCH_SECONDS (30), BENCH_CONNECTIONS (16).
import { startGateway, launchBrowser, DESKTOP } from './harness.mjs';

const UPDATES_PER_MIN = Number(process.env.BENCH_UPDATES_PER_MIN || 10_000);
const SECONDS = Number(process.env.BENCH_SECONDS || 30);
const CONNECTIONS = Number(process.env.BENCH_CONNECTIONS || 16);
const EVENTS = ['accept', 'ready', 'dispatch', 'deliver'];

const gateway = await startGateway({
  LANTERN_ADMISSION__SHOPPER_PER_SECOND: '1000000', LANTERN_ADMISSION__SHOPPER_BURST: '1000000',
  LANTERN_ADMISSION__IP_PER_SECOND: '1000000', LANTERN_ADMISSION__IP_BURST: '1000000',
});
const browser = await launchBrowser();
const merchantToken = gateway.token('merchant', 'mer_1');
const operatorToken = gateway.token('operator');
const post = (path, token, body, key) => fetch(`${gateway.url}${path}`, {
  method: 'POST',
  headers: { Authorization: `Bearer ${token}`, 'Content-Type': 'application/json', 'Idempotency-Key': key },
  body: JSON.stringify(body),
});
await post('/v1/merchant/capacity', merchantToken, { orders_per_minute: 100000, open_orders_max: 1000000 }, 'bench-capacity');

async function openPage(path, token) {
  const context = await browser.newContext({ viewport: DESKTOP });
  const page = await context.newPage();
  await page.goto(`${gateway.url}${path}`);
  await page.fill('#token', token);
  await page.click('#token-form button');
  await page.locator('#connection', { hasText: 'live' }).waitFor({ timeout: 30_000 });
  const cdp = await context.newCDPSession(page);
  await cdp.send('Performance.enable');
  return { page, cdp, path };
}

async function busyMs(view) {
  const { metrics } = await view.cdp.send('Performance.getMetrics');
  const get = (name) => metrics.find((metric) => metric.name === name)?.value ?? 0;
  return { taskMs: get('TaskDuration') * 1000, scriptMs: get('ScriptDuration') * 1000, layoutMs: get('LayoutDuration') * 1000, nodes: get('Nodes') };
}

async function measure(views, seconds, load) {
  const before = await Promise.all(views.map(busyMs));
  const started = Date.now();
  const driven = load ? await load(started + seconds * 1000) : (await new Promise((resolve) => setTimeout(resolve, seconds * 1000)), 0);
  const elapsedMs = Date.now() - started;
  const after = await Promise.all(views.map(busyMs));
  return views.map((view, index) => ({
    page: view.path,
    busyPercent: ((after[index].taskMs - before[index].taskMs) / elapsedMs) * 100,
    scriptMs: after[index].scriptMs - before[index].scriptMs,
    layoutMs: after[index].layoutMs - before[index].layoutMs,
    nodes: after[index].nodes,
    updates: driven,
    updatesPerMin: (driven / elapsedMs) * 60_000,
  }));
}

/** Orders and their four state changes, paced to UPDATES_PER_MIN over CONNECTIONS workers. */
async function drive(until) {
  const intervalMs = 60_000 / UPDATES_PER_MIN;
  let next = Date.now();
  let updates = 0;
  let shopper = 1000;
  const slot = async () => { const wait = next - Date.now(); next += intervalMs; if (wait > 0) await new Promise((r) => setTimeout(r, wait)); };
  const worker = async () => {
    while (Date.now() < until) {
      shopper += 1;
      const token = gateway.token('shopper', `shp_${shopper}`);
      await slot();
      const placed = await post('/v1/coupon_orders', token, { campaign_id: 'cmp_1', merchant_id: 'mer_1', line_items: [{ id: 'itm_101', quantity: 1 }] }, `o${shopper}`);
      if (placed.status !== 201) { await placed.text(); continue; }
      const order = await placed.json();
      updates += 1;
      for (const event of EVENTS) {
        if (Date.now() >= until) break;
        await slot();
        const moved = await post(`/v1/merchant/orders/${order.id}/${event}`, merchantToken, {}, `${order.id}-${event}`);
        await moved.text();
        if (moved.status === 200) updates += 1;
      }
    }
  };
  await Promise.all(Array.from({ length: CONNECTIONS }, worker));
  return updates;
}

const views = [await openPage('/merchant', merchantToken), await openPage('/ops', operatorToken)];
const idle = await measure(views, SECONDS, null);
const loaded = await measure(views, SECONDS, drive);
const rows = loaded.map((row, index) => ({
  page: row.page,
  'updates/min driven': Math.round(row.updatesPerMin),
  'busy % idle': idle[index].busyPercent.toFixed(2),
  'busy % loaded': row.busyPercent.toFixed(2),
  'loaded / idle': (row.busyPercent / Math.max(idle[index].busyPercent, 0.01)).toFixed(2),
  'script ms': Math.round(row.scriptMs),
  'layout ms': Math.round(row.layoutMs),
  'DOM nodes': row.nodes,
}));
console.table(rows);
console.log(JSON.stringify({ seconds: SECONDS, target_updates_per_min: UPDATES_PER_MIN, rows }));
await browser.close();
await gateway.stop();
