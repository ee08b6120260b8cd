// A second shopper is put in the waiting room and is admitted. The gateway has one slot (a
// concurrency limit of one) and no waiting in line inside the gateway, so: the first shopper's
// checkout queues behind its own chat turn and, promoted when that turn ends, holds the only slot
// reserved for them while they are away (`reservation_grace_ms`, set here to the whole
// `admitted_ttl_ms`, so that the reservation keeps others out until it lapses); the second
// shopper, arriving in that time, is given a ticket. Their page shows the live position and ETA, and sends the message
// again with the ticket when the first shopper's reservation lapses.
import { test, before, after } from 'node:test';
import assert from 'node:assert/strict';
import { startGateway, launchBrowser, openPage, screenshots, checkAccessibility, assertNoPageErrors, STEP_TIMEOUT_MS } from './harness.mjs';

/** How long the first shopper's admitted ticket keeps the slot for them. */
const ADMITTED_TTL_MS = 6000;

let gateway;
let browser;

before(async () => {
  gateway = await startGateway({
    LANTERN_ADMISSION__INITIAL_LIMIT: '1',
    LANTERN_ADMISSION__MIN_LIMIT: '1',
    LANTERN_ADMISSION__MAX_LIMIT: '1',
    LANTERN_WAITING_ROOM__LINE_WAIT_MS: '0',
    LANTERN_WAITING_ROOM__ADMITTED_TTL_MS: String(ADMITTED_TTL_MS),
    LANTERN_WAITING_ROOM__RESERVATION_GRACE_MS: String(ADMITTED_TTL_MS),
  });
  browser = await launchBrowser();
});

after(async () => {
  await browser?.close();
  await gateway?.stop();
});

async function chat(token, message) {
  const response = await fetch(`${gateway.url}/v1/chat`, {
    method: 'POST',
    headers: { Authorization: `Bearer ${token}`, 'Content-Type': 'application/json' },
    body: JSON.stringify({ message, session_id: 'first' }),
  });
  return { status: response.status, body: await response.json() };
}

test('a second shopper is put in the waiting room and is admitted', async () => {
  const page = await openPage(browser, `${gateway.url}/`);
  await page.locator('#wallet button, #wallet .status').first().waitFor({ timeout: STEP_TIMEOUT_MS });

  // The first shopper (an API client) checks out and is put in line; promoted when their turn
  // ends, their ticket holds the gateway's only slot while they are away.
  const first = gateway.token('shopper', 'shp_1');
  assert.equal((await chat(first, 'two pearl milk teas')).status, 200);
  const checkout = await chat(first, 'checkout');
  assert.equal(checkout.status, 200);
  const queued = checkout.body.events.find((event) => event.type === 'queued');
  assert.ok(queued, `the first shopper's checkout waits in line: ${JSON.stringify(checkout.body.events)}`);
  const held = await (await fetch(`${gateway.url}/v1/waiting_room/${encodeURIComponent(queued.waiting.ticket)}`)).json();
  assert.equal(held.status, 'admitted', 'promoted when the turn ended, holding the slot');

  // The second shopper, in the browser, arrives now: a place in line, shown live.
  const sentAt = Date.now();
  await page.fill('#message', 'two pearl milk teas');
  await page.click('#send');
  // Behind the first shopper's slot (and any of this page's own reads waiting above chat).
  await page.locator('#waiting [data-position]').waitFor({ timeout: STEP_TIMEOUT_MS });
  assert.match(await page.locator('#waiting').textContent(), /You are in line.*Position: [1-9]\d*.*About \d+ s/s);
  await checkAccessibility(page, ['#send', '#message']);
  await screenshots(page, 'waiting-room');

  // Admitted when the first shopper's reservation lapses: the message goes again, with the
  // ticket, and the answer arrives without the shopper doing anything.
  await page.locator('#log .card', { hasText: 'Your cart' }).waitFor({ timeout: ADMITTED_TTL_MS + STEP_TIMEOUT_MS });
  assert.ok(Date.now() - sentAt >= 1000, 'the answer came after a wait in line');
  assert.ok(await page.locator('#waiting').isHidden(), 'the waiting banner is gone once admitted');
  assert.equal(await page.locator('#log li.me').count(), 1, 'the message was sent again without showing it twice');

  // The rest of the order goes through the same one-slot gateway: every write waits its turn.
  await page.locator('#log .card', { hasText: 'Your cart' }).getByRole('button', { name: 'Check out' }).click();
  const quote = page.locator('#log .card.quote').last();
  await quote.waitFor({ timeout: STEP_TIMEOUT_MS });
  await quote.getByRole('button', { name: /Confirm order/ }).click();
  await page.locator('#log .card.order', { hasText: 'Order placed' }).waitFor({ timeout: STEP_TIMEOUT_MS });
  await screenshots(page, 'waiting-room-admitted');
  assertNoPageErrors(page);

  // The operator's figures saw it: queued requests in the chat class.
  const ops = await (await fetch(`${gateway.url}/v1/ops/live`, { headers: { Authorization: `Bearer ${gateway.token('operator')}` } })).json();
  const chatClass = ops.classes.find((c) => c.class === 'chat');
  assert.ok(chatClass.queued >= 1, JSON.stringify(ops.classes));
  await page.context().close();
});
