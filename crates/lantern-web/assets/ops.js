// The operator's live dashboard: one snapshot a second from /v1/ops/live (server-sent events),
// drawn into tiles, SVG charts and tables at most once per animation frame. Campaign controls
// (pause, resume, pace, extend validity, top up) each open a confirmation first; the gateway
// audits every change and the audit list is part of the snapshot.
import { api, follow, coalesce, yuan, el, tokenForm } from './common.js';
import { LineChart } from './charts.js';

const $ = (id) => document.getElementById(id);
const state = { token: '', snapshot: null, stop: null, campaignViews: new Map() };

const ordersChart = new LineChart($('orders-chart'), { label: 'orders per second, last two minutes', series: [{ name: 'orders/s', color: '#b91c1c' }] });
const admissionChart = new LineChart($('admission-chart'), {
  label: 'admitted, queued and shed requests per second, last two minutes',
  series: [{ name: 'admitted', color: '#166534' }, { name: 'queued', color: '#b45309' }, { name: 'shed', color: '#991b1b' }],
});
const latencyChart = new LineChart($('latency-chart'), {
  label: 'p50 and p99 request latency in milliseconds, last two minutes',
  series: [{ name: 'p50', color: '#1d4ed8' }, { name: 'p99', color: '#7c3aed' }],
  format: (value) => `${value}`,
});

function ms(us) {
  if (us >= 1000) return `${Math.round(us / 1000)} ms`;
  return `${(us / 1000).toFixed(1)} ms`;
}

const render = coalesce(() => {
  const s = state.snapshot;
  if (!s) return;
  $('orders-per-s').textContent = (s.orders_per_ks / 1000).toFixed(1);
  $('orders-total').textContent = s.orders_total.toLocaleString();
  $('orders-by-channel').textContent = s.orders_by_channel.map((c) => `${c.channel} ${c.orders.toLocaleString()}`).join(' · ');
  $('latency').textContent = `${ms(s.latency_p50_us)} / ${ms(s.latency_p99_us)}`;
  $('in-flight').textContent = `${s.in_flight} / ${s.concurrency_limit}`;
  $('waiting-total').textContent = s.classes.reduce((sum, c) => sum + c.waiting, 0).toLocaleString();
  $('llm').textContent = s.llm.configured ? `${s.llm.llm_calls} · ${(s.llm.fallback_permille / 10).toFixed(1)}%` : 'off';
  $('queue-depth').textContent = String(s.ledger_queue_depth);
  $('turns').textContent = s.llm.chat_turns.toLocaleString();
  const hooks = s.webhooks;
  $('webhooks').textContent = hooks ? `${hooks.delivered.toLocaleString()} · ${hooks.backlog.toLocaleString()}` : 'off';
  $('webhooks-detail').textContent = hooks
    ? `refused ${hooks.refused} · set aside ${hooks.given_up} · retries ${hooks.retries} · skipped ${hooks.skipped}`
    : 'no acp.webhook_url';
  renderBackup(s.backup, s.backups_on);
  renderStart(s.start);
  ordersChart.draw();
  admissionChart.draw();
  latencyChart.draw();
  $('classes').replaceChildren(...s.classes.map((c) => el('tr', {},
    el('th', { scope: 'row' }, c.class),
    ...[c.admitted_per_s, c.queued_per_s, c.shed_per_s, c.waiting, c.admitted, c.queued, c.shed].map((v) => el('td', { class: 'num' }, v.toLocaleString())))));
  $('backlog').replaceChildren(...(s.backlogged_merchants.length ? s.backlogged_merchants.map((m) => el('tr', {},
    el('td', {}, m.name), el('td', { class: 'num' }, `${m.open_orders} / ${m.open_orders_max}`), el('td', {}, el('span', { class: `status ${m.status}` }, m.status))))
    : [el('tr', {}, el('td', { colspan: 3, class: 'muted' }, 'no shop has a backlog'))]));
  for (const campaign of s.campaigns) campaignView(campaign).update(campaign);
  $('audit').replaceChildren(...(s.audit.length ? s.audit.map((a) => el('tr', {},
    el('td', {}, new Date(a.at).toLocaleString()), el('td', {}, a.who), el('td', {}, a.campaign_id ?? '—'), el('td', {}, `${a.detail}${a.replayed ? ' (repeat)' : ''}`)))
    : [el('tr', {}, el('td', { colspan: 4, class: 'muted' }, 'no changes yet'))]));
});

function onSnapshot(snapshot) {
  state.snapshot = snapshot;
  ordersChart.push([snapshot.orders_per_ks / 1000]);
  const sum = (key) => snapshot.classes.reduce((total, c) => total + c[key], 0);
  admissionChart.push([sum('admitted_per_s'), sum('queued_per_s'), sum('shed_per_s')]);
  latencyChart.push([snapshot.latency_p50_us / 1000, snapshot.latency_p99_us / 1000]);
  for (const campaign of snapshot.campaigns) campaignView(campaign).record(campaign);
  render();
}

// ---- the last start ------------------------------------------------------------------------
// What a restart costs now: it grows with the journal, and the operator should see it before
// launch night does.
function renderStart(start) {
  if (!start) return;
  $('start').textContent = `${(start.ready_ms / 1000).toFixed(1)} s`;
  $('start-detail').textContent = start.replayed_commands === 0
    ? 'a new journal: nothing to replay'
    : `${start.replayed_commands.toLocaleString()} journal commands replayed in ${(start.replay_ms / 1000).toFixed(1)} s`;
}

// ---- backups ---------------------------------------------------------------------------------

function size(bytes) {
  if (bytes < 1024 * 1024) return `${Math.ceil(bytes / 1024)} KiB`;
  return `${(bytes / (1024 * 1024)).toFixed(1)} MiB`;
}

function renderBackup(backup, on) {
  $('backup-now').disabled = !on || (backup && backup.state === 'running');
  if (!on) {
    $('backup').textContent = 'off';
    $('backup-detail').textContent = 'no data directory to back up';
    return;
  }
  if (!backup) {
    $('backup').textContent = 'none yet';
    $('backup-detail').textContent = 'orders keep flowing while one runs';
    return;
  }
  const folder = backup.directory.split('/').pop();
  if (backup.state === 'running') {
    const percent = backup.batches_in_journal ? Math.floor((100 * backup.batches_copied) / backup.batches_in_journal) : 0;
    $('backup').textContent = `running ${percent}%`;
    $('backup-detail').textContent = `${size(backup.bytes_copied)} copied to ${folder}`;
  } else if (backup.state === 'done') {
    $('backup').textContent = 'done';
    $('backup-detail').textContent = `${new Date(backup.finished_at).toLocaleString()} · ${size(backup.bytes_copied)} · ${backup.directory}`;
  } else {
    $('backup').textContent = 'failed';
    $('backup-detail').textContent = backup.error || 'no reason given';
  }
}

$('backup-now').addEventListener('click', async () => {
  const result = $('backup-result');
  if (!(await confirmChange('Back up the journal now: a copy, with the token secret, into a new folder of the backup directory. Orders keep flowing while it runs.'))) {
    result.textContent = 'Not started.';
    return;
  }
  try {
    const backup = await api('/v1/ops/backups', { method: 'POST', token: state.token, body: {} });
    result.textContent = `Started: ${backup.directory.split('/').pop()}.`;
    result.className = 'label notice';
  } catch (error) {
    result.textContent = `Refused: ${error.message}`;
    result.className = 'label notice error';
  }
});

// ---- campaigns and their controls -------------------------------------------------------------

/** Asks before a change; resolves true only on Confirm. */
function confirmChange(text) {
  const dialog = $('confirm');
  $('confirm-text').textContent = text;
  dialog.returnValue = '';
  dialog.showModal();
  return new Promise((resolve) => dialog.addEventListener('close', () => resolve(dialog.returnValue === 'yes'), { once: true }));
}

async function change(campaign, action, body, description, result) {
  if (!(await confirmChange(`${description} — campaign “${campaign.name}” (${campaign.id}).`))) {
    result.textContent = 'Not changed.';
    return;
  }
  try {
    await api(`/v1/campaigns/${encodeURIComponent(campaign.id)}/${action}`, { method: 'POST', token: state.token, body });
    result.textContent = `Done: ${description}.`;
    result.className = 'notice';
  } catch (error) {
    result.textContent = `Refused: ${error.message}`;
    result.className = 'notice error';
  }
}

function campaignView(campaign) {
  const known = state.campaignViews.get(campaign.id);
  if (known) return known;
  const id = campaign.id;
  const figures = el('p', { 'aria-live': 'off' });
  const status = el('span', { class: 'status' });
  const bar = el('div', { class: 'bar-fill' });
  const coupons = el('p', {});
  const result = el('p', { role: 'status', class: 'muted' });
  let current = campaign;
  const pace = el('input', { id: `${id}-pace`, type: 'number', min: '0', step: '1', inputmode: 'numeric', value: '0' });
  const ends = el('input', { id: `${id}-ends`, type: 'datetime-local' });
  const topUp = el('input', { id: `${id}-topup`, type: 'number', min: '1', step: '1', inputmode: 'numeric', value: '10000' });
  const controls = el('div', { class: 'controls' },
    el('div', { class: 'row' },
      el('button', { type: 'button', class: 'danger', id: `${id}-pause`, onclick: () => change(current, 'pause', {}, 'Pause: no new coupons are claimed; claimed ones stay usable', result) }, 'Pause campaign'),
      el('button', { type: 'button', id: `${id}-resume`, onclick: () => change(current, 'resume', {}, 'Resume: coupons can be claimed again', result) }, 'Resume campaign')),
    el('div', { class: 'row' }, el('label', { for: pace.id }, 'Pace (coupons/s, 0 = unlimited)'), pace,
      el('button', { type: 'button', class: 'secondary', onclick: () => {
        const perSecond = Math.max(0, Math.trunc(Number(pace.value) || 0));
        change(current, 'edit', { pace: { coupons_per_s: perSecond } }, perSecond ? `Set the pace to ${perSecond} coupons a second` : 'Remove the pace limit', result);
      } }, 'Set pace')),
    el('div', { class: 'row' }, el('label', { for: ends.id }, 'Valid until'), ends,
      el('button', { type: 'button', class: 'secondary', onclick: () => {
        if (!ends.value) { result.textContent = 'Choose a date and time first.'; return; }
        const at = new Date(ends.value);
        change(current, 'edit', { ends_at: at.toISOString().replace(/\.\d{3}Z$/, 'Z') }, `Move the end of validity to ${at.toLocaleString()}`, result);
      } }, 'Extend validity')),
    el('div', { class: 'row' }, el('label', { for: topUp.id }, 'Top up (yuan)'), topUp,
      el('button', { type: 'button', class: 'secondary', onclick: () => {
        const yuanAmount = Math.trunc(Number(topUp.value) || 0);
        if (yuanAmount <= 0) { result.textContent = 'A top-up must be at least ¥1.'; return; }
        change(current, 'edit', { top_up: yuanAmount * 100 }, `Add ${yuan(yuanAmount * 100)} to the budget`, result);
      } }, 'Top up budget')));
  const burnBox = el('div', { class: 'burn' });
  const burn = new LineChart(burnBox, { label: `budget left of ${campaign.name}, last two minutes`, series: [{ name: 'budget left (¥)', color: '#b91c1c' }], format: (value) => `¥${value.toLocaleString()}` });
  const panel = el('article', { class: 'card', 'data-campaign': id },
    el('h3', {}, `${campaign.name} (${id}) `, status),
    el('div', { class: 'bar-track', role: 'img', 'aria-label': 'budget left' }, bar),
    figures, burnBox, coupons, controls, result);
  $('campaigns').append(panel);
  const view = {
    record(c) { burn.push([c.budget_available / 100]); },
    update(c) {
      burn.draw();
      current = c;
      status.textContent = c.status;
      status.className = `status ${c.status}`;
      const left = c.budget_total > 0 ? Math.max(0, Math.min(100, (c.budget_available / c.budget_total) * 100)) : 0;
      bar.style.width = `${left.toFixed(2)}%`;
      bar.parentElement.setAttribute('aria-label', `budget left ${left.toFixed(1)}%`);
      const exhaustion = c.exhausts_at ? `runs out about ${new Date(c.exhausts_at).toLocaleString()}` : 'not burning';
      figures.textContent = `Budget left ${yuan(c.budget_available)} of ${yuan(c.budget_total)} · burning ${yuan(c.burn_fen_per_s)}/s · ${exhaustion} · valid until ${new Date(c.ends_at).toLocaleString()}`;
      coupons.textContent = `Coupons: ${c.coupons_issued.toLocaleString()} claimed, ${c.coupons_redeemed.toLocaleString()} redeemed · in wallets ${yuan(c.claimed_fen)} · held by quotes ${yuan(c.held_fen)} · redeemed ${yuan(c.redeemed_fen)}`;
      if (!ends.value) ends.value = localInput(new Date(c.ends_at));
    },
  };
  state.campaignViews.set(id, view);
  return view;
}

/** A date as a datetime-local input's value, in local time. */
function localInput(date) {
  const pad = (n) => String(n).padStart(2, '0');
  return `${date.getFullYear()}-${pad(date.getMonth() + 1)}-${pad(date.getDate())}T${pad(date.getHours())}:${pad(date.getMinutes())}`;
}

// ---- connection -------------------------------------------------------------------------------

function connect(token) {
  state.token = token;
  if (state.stop) state.stop();
  const connection = $('connection');
  state.stop = follow('/v1/ops/live', {
    token,
    onEvent: (name, data) => {
      if (name === 'snapshot') { connection.textContent = 'live'; connection.className = 'status open'; onSnapshot(data); }
    },
    onState: (which, error) => {
      if (which === 'retrying') { connection.textContent = 'reconnecting…'; connection.className = 'status busy'; }
      if (which === 'stopped' && error) { connection.textContent = `refused: ${error.message}`; connection.className = 'status paused'; }
    },
  });
}

tokenForm($('token-form'), 'operator.token', connect);
