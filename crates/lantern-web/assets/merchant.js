// The merchant console: the shop's newest orders live from /v1/merchant/live (server-sent
// events), each with the next steps it allows (accept or reject, ready, dispatch, delivered),
// the open / busy / paused switch and the capacity setting. Rows are updated in place, at most
// once per animation frame, so a busy shop's stream does not rebuild the page.
import { api, follow, coalesce, yuan, el, tokenForm } from './common.js';

const $ = (id) => document.getElementById(id);
const state = { token: '', view: null, stop: null, rows: new Map(), pending: new Set() };

/** What a shop may do next with an order in each state. */
const NEXT = {
  placed: [['accept', 'Accept', ''], ['reject', 'Reject', 'danger']],
  accepted: [['ready', 'Ready', '']],
  ready: [['dispatch', 'Dispatch', '']],
  delivering: [['deliver', 'Delivered', '']],
};

function orderRow(order) {
  const actions = (NEXT[order.status] || []).map(([event, label, kind]) => el('button', {
    type: 'button', class: kind || undefined, 'data-event': event,
    'aria-label': `${label} order ${order.id}`,
    disabled: state.pending.has(order.id),
    onclick: () => advance(order, event),
  }, label));
  const li = el('li', { class: 'card', 'data-order': order.id },
    el('div', { class: 'row' }, el('strong', { class: 'grow' }, order.id), el('span', { class: `status ${order.status}`, 'data-order-status': order.id }, order.status)),
    el('ul', {}, ...order.line_items.map((line) => el('li', {}, `${line.quantity} × ${line.name} — ${yuan(line.total)}`))),
    el('p', { class: 'muted' }, `Total ${yuan(order.total)}${order.discount ? ` (coupon −${yuan(order.discount)})` : ''} · placed ${new Date(order.created_at).toLocaleTimeString()}`),
    actions.length ? el('div', { class: 'row' }, ...actions) : null);
  li.dataset.version = `${order.status}|${state.pending.has(order.id)}`;
  return li;
}

const render = coalesce(() => {
  const view = state.view;
  if (!view) return;
  const shop = view.merchant;
  $('shop-name').textContent = `${shop.name} · console`;
  $('shop-figures').textContent = `Status ${shop.status} · ${shop.open_orders} open of at most ${shop.open_orders_max} · ${shop.orders_per_minute} orders/min · new orders wait about ${Math.ceil(shop.eta_ms / 60000)} min`;
  for (const button of document.querySelectorAll('#status-switch button')) {
    const on = button.dataset.status === shop.status;
    button.className = on ? '' : 'secondary';
    button.setAttribute('aria-pressed', on ? 'true' : 'false');
  }
  const capacityForm = $('capacity-form');
  if (!capacityForm.contains(document.activeElement)) {
    capacityForm.elements.orders_per_minute.value = shop.orders_per_minute;
    capacityForm.elements.open_orders_max.value = shop.open_orders_max;
  }
  const list = $('orders');
  $('orders-state').hidden = view.orders.length > 0;
  const seen = new Set();
  view.orders.forEach((order, index) => {
    seen.add(order.id);
    let row = state.rows.get(order.id);
    const version = `${order.status}|${state.pending.has(order.id)}`;
    if (!row || row.dataset.version !== version) {
      const fresh = orderRow(order);
      if (row) row.replaceWith(fresh); else list.append(fresh);
      row = fresh;
      state.rows.set(order.id, row);
    }
    if (list.children[index] !== row) list.insertBefore(row, list.children[index] || null);
  });
  for (const [id, row] of state.rows) {
    if (!seen.has(id)) { row.remove(); state.rows.delete(id); }
  }
});

async function advance(order, event) {
  state.pending.add(order.id);
  render();
  try {
    const updated = await api(`/v1/merchant/orders/${encodeURIComponent(order.id)}/${event}`, { method: 'POST', token: state.token, body: {} });
    const known = state.view.orders.findIndex((o) => o.id === updated.id);
    if (known >= 0) state.view.orders[known] = updated;
    say(`${updated.id}: ${updated.status}`);
  } catch (error) {
    say(`${order.id}: ${error.message}`, true);
  } finally {
    state.pending.delete(order.id);
    render();
  }
}

function say(text, bad = false) {
  const result = $('result');
  result.textContent = text;
  result.className = bad ? 'notice error' : 'notice';
}

async function setStatus(status) {
  try {
    const shop = await api('/v1/merchant/status', { method: 'POST', token: state.token, body: { status } });
    if (state.view) state.view.merchant = shop;
    say(`The shop is ${shop.status}.`);
    render();
  } catch (error) {
    say(error.message, true);
  }
}

async function setCapacity(event) {
  event.preventDefault();
  const form = event.target;
  const body = { orders_per_minute: Math.trunc(Number(form.elements.orders_per_minute.value)), open_orders_max: Math.trunc(Number(form.elements.open_orders_max.value)) };
  try {
    const shop = await api('/v1/merchant/capacity', { method: 'POST', token: state.token, body });
    if (state.view) state.view.merchant = shop;
    say(`Capacity saved: ${shop.orders_per_minute} orders/min, ${shop.open_orders_max} open at most.`);
    render();
  } catch (error) {
    say(error.message, true);
  }
}

function connect(token) {
  state.token = token;
  if (state.stop) state.stop();
  const connection = $('connection');
  state.stop = follow('/v1/merchant/live', {
    token,
    onEvent: (name, data) => {
      if (name === 'orders') { connection.textContent = 'live'; connection.className = 'status open'; state.view = data; render(); }
      if (name === 'error') say(data.message, true);
    },
    onState: (which, error) => {
      if (which === 'retrying') { connection.textContent = 'reconnecting…'; connection.className = 'status busy'; }
      if (which === 'stopped' && error) { connection.textContent = `refused: ${error.message}`; connection.className = 'status paused'; }
    },
  });
}

for (const button of document.querySelectorAll('#status-switch button')) button.addEventListener('click', () => setStatus(button.dataset.status));
$('capacity-form').addEventListener('submit', setCapacity);
tokenForm($('token-form'), 'merchant.token', connect);
