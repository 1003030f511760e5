// The test page: one <ConnectButton> whose outcome is recorded in window.__outcomes for the test to read.
// Plain JavaScript (no JSX), bundled with esbuild from the package's source by connect-page.ts.
import { createElement as h } from 'react';
import { createRoot } from 'react-dom/client';
import { ConnectButton } from '@authpipe/react';

const params = new URLSearchParams(window.location.search);
const provider = params.get('provider') ?? 'gmail';
const user = params.get('user') ?? 'user_1';
window.__outcomes = [];
window.__sessions = 0;

function getSession() {
  window.__sessions += 1;
  return fetch(`/session?provider=${encodeURIComponent(provider)}&user=${encodeURIComponent(user)}`, { method: 'POST' }).then((res) => {
    if (!res.ok) throw new Error(`session: HTTP ${res.status}`);
    return res.json();
  });
}

createRoot(document.getElementById('root')).render(
  h(ConnectButton, {
    provider,
    getSession,
    onSuccess: (connection) => window.__outcomes.push({ type: 'success', connection }),
    onError: (error) => window.__outcomes.push({ type: 'error', reason: error.reason, message: error.message, name: error.name }),
    onCancel: () => window.__outcomes.push({ type: 'cancel' }),
  }),
);
