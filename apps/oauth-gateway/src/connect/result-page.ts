import { randomBytes } from 'node:crypto';

/** What the result page tells its opener window. Never a token: only ids and a reason. */
export type ConnectOutcome =
  | { status: 'success'; connectionId: string; provider: string; userId: string; scopes: string[]; metadata?: Record<string, string> }
  | { status: 'error'; reason: string; message: string; provider?: string };

const escapeHtml = (s: string): string =>
  s.replace(/[&<>"']/g, (c) => ({ '&': '&amp;', '<': '&lt;', '>': '&gt;', '"': '&quot;', "'": '&#39;' })[c]!);

/** JSON safe to embed in a <script>: no `</script>` or U+2028 can break out. */
const scriptJson = (value: unknown): string =>
  JSON.stringify(value).replace(/</g, '\\u003c').replace(/\u2028/g, '\\u2028').replace(/\u2029/g, '\\u2029');

/**
 * The page the browser lands on after the flow: readable on its own, and when opened as a popup it posts the
 * outcome to its opener, only to the origin the tenant named when it created the session, then closes.
 */
export function renderResultPage(outcome: ConnectOutcome, returnOrigin?: string): { html: string; csp: string } {
  const nonce = randomBytes(16).toString('base64');
  const ok = outcome.status === 'success';
  const heading = ok ? 'Connected' : 'Not connected';
  const text = ok ? `Your ${outcome.provider} account is connected. You can close this window.` : outcome.message;
  const script = returnOrigin
    ? `<script nonce="${nonce}">
(function () {
  var message = ${scriptJson({ type: 'authpipe:connect', ...outcome })};
  if (window.opener) { window.opener.postMessage(message, ${scriptJson(returnOrigin)}); window.close(); }
})();
</script>`
    : '';
  const html = `<!doctype html>
<html lang="en">
<head>
<meta charset="utf-8">
<meta name="viewport" content="width=device-width, initial-scale=1">
<title>${heading} · Authpipe</title>
<style nonce="${nonce}">
body { font: 16px/1.5 system-ui, sans-serif; margin: 0; display: grid; place-items: center; min-height: 100vh; background: #f6f7f9; color: #1d2330; }
main { background: #fff; padding: 2rem 2.5rem; border-radius: 12px; box-shadow: 0 1px 4px rgba(0,0,0,.08); max-width: 28rem; }
h1 { margin: 0 0 .5rem; font-size: 1.4rem; color: ${ok ? '#17663a' : '#a11b1b'}; }
code { font-size: .85rem; color: #5b6475; }
</style>
</head>
<body>
<main role="${ok ? 'status' : 'alert'}">
<h1>${heading}</h1>
<p>${escapeHtml(text)}</p>
${ok ? '' : `<p><code>error: ${escapeHtml(outcome.reason)}</code></p>`}
</main>
${script}
</body>
</html>`;
  const csp = `default-src 'none'; script-src 'nonce-${nonce}'; style-src 'nonce-${nonce}'; base-uri 'none'; form-action 'none'; frame-ancestors 'none'`;
  return { html, csp };
}
