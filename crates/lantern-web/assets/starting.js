// The page a gateway shows while it starts (503 at /, /ops and /merchant): it asks /healthz once
// a second what the start is doing, and opens the real page as soon as the gateway answers as
// itself (`ok`) instead of `starting`.

const POLL_MS = 1000;
const state = document.getElementById('starting-state');
const bar = document.getElementById('starting-bar');
const connection = document.getElementById('connection');

async function poll() {
  try {
    const answer = await fetch('/healthz', { cache: 'no-store' });
    const body = await answer.json();
    if (body.status !== 'starting') {
      connection.textContent = 'ready';
      location.reload();
      return;
    }
    if (typeof body.detail === 'string') state.textContent = `Lantern is ${body.detail}.`;
    if (typeof body.percent === 'number') bar.style.width = `${Math.min(100, body.percent)}%`;
  } catch {
    state.textContent = 'No answer from the gateway yet; still trying.';
  }
  setTimeout(poll, POLL_MS);
}

poll();
