// A shopper orders a bubble tea with a coupon through the chat and confirms; the merchant accepts
// and the shopper sees it; the operator pauses the campaign and the chat says so. One gateway,
// a fresh browser context per person.
import { test, before, after } from 'node:test';
import assert from 'node:assert/strict';
import { startGateway, launchBrowser, openPage, screenshots, tabTo, checkAccessibility, assertNoPageErrors, STEP_TIMEOUT_MS } from './harness.mjs';

let gateway;
let browser;

before(async () => {
  gateway = await startGateway();
  browser = await launchBrowser();
});

after(async () => {
  await browser?.close();
  await gateway?.stop();
});

/** The chat page's shopper token (a guest's, kept in localStorage). */
async function shopperToken(page) {
  return page.evaluate(() => localStorage.getItem('lantern.shopper.token'));
}

/** Claims the festival coupon from the wallet and orders two pearl milk teas by chat. */
async function orderWithCoupon(page, { keyboard }) {
  const claim = page.getByRole('button', { name: /^Claim: / });
  await claim.waitFor({ timeout: STEP_TIMEOUT_MS });
  await claim.click();
  await page.locator('#wallet .status.claimed').waitFor({ timeout: STEP_TIMEOUT_MS });

  if (keyboard) {
    await tabTo(page, '#message');
    await page.keyboard.type('two pearl milk teas, less sugar');
    await page.keyboard.press('Enter');
  } else {
    await page.fill('#message', 'two pearl milk teas, less sugar');
    await page.click('#send');
  }
  await page.locator('#log .card', { hasText: 'Your cart' }).last().waitFor({ timeout: STEP_TIMEOUT_MS });
  await page.locator('#log .card', { hasText: 'Your cart' }).last().getByRole('button', { name: 'Check out' }).click();
  const quote = page.locator('#log .card.quote').last();
  await quote.waitFor({ timeout: STEP_TIMEOUT_MS });
  const quoteText = await quote.textContent();
  assert.match(quoteText, /Subtotal: ¥30\.00/, quoteText);
  assert.match(quoteText, /−¥25\.00/, `the coupon is applied: ${quoteText}`);
  assert.match(quoteText, /Total: ¥5\.00/, quoteText);
  return quote;
}

test('a shopper orders a bubble tea with a coupon through the chat and confirms', async () => {
  const page = await openPage(browser, `${gateway.url}/`);
  const quote = await orderWithCoupon(page, { keyboard: true });
  // Nothing is ordered before the confirmation.
  const token = await shopperToken(page);
  const before = await (await fetch(`${gateway.url}/v1/orders`, { headers: { Authorization: `Bearer ${token}` } })).json();
  assert.equal(before.orders.length, 0, 'a quote is not an order');
  await checkAccessibility(page, ['#send', '#log .card.quote [data-action="confirm"]', '#lang']);
  await screenshots(page, 'chat-quote');

  // Keyboard: Tab reaches Confirm and Enter places the order.
  await tabTo(page, '#log .card.quote:last-of-type [data-action="confirm"], [data-quote] [data-action="confirm"]');
  await page.keyboard.press('Enter');
  const placed = page.locator('#log .card.order', { hasText: 'Order placed' });
  await placed.waitFor({ timeout: STEP_TIMEOUT_MS });
  assert.match(await placed.textContent(), /Total ¥5\.00/);
  await page.locator('#orders [data-order-status]').first().waitFor({ timeout: STEP_TIMEOUT_MS });
  assert.equal(await page.locator('#orders [data-order-status]').first().textContent(), 'placed');
  assert.ok(await quote.getByRole('button', { name: /Confirm order/ }).isDisabled(), 'a confirmed quote cannot be confirmed twice');

  const after = await (await fetch(`${gateway.url}/v1/orders`, { headers: { Authorization: `Bearer ${token}` } })).json();
  assert.equal(after.orders.length, 1);
  assert.equal(after.orders[0].discount, 2500);
  assert.equal(after.orders[0].total, 500);
  await page.locator('#wallet .status.redeemed').waitFor({ timeout: STEP_TIMEOUT_MS });

  // Chinese, from the toggle: the page's own words change and the reply comes in Chinese.
  await page.click('#lang');
  assert.equal(await page.locator('#send').textContent(), '发送');
  await page.fill('#message', '我的订单到哪了');
  await page.click('#send');
  await page.locator('#log li.bot p', { hasText: /订单/ }).last().waitFor({ timeout: STEP_TIMEOUT_MS });
  await screenshots(page, 'chat-placed');
  assertNoPageErrors(page);
  await page.context().close();
});

test('the merchant accepts and the shopper sees it', async () => {
  const shopper = await openPage(browser, `${gateway.url}/`);
  const quote = await orderWithCoupon(shopper, { keyboard: false });
  await quote.getByRole('button', { name: /Confirm order/ }).click();
  await shopper.locator('#orders [data-order-status]').first().waitFor({ timeout: STEP_TIMEOUT_MS });
  const token = await shopperToken(shopper);
  const live = await (await fetch(`${gateway.url}/v1/orders/live`, { headers: { Authorization: `Bearer ${token}` } })).json();
  const order = live.orders[0];
  assert.equal(order.status, 'placed');

  const merchant = await openPage(browser, `${gateway.url}/merchant`);
  await tabTo(merchant, '#token');
  await merchant.keyboard.type(gateway.token('merchant', order.merchant_id));
  await merchant.keyboard.press('Enter');
  const row = merchant.locator(`#orders li[data-order="${order.id}"]`);
  await row.waitFor({ timeout: STEP_TIMEOUT_MS });
  assert.match(await row.textContent(), /Pearl Milk Tea/);
  await checkAccessibility(merchant, [`#orders li[data-order="${order.id}"] [data-event="accept"]`, '#status-open', '#capacity-form button']);
  await screenshots(merchant, 'merchant-incoming');

  // Keyboard: Tab reaches Accept and Enter accepts.
  await tabTo(merchant, `#orders li[data-order="${order.id}"] [data-event="accept"]`);
  await merchant.keyboard.press('Enter');
  await merchant.locator(`#orders li[data-order="${order.id}"] [data-event="ready"]`).waitFor({ timeout: STEP_TIMEOUT_MS });

  // The shopper's page is told, live: the side panel and the card in the conversation.
  await shopper.locator(`#orders [data-order-status="${order.id}"]`, { hasText: 'accepted' }).waitFor({ timeout: STEP_TIMEOUT_MS });
  await shopper.locator(`#log [data-order-status="${order.id}"]`, { hasText: 'accepted' }).waitFor({ timeout: STEP_TIMEOUT_MS });
  await screenshots(shopper, 'chat-accepted');

  // Busy switch and capacity from the console.
  await merchant.click('#status-busy');
  await merchant.locator('#shop-figures', { hasText: 'Status busy' }).waitFor({ timeout: STEP_TIMEOUT_MS });
  // The shopper orders at the busy shop: the quote says it is busy, and confirming gets a card
  // offering the faster demo shops near it, with how far each is (they stand about 400 m apart).
  await shopper.fill('#message', 'one pearl milk tea');
  await shopper.click('#send');
  await shopper.locator('#log .card', { hasText: 'Your cart' }).last().waitFor({ timeout: STEP_TIMEOUT_MS });
  await shopper.locator('#log .card', { hasText: 'Your cart' }).last().getByRole('button', { name: 'Check out' }).click();
  const busyQuote = shopper.locator('#log .card.quote', { hasText: 'Total: ¥15.00' }).last();
  await busyQuote.waitFor({ timeout: STEP_TIMEOUT_MS });
  await busyQuote.getByRole('button', { name: /Confirm order/ }).click();
  const busyCard = shopper.locator('#log .card', { hasText: 'The shop is busy' }).last();
  await busyCard.waitFor({ timeout: STEP_TIMEOUT_MS });
  assert.match(await busyCard.textContent(), /Faster shops.*\d+ m away/, await busyCard.textContent());
  await screenshots(shopper, 'chat-busy-nearby');
  await merchant.click('#status-open');
  await merchant.fill('#orders-per-minute', '45');
  await merchant.click('#capacity-form button');
  await merchant.locator('#result', { hasText: 'Capacity saved: 45 orders/min' }).waitFor({ timeout: STEP_TIMEOUT_MS });
  await screenshots(merchant, 'merchant-accepted');
  assertNoPageErrors(merchant);
  assertNoPageErrors(shopper);
  await merchant.context().close();
  await shopper.context().close();
});

test('the operator pauses the campaign and the chat says so', async () => {
  const ops = await openPage(browser, `${gateway.url}/ops`);
  await tabTo(ops, '#token');
  await ops.keyboard.type(gateway.token('operator'));
  await ops.keyboard.press('Enter');
  const campaign = ops.locator('[data-campaign="cmp_1"]');
  await campaign.waitFor({ timeout: STEP_TIMEOUT_MS });
  await ops.locator('#connection', { hasText: 'live' }).waitFor({ timeout: STEP_TIMEOUT_MS });
  await ops.locator('#orders-total', { hasText: /^\d/ }).waitFor({ timeout: STEP_TIMEOUT_MS });
  await ops.locator('#orders-by-channel', { hasText: /^api [\d,]+ · chat [\d,]+ · acp [\d,]+$/ }).waitFor({ timeout: STEP_TIMEOUT_MS });
  // The demo has no webhook receiver: the tile says so.
  await ops.locator('#webhooks', { hasText: /^off$/ }).waitFor({ timeout: STEP_TIMEOUT_MS });
  await ops.locator('#webhooks-detail', { hasText: 'no acp.webhook_url' }).waitFor({ timeout: STEP_TIMEOUT_MS });
  await checkAccessibility(ops, ['#cmp_1-pause', '#cmp_1-resume', '#token-form button', '#backup-now']);
  await screenshots(ops, 'ops-live');

  // On a phone the admission table scrolls inside its panel, and the page says so; on a desktop
  // every column fits and the hint is gone.
  const overflow = await ops.locator('#classes-title + .scroll-hint + .table-scroll').evaluate((node) => node.scrollWidth - node.clientWidth);
  assert.ok(overflow > 0, 'at phone size the admission table is wider than its panel');
  assert.ok(await ops.locator('#classes-hint').isVisible(), 'at phone size the page says to swipe');
  await ops.setViewportSize({ width: 1280, height: 800 });
  assert.ok(!(await ops.locator('#classes-hint').isVisible()), 'at desktop size no hint');
  assert.equal(await ops.locator('.table-scroll').evaluate((node) => node.scrollWidth - node.clientWidth), 0, 'at desktop size every column fits');
  await ops.setViewportSize({ width: 390, height: 844 });
  // What the last start cost: a new data directory replays nothing.
  await ops.locator('#start', { hasText: /^\d+\.\d s$/ }).waitFor({ timeout: STEP_TIMEOUT_MS });
  assert.equal(await ops.locator('#start-detail').textContent(), 'a new journal: nothing to replay');
  // A backup of the journal from the dashboard: asked to confirm, then followed until done.
  await ops.locator('#backup', { hasText: /^none yet$/ }).waitFor({ timeout: STEP_TIMEOUT_MS });
  await ops.click('#backup-now');
  await ops.locator('#confirm[open]').waitFor();
  assert.match(await ops.locator('#confirm-text').textContent(), /Orders keep flowing/);
  await ops.click('#confirm-yes');
  await ops.locator('#backup-result', { hasText: /^Started: \d{8}T\d{9}Z/ }).waitFor({ timeout: STEP_TIMEOUT_MS });
  await ops.locator('#backup', { hasText: /^done$/ }).waitFor({ timeout: STEP_TIMEOUT_MS });
  assert.match(await ops.locator('#backup-detail').textContent(), /\d+(\.\d)? [KM]iB · .*backups\/\d{8}T\d{9}Z/);
  // Who backed up when is in the audit list, on no campaign.
  const backedUp = ops.locator('#audit tr', { hasText: 'backup into' });
  await backedUp.waitFor({ timeout: STEP_TIMEOUT_MS });
  assert.match(await backedUp.textContent(), /operator \(token issued .*\) from 127\.0\.0\.1—backup into .*backups\/\d{8}T\d{9}Z/);
  await screenshots(ops, 'ops-backup');

  // Cancelling the confirmation changes nothing.
  await campaign.getByRole('button', { name: 'Pause campaign' }).click();
  await ops.locator('#confirm[open]').waitFor();
  await ops.click('#confirm-no');
  await campaign.locator('p[role="status"]', { hasText: 'Not changed' }).waitFor();
  assert.equal(await campaign.locator('h3 .status').textContent(), 'active');

  // Keyboard: Tab reaches Pause, Enter opens the confirmation, Confirm pauses.
  await tabTo(ops, '#cmp_1-pause');
  await ops.keyboard.press('Enter');
  await ops.locator('#confirm[open]').waitFor();
  await screenshots(ops, 'ops-confirm');
  await ops.click('#confirm-yes');
  await campaign.locator('h3 .status', { hasText: 'paused' }).waitFor({ timeout: STEP_TIMEOUT_MS });
  const audit = ops.locator('#audit tr', { hasText: 'paused' });
  await audit.waitFor({ timeout: STEP_TIMEOUT_MS });
  assert.match(await audit.textContent(), /operator \(token issued .*\) from 127\.0\.0\.1.*cmp_1/);

  // A shopper asks the chat for the coupon: it says the campaign is paused.
  const shopper = await openPage(browser, `${gateway.url}/`);
  await shopper.locator('#wallet .status.paused').waitFor({ timeout: STEP_TIMEOUT_MS });
  await shopper.fill('#message', 'use my coupon');
  await shopper.click('#send');
  await shopper.locator('#log li.bot p', { hasText: /paused/i }).waitFor({ timeout: STEP_TIMEOUT_MS });
  await screenshots(shopper, 'chat-campaign-paused');

  // Resume, confirmed; the audit list shows both changes.
  await ops.click('#cmp_1-resume');
  await ops.click('#confirm-yes');
  await campaign.locator('h3 .status', { hasText: 'active' }).waitFor({ timeout: STEP_TIMEOUT_MS });
  await ops.locator('#audit tr', { hasText: 'resumed' }).waitFor({ timeout: STEP_TIMEOUT_MS });
  await screenshots(ops, 'ops-audited');
  assertNoPageErrors(ops);
  assertNoPageErrors(shopper);
  await ops.context().close();
  await shopper.context().close();
});
