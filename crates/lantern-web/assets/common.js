// Shared by the three pages: the JSON API with a bearer token, server-sent events read with
// fetch (EventSource cannot send an Authorization header), live streams that reconnect, render
// coalescing, money, and the two languages.

/** A dropped live stream reconnects after this long, doubling on errors up to the maximum. */
export const RECONNECT_DELAY_MS = 1000;
export const RECONNECT_DELAY_MAX_MS = 15000;
/** A read refused with 429 is tried again this many times, waiting at most this long each
 * (following its waiting-room ticket when it got one). */
export const READ_RETRIES_MAX = 4;
export const READ_RETRY_WAIT_MAX_MS = 5000;
/** Largest SSE event accepted (bytes); a longer one ends the stream. */
export const SSE_EVENT_BYTES_MAX = 1 << 20;

export function newKey() {
  if (globalThis.crypto && typeof crypto.randomUUID === 'function') return crypto.randomUUID();
  return `k-${Date.now().toString(36)}-${Math.random().toString(36).slice(2)}`;
}

/** An API error as the gateway's JSON error body, with the HTTP status. */
export class ApiError extends Error {
  constructor(status, body) {
    super(body && body.message ? body.message : `HTTP ${status}`);
    this.status = status;
    this.body = body || {};
    this.code = this.body.code || `http_${status}`;
  }
}

async function errorOf(response) {
  let body = null;
  try { body = await response.json(); } catch { body = null; }
  return new ApiError(response.status, body);
}

/** One JSON request. POSTs carry a fresh Idempotency-Key unless one is given. */
export async function api(path, { method = 'GET', token, body, headers = {}, key } = {}) {
  const all = { Accept: 'application/json', ...headers };
  if (token) all.Authorization = `Bearer ${token}`;
  if (method === 'POST') {
    all['Content-Type'] = 'application/json';
    if (key !== null) all['Idempotency-Key'] = key || newKey();
  }
  for (let attempt = 0; ; attempt += 1) {
    const response = await fetch(path, { method, headers: all, body: method === 'POST' ? JSON.stringify(body || {}) : undefined });
    if (response.ok) return response.status === 204 ? null : response.json();
    const error = await errorOf(response);
    // A read turned away by a full gateway is asked again after the time it was told, a few
    // times, with its waiting-room ticket when it was given one (so the place it waited for is
    // used, not left to lapse while holding a slot).
    if (method !== 'GET' || response.status !== 429 || attempt >= READ_RETRIES_MAX) throw error;
    if (error.body.ticket) {
      // Follow the ticket and come back the moment it is admitted: an admitted ticket holds a
      // slot for us, and every moment we sleep on it is a moment nobody else can use it.
      all['Lantern-Ticket'] = error.body.ticket;
      if (!(await ticketAdmitted(error.body.ticket, READ_RETRY_WAIT_MAX_MS))) delete all['Lantern-Ticket'];
    } else {
      const waitMs = Math.min(READ_RETRY_WAIT_MAX_MS, Math.max(250, error.body.retry_after_ms || Number(response.headers.get('retry-after')) * 1000 || 1000));
      await new Promise((resolve) => setTimeout(resolve, waitMs));
    }
  }
}

/**
 * Long-polls a waiting-room ticket until it is admitted (true), gone (false) or `maxMs` passes
 * (true: try with it anyway, the gateway answers with the current place).
 */
export async function ticketAdmitted(ticket, maxMs) {
  const deadline = Date.now() + maxMs;
  while (Date.now() < deadline) {
    const waitMs = Math.max(100, Math.min(5000, deadline - Date.now()));
    let state;
    try {
      const response = await fetch(`/v1/waiting_room/${encodeURIComponent(ticket)}?wait_ms=${waitMs}`);
      if (!response.ok) return false;
      state = await response.json();
    } catch {
      return true;
    }
    if (state.status === 'admitted') return true;
    if (state.status === 'gone') return false;
  }
  return true;
}

/**
 * Reads a server-sent event stream from `path` and calls `onEvent(name, data)` for each event
 * (data parsed as JSON when it is). Resolves when the server ends the stream; rejects with an
 * ApiError when the answer is not 200.
 */
export async function sse(path, { method = 'GET', token, body, headers = {}, signal, onEvent }) {
  const all = { Accept: 'text/event-stream', ...headers };
  if (token) all.Authorization = `Bearer ${token}`;
  if (method === 'POST') all['Content-Type'] = 'application/json';
  const response = await fetch(path, { method, headers: all, body: method === 'POST' ? JSON.stringify(body) : undefined, signal });
  if (!response.ok) throw await errorOf(response);
  const reader = response.body.getReader();
  const decoder = new TextDecoder();
  let buffer = '';
  for (;;) {
    const { value, done } = await reader.read();
    if (done) break;
    buffer += decoder.decode(value, { stream: true });
    let end;
    while ((end = buffer.search(/\r?\n\r?\n/)) >= 0) {
      const block = buffer.slice(0, end);
      buffer = buffer.slice(end).replace(/^\r?\n\r?\n/, '');
      dispatch(block, onEvent);
    }
    if (buffer.length > SSE_EVENT_BYTES_MAX) {
      reader.cancel();
      throw new ApiError(0, { code: 'event_too_large', message: 'an event was larger than this page accepts' });
    }
  }
}

function dispatch(block, onEvent) {
  let name = 'message';
  const data = [];
  for (const line of block.split(/\r?\n/)) {
    if (line.startsWith(':')) continue; // keep-alive comment
    const colon = line.indexOf(':');
    const field = colon < 0 ? line : line.slice(0, colon);
    const value = colon < 0 ? '' : line.slice(colon + 1).replace(/^ /, '');
    if (field === 'event') name = value;
    else if (field === 'data') data.push(value);
  }
  if (data.length === 0) return;
  const text = data.join('\n');
  let parsed = text;
  try { parsed = JSON.parse(text); } catch { /* plain text */ }
  onEvent(name, parsed);
}

/**
 * Keeps a live stream open: reconnects when the server ends it (streams have a lifetime) or the
 * network drops, backing off on errors. `onState('live' | 'retrying' | 'stopped', error)` tells
 * the page. Returns a function that stops it.
 */
export function follow(path, { token, onEvent, onState = () => {} }) {
  const controller = new AbortController();
  let delay = RECONNECT_DELAY_MS;
  let stopped = false;
  (async () => {
    while (!stopped) {
      try {
        onState('live');
        await sse(path, { token, signal: controller.signal, onEvent: (name, data) => { delay = RECONNECT_DELAY_MS; onEvent(name, data); } });
        delay = RECONNECT_DELAY_MS;
      } catch (error) {
        if (stopped) break;
        onState('retrying', error);
        if (error instanceof ApiError && (error.status === 401 || error.status === 403)) {
          onState('stopped', error);
          break;
        }
        delay = Math.min(delay * 2, RECONNECT_DELAY_MAX_MS);
      }
      if (!stopped) await new Promise((resolve) => setTimeout(resolve, delay));
    }
  })();
  return () => { stopped = true; controller.abort(); onState('stopped'); };
}

/**
 * Coalesces renders: however often `schedule()` is called, `render()` runs at most once per
 * animation frame, so a burst of live updates costs one layout.
 */
export function coalesce(render) {
  let pending = false;
  return function schedule() {
    if (pending) return;
    pending = true;
    requestAnimationFrame(() => { pending = false; render(); });
  };
}

/** Integer fen as yuan, without floats: 1250 -> "¥12.50". */
export function yuan(fen) {
  const sign = fen < 0 ? '-' : '';
  const abs = Math.abs(Math.trunc(fen));
  return `${sign}¥${Math.floor(abs / 100)}.${String(abs % 100).padStart(2, '0')}`;
}

/** Milliseconds as a short duration: "45 s", "3 min". */
export function duration(ms, lang) {
  const seconds = Math.max(0, Math.ceil(ms / 1000));
  if (seconds < 90) return lang === 'zh' ? `${seconds} 秒` : `${seconds} s`;
  const minutes = Math.ceil(seconds / 60);
  return lang === 'zh' ? `${minutes} 分钟` : `${minutes} min`;
}

/** Creates an element: el('button', {class: 'x', onclick}, 'text', child). */
export function el(tag, attributes = {}, ...children) {
  const node = document.createElement(tag);
  for (const [name, value] of Object.entries(attributes)) {
    if (value === undefined || value === null || value === false) continue;
    if (name.startsWith('on')) node.addEventListener(name.slice(2), value);
    else if (name === 'class') node.className = value;
    else if (name === 'text') node.textContent = value;
    else node.setAttribute(name, value === true ? '' : value);
  }
  for (const child of children) {
    if (child === null || child === undefined || child === false) continue;
    node.append(child instanceof Node ? child : String(child));
  }
  return node;
}

/** A value kept in localStorage under `lantern.<name>`; storage may be off (private mode). */
export const stored = {
  get(name) { try { return localStorage.getItem(`lantern.${name}`) || ''; } catch { return ''; } },
  set(name, value) { try { if (value) localStorage.setItem(`lantern.${name}`, value); else localStorage.removeItem(`lantern.${name}`); } catch { /* not kept */ } },
};

/** The page's language: the stored choice, else the browser's. */
export function initialLanguage() {
  const chosen = stored.get('lang');
  if (chosen === 'en' || chosen === 'zh') return chosen;
  return (navigator.language || 'en').toLowerCase().startsWith('zh') ? 'zh' : 'en';
}

/**
 * Wires a token form (`form` with an input named `token`) kept in localStorage under
 * `storageName`; calls `onToken(token)` at start when one is stored and on each submit.
 */
export function tokenForm(form, storageName, onToken) {
  const input = form.elements.token;
  input.value = stored.get(storageName);
  form.addEventListener('submit', (event) => {
    event.preventDefault();
    const token = input.value.trim();
    stored.set(storageName, token);
    onToken(token);
  });
  if (input.value) onToken(input.value);
}
