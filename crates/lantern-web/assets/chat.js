// The shopper's chat page: messages go to POST /v1/chat and the reply streams back as events
// (text, results, cart, quote, order_placed, order_status, coupons, queued, busy, choices, done),
// each drawn as a bubble or a card. A quote has a Confirm button; orders are followed live
// (/v1/orders/live); a place in the waiting room is shown as a live position and ETA and the
// message is sent again with the ticket when the turn comes.
import { api, sse, follow, coalesce, yuan, duration, el, stored, initialLanguage, newKey, ApiError } from './common.js';

/** Messages and cards kept in the conversation; older ones are dropped from the page. */
const LOG_ITEMS_MAX = 200;
/** Orders shown in the side panel. */
const ORDERS_SHOWN_MAX = 20;

const TEXT = {
  en: {
    title: 'Lantern · order by chat', chat: 'Chat', message: 'Message', send: 'Send', placeholder: 'Two pearl milk teas, less sugar',
    wallet: 'Coupon wallet', orders: 'Your orders', 'no-orders': 'No orders yet.', 'token-summary': 'Shopper token', token: 'Token',
    'use-token': 'Use', loading: 'Loading…', suggestions: 'Suggestions', results: 'Found', add: 'Add', cart: 'Your cart', checkout: 'Check out',
    quote: 'Your quote', subtotal: 'Subtotal', discount: 'Coupon', total: 'Total', confirm: 'Confirm order', cancel: 'Cancel',
    'quote-expires': 'Price held until', placed: 'Order placed', order: 'Order', claim: 'Claim', claimed: 'Claimed',
    'no-coupons': 'No coupons yet.', 'campaigns': 'Campaigns', queued: 'You are in line', position: 'Position', eta: 'About',
    admitted: 'Your turn: sending again…', lapsed: 'Your place lapsed; sending again…', busy: 'The shop is busy', faster: 'Faster shops',
    'who': 'Signed in as', 'no-token': 'This gateway gives no guest tokens: paste a shopper token below (lantern token shopper shp_1).',
    error: 'Something went wrong', 'expires': 'valid until',
    statuses: { placed: 'placed', accepted: 'accepted', ready: 'ready', delivering: 'on its way', delivered: 'delivered', rejected: 'rejected', cancelled: 'cancelled', canceled: 'cancelled', dispatched: 'on its way', claimed: 'in wallet', held: 'held by a quote', redeemed: 'used', expired: 'expired', active: 'active', paused: 'paused', ended: 'ended', scheduled: 'scheduled' },
    chips: [['Pearl milk tea', 'a pearl milk tea'], ['Use my coupon', 'use my coupon'], ['Check out', 'checkout'], ['Where is my order?', 'where is my order']],
    words: { confirm: 'yes', cancel: 'no', checkout: 'checkout' },
  },
  zh: {
    title: 'Lantern · 聊天点单', chat: '聊天', message: '消息', send: '发送', placeholder: '两杯珍珠奶茶，少糖',
    wallet: '优惠券', orders: '我的订单', 'no-orders': '还没有订单。', 'token-summary': '顾客令牌', token: '令牌',
    'use-token': '使用', loading: '加载中…', suggestions: '快捷回复', results: '找到', add: '加入', cart: '购物车', checkout: '结账',
    quote: '订单报价', subtotal: '小计', discount: '优惠券', total: '合计', confirm: '确认下单', cancel: '取消',
    'quote-expires': '价格保留至', placed: '已下单', order: '订单', claim: '领取', claimed: '已领取',
    'no-coupons': '还没有优惠券。', 'campaigns': '活动', queued: '正在排队', position: '位置', eta: '约',
    admitted: '轮到你了：正在重新发送…', lapsed: '排队已失效：正在重新发送…', busy: '店铺繁忙', faster: '更快的店',
    'who': '当前身份', 'no-token': '此网关不发放访客令牌：请在下方粘贴顾客令牌（lantern token shopper shp_1）。',
    error: '出错了', 'expires': '有效期至',
    statuses: { placed: '已下单', accepted: '已接单', ready: '已出餐', delivering: '配送中', delivered: '已送达', rejected: '已拒单', cancelled: '已取消', canceled: '已取消', dispatched: '配送中', claimed: '可使用', held: '报价占用中', redeemed: '已使用', expired: '已过期', active: '进行中', paused: '已暂停', ended: '已结束', scheduled: '未开始' },
    chips: [['珍珠奶茶', '来一杯珍珠奶茶'], ['用优惠券', '用优惠券'], ['结账', '结账'], ['订单到哪了', '我的订单到哪了']],
    words: { confirm: '确认下单', cancel: '不要了', checkout: '结账' },
  },
};

const state = {
  lang: initialLanguage(),
  token: '',
  shopper: '',
  session: sessionStorage.getItem('lantern.session') || `web-${newKey().slice(0, 12)}`,
  busy: false,
  orders: new Map(), // order id -> order body, newest last
  stopOrders: null,
  lastMessage: '',
};
sessionStorage.setItem('lantern.session', state.session);

const $ = (id) => document.getElementById(id);
const t = (key) => TEXT[state.lang][key] ?? TEXT.en[key] ?? key;
const statusWord = (status) => TEXT[state.lang].statuses[status] || status;

function applyLanguage() {
  document.documentElement.lang = state.lang === 'zh' ? 'zh-CN' : 'en';
  for (const node of document.querySelectorAll('[data-i18n]')) node.textContent = t(node.dataset.i18n);
  for (const node of document.querySelectorAll('[data-i18n-placeholder]')) node.placeholder = t(node.dataset.i18nPlaceholder);
  const toggle = $('lang');
  toggle.textContent = state.lang === 'zh' ? 'English' : '中文';
  toggle.lang = state.lang === 'zh' ? 'en' : 'zh';
  drawSuggestions();
  renderOrders();
}

function drawSuggestions() {
  const box = $('suggestions');
  for (const old of box.querySelectorAll('button')) old.remove();
  for (const [label, message] of TEXT[state.lang].chips) {
    box.append(el('button', { type: 'button', class: 'secondary small', onclick: () => send(message) }, label));
  }
}

// ---- the conversation -------------------------------------------------------------------------

function addToLog(item) {
  const log = $('log');
  log.append(item);
  while (log.children.length > LOG_ITEMS_MAX) log.firstElementChild.remove();
  scrollToEnd();
  return item;
}

function systemNote(text, kind = 'notice') {
  return addToLog(el('li', { class: 'system' }, el('p', { class: `notice ${kind}`, role: kind === 'error' ? 'alert' : undefined }, text)));
}

function setBusy(busy) {
  state.busy = busy;
  $('send').disabled = busy;
  $('send').setAttribute('aria-busy', busy ? 'true' : 'false');
}

/**
 * Sends one message and draws the streamed reply. `ticket` is a waiting-room ticket that was
 * admitted: the gateway gives this message the place it waited for.
 */
async function send(message, { ticket = null, echo = true } = {}) {
  if (!message || state.busy || !state.token) return;
  state.lastMessage = message;
  if (echo) addToLog(el('li', { class: 'me' }, message));
  setBusy(true);
  const bubble = addToLog(el('li', { class: 'bot', 'aria-busy': 'true' }));
  const headers = ticket ? { 'Lantern-Ticket': ticket } : {};
  let queued = null;
  let walletMayChange = false;
  try {
    await sse('/v1/chat', {
      method: 'POST', token: state.token, headers,
      body: { message, session_id: state.session },
      onEvent: (name, data) => {
        if (name === 'queued') queued = data.waiting;
        if (WALLET_EVENTS.has(name)) walletMayChange = true;
        drawEvent(bubble, name, data);
        scrollToEnd();
      },
    });
  } catch (error) {
    if (error instanceof ApiError && error.code === 'queued' && error.body.ticket) {
      queued = { ticket: error.body.ticket, position: error.body.position, eta_ms: error.body.eta_ms };
      drawEvent(bubble, 'queued', { waiting: queued });
    } else {
      bubble.append(el('p', { class: 'notice error', role: 'alert' }, `${t('error')}: ${error.message}`));
    }
  } finally {
    bubble.removeAttribute('aria-busy');
    if (!bubble.childElementCount) bubble.remove();
    setBusy(false);
  }
  if (queued) waitForTurn(queued, message);
  else hideWaiting();
  // Only turns that can move a coupon re-read the wallet: in a surge every read counts.
  if (walletMayChange) refreshWallet();
}

/** Events after which the coupon wallet may have changed. */
const WALLET_EVENTS = new Set(['coupons', 'quote', 'order_placed']);

const scrollToEnd = coalesce(() => { const log = $('log'); log.scrollTop = log.scrollHeight; });

function drawEvent(bubble, name, data) {
  switch (name) {
    case 'text': bubble.append(el('p', {}, data.text)); break;
    case 'results': bubble.append(resultsCard(data.items)); break;
    case 'cart': bubble.append(cartCard(data)); break;
    case 'quote': bubble.append(quoteCard(data.quote)); break;
    case 'order_placed': case 'order_status': bubble.append(orderCard(data.order, name === 'order_placed')); trackOrders(); break;
    case 'coupons': bubble.append(couponsCard(data.coupons)); break;
    case 'queued': break; // shown in the waiting banner, live
    case 'busy': bubble.append(busyCard(data)); break;
    case 'choices': bubble.append(choicesCard(data)); break;
    default: break; // `done` and anything newer
  }
}

function resultsCard(items) {
  const list = el('ul');
  for (const item of items.slice(0, 8)) {
    list.append(el('li', { class: 'row' },
      el('span', { class: 'grow' }, `${item.name} · ${item.merchant_name} · ${yuan(item.price_fen)}`),
      el('button', { type: 'button', class: 'small secondary', 'aria-label': `${t('add')}: ${item.name}`, onclick: () => send(item.name) }, t('add'))));
  }
  return el('div', { class: 'card' }, el('h3', {}, t('results')), list);
}

function cartCard(cart) {
  const list = el('ul');
  for (const line of cart.lines) {
    list.append(el('li', {}, `${line.quantity} × ${line.name}${line.options.length ? ` (${line.options.join(', ')})` : ''}`));
  }
  return el('div', { class: 'card' }, el('h3', {}, `${t('cart')}${cart.merchant_name ? ` · ${cart.merchant_name}` : ''}`), list,
    cart.lines.length ? el('div', { class: 'row' }, el('button', { type: 'button', onclick: () => send(TEXT[state.lang].words.checkout) }, t('checkout'))) : null);
}

function quoteCard(quote) {
  const list = el('ul');
  for (const line of quote.lines) {
    list.append(el('li', {}, `${line.quantity} × ${line.name}${line.options.length ? ` (${line.options.join(', ')})` : ''} — ${yuan(line.line_total_fen)}`));
  }
  const confirm = el('button', { type: 'button', 'data-action': 'confirm', onclick: () => { disableAll(card); send(TEXT[state.lang].words.confirm); } }, `${t('confirm')} · ${yuan(quote.total_fen)}`);
  const cancel = el('button', { type: 'button', class: 'secondary', onclick: () => { disableAll(card); send(TEXT[state.lang].words.cancel); } }, t('cancel'));
  const card = el('div', { class: 'card quote', 'data-quote': quote.quote },
    el('h3', {}, `${t('quote')} · ${quote.merchant_name}`), list,
    el('p', {}, `${t('subtotal')}: ${yuan(quote.subtotal_fen)}`),
    quote.discount_fen > 0 ? el('p', { class: 'discount' }, `${t('discount')}${quote.coupon_campaign ? ` (${quote.coupon_campaign})` : ''}: −${yuan(quote.discount_fen)}`) : null,
    el('p', { class: 'total' }, `${t('total')}: ${yuan(quote.total_fen)}`),
    el('p', { class: 'muted' }, `${t('quote-expires')} ${new Date(quote.expires_at).toLocaleTimeString()}`),
    el('div', { class: 'row' }, confirm, cancel));
  return card;
}

function disableAll(card) {
  for (const button of card.querySelectorAll('button')) button.disabled = true;
}

function orderCard(order, placed) {
  return el('div', { class: 'card order', 'data-order': order.order },
    el('h3', {}, `${placed ? t('placed') : t('order')} · ${order.order}`),
    el('p', {}, `${order.merchant_name} · ${t('total')} ${yuan(order.total_fen)}${order.discount_fen ? ` (−${yuan(order.discount_fen)})` : ''}`),
    el('p', {}, el('span', { class: `status ${order.status}`, 'data-order-status': order.order }, statusWord(order.status))));
}

function couponsCard(coupons) {
  const list = el('ul');
  for (const coupon of coupons) list.append(el('li', {}, `${coupon.campaign_name}: ${coupon.describe} · ${statusWord(coupon.status)}`));
  return el('div', { class: 'card' }, el('h3', {}, t('wallet')), list);
}

function busyCard(busy) {
  const list = el('ul');
  const away = (metres) => {
    if (metres === undefined) return '';
    const zh = state.lang === 'zh';
    if (metres < 1000) return ` · ${metres}${zh ? '米' : ' m away'}`;
    return ` · ${(Math.floor(metres / 100) / 10).toFixed(1)}${zh ? '公里' : ' km away'}`;
  };
  for (const shop of busy.alternatives) list.append(el('li', {}, `${shop.name} · ${duration(shop.eta_ms, state.lang)}${away(shop.distance_m)}`));
  return el('div', { class: 'card' }, el('h3', {}, `${t('busy')} · ${busy.merchant_name} · ${duration(busy.eta_ms, state.lang)}`),
    busy.alternatives.length ? el('p', {}, t('faster')) : null, list);
}

function choicesCard(choices) {
  const box = el('div', { class: 'choices', role: 'group', 'aria-label': choices.question });
  choices.choices.forEach((choice, index) => {
    box.append(el('button', { type: 'button', class: 'small secondary', onclick: () => send(String(index + 1)) }, `${index + 1}. ${choice}`));
  });
  return box;
}

// ---- the waiting room -------------------------------------------------------------------------

let waitingFor = null;

function showWaiting(position, etaMs, note) {
  const box = $('waiting');
  box.hidden = false;
  box.replaceChildren(el('div', { class: 'card waiting' },
    el('h3', {}, t('queued')),
    el('p', {}, `${t('position')}: `, el('span', { class: 'position', 'data-position': String(position) }, String(position))),
    el('p', {}, `${t('eta')} ${duration(etaMs, state.lang)}`),
    note ? el('p', { class: 'muted' }, note) : null));
}

function hideWaiting() {
  waitingFor = null;
  $('waiting').hidden = true;
  $('waiting').replaceChildren();
}

/** Follows a ticket live until admitted (then sends the message again with it) or gone. */
async function waitForTurn(waiting, message) {
  const mine = {};
  waitingFor = mine;
  showWaiting(waiting.position, waiting.eta_ms);
  let outcome = null;
  while (waitingFor === mine && !outcome) {
    try {
      await sse(`/v1/waiting_room/${encodeURIComponent(waiting.ticket)}`, {
        onEvent: (name, data) => {
          if (name !== 'ticket' || waitingFor !== mine) return;
          if (data.status === 'waiting') showWaiting(data.position, data.eta_ms);
          else outcome = data.status;
        },
      });
    } catch (error) {
      if (error instanceof ApiError && error.status >= 400 && error.status < 500) outcome = 'gone';
      else await new Promise((resolve) => setTimeout(resolve, 1000));
    }
  }
  if (waitingFor !== mine) return;
  if (outcome === 'admitted') {
    showWaiting(0, 0, t('admitted'));
    await waitUntilIdle();
    hideWaiting();
    send(message, { ticket: waiting.ticket, echo: false });
  } else {
    showWaiting(0, 0, t('lapsed'));
    await waitUntilIdle();
    hideWaiting();
    send(message, { echo: false });
  }
}

async function waitUntilIdle() {
  while (state.busy) await new Promise((resolve) => setTimeout(resolve, 100));
}

// ---- orders, followed live --------------------------------------------------------------------

const renderOrders = coalesce(() => {
  const list = $('orders');
  const orders = [...state.orders.values()].slice(-ORDERS_SHOWN_MAX).reverse();
  $('orders-state').hidden = orders.length > 0;
  list.replaceChildren(...orders.map((order) => el('li', { class: 'card', 'data-order': order.id },
    el('div', { class: 'row' }, el('strong', { class: 'grow' }, order.id), el('span', { class: `status ${order.status}`, 'data-order-status': order.id }, statusWord(order.status))),
    el('p', { class: 'muted' }, `${order.line_items.map((line) => `${line.quantity} × ${line.name}`).join(', ')} · ${yuan(order.total)}`))));
  // Cards in the conversation follow too.
  for (const badge of document.querySelectorAll('#log [data-order-status]')) {
    const order = state.orders.get(badge.dataset.orderStatus);
    if (order && badge.textContent !== statusWord(order.status)) {
      badge.textContent = statusWord(order.status);
      badge.className = `status ${order.status}`;
    }
  }
});

function trackOrders() {
  if (state.stopOrders || !state.token) return;
  state.stopOrders = follow('/v1/orders/live', {
    token: state.token,
    onEvent: (name, data) => {
      if (name !== 'orders') return;
      state.orders = new Map(data.orders.slice().reverse().map((order) => [order.id, order]));
      renderOrders();
    },
  });
}

// ---- the wallet -------------------------------------------------------------------------------

async function refreshWallet() {
  if (!state.token) return;
  const box = $('wallet');
  try {
    const [wallet, campaigns] = await Promise.all([api('/v1/wallet', { token: state.token }), api('/v1/campaigns', { token: state.token })]);
    const coupons = wallet.coupons || [];
    const rows = [];
    for (const coupon of coupons) {
      const campaign = campaigns.campaigns.find((c) => c.id === coupon.campaign_id);
      rows.push(el('li', { class: 'row' }, el('span', { class: 'grow' }, `${campaign ? campaign.name : coupon.campaign_id} · ${yuan(coupon.face_value)}`),
        el('span', { class: `status ${coupon.status}` }, statusWord(coupon.status))));
    }
    const offers = campaigns.campaigns.filter((c) => !coupons.some((coupon) => coupon.campaign_id === c.id));
    for (const campaign of offers) {
      rows.push(el('li', { class: 'row' }, el('span', { class: 'grow' }, `${campaign.name} · ${yuan(campaign.face_value)} `, el('span', { class: `status ${campaign.status}` }, statusWord(campaign.status))),
        el('button', { type: 'button', class: 'small', 'aria-label': `${t('claim')}: ${campaign.name}`, onclick: () => claim(campaign) }, t('claim'))));
    }
    box.replaceChildren(rows.length ? el('ul', { class: 'orders-list' }, ...rows) : el('p', { class: 'muted' }, t('no-coupons')));
  } catch (error) {
    box.replaceChildren(el('p', { class: 'notice error' }, error.message));
  }
}

async function claim(campaign) {
  try {
    await api(`/v1/campaigns/${encodeURIComponent(campaign.id)}/claim`, { method: 'POST', token: state.token, body: {} });
  } catch (error) {
    systemNote(`${campaign.name}: ${error.message}`, 'error');
  }
  refreshWallet();
}

// ---- start ------------------------------------------------------------------------------------

async function useToken(token) {
  state.token = token;
  if (state.stopOrders) { state.stopOrders(); state.stopOrders = null; }
  try {
    const live = await api('/v1/orders/live', { token });
    state.shopper = live.shopper_id;
    $('who').textContent = `${t('who')} ${live.shopper_id}`;
    state.orders = new Map(live.orders.slice().reverse().map((order) => [order.id, order]));
    renderOrders();
    // A stream per shopper only once there is an order to follow: in a surge most pages have none.
    if (state.orders.size > 0) trackOrders();
    refreshWallet();
  } catch (error) {
    systemNote(error.message, 'error');
  }
}

async function start() {
  applyLanguage();
  $('lang').addEventListener('click', () => { state.lang = state.lang === 'zh' ? 'en' : 'zh'; stored.set('lang', state.lang); applyLanguage(); });
  $('composer').addEventListener('submit', (event) => {
    event.preventDefault();
    const input = $('message');
    const message = input.value.trim();
    if (!message || state.busy) return;
    input.value = '';
    send(message);
  });
  $('token-form').addEventListener('submit', (event) => {
    event.preventDefault();
    const token = $('token').value.trim();
    stored.set('shopper.token', token);
    if (token) useToken(token);
  });
  let token = new URLSearchParams(location.hash.slice(1)).get('token') || stored.get('shopper.token');
  if (!token) {
    try {
      const guest = await api('/v1/guest_token', { method: 'POST', key: null, body: {} });
      token = guest.token;
    } catch {
      systemNote(t('no-token'));
      $('wallet').replaceChildren();
      return;
    }
  }
  stored.set('shopper.token', token);
  $('token').value = token;
  useToken(token);
}

start();
