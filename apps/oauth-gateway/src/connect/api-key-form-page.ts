import { randomBytes } from 'node:crypto';

const escapeHtml = (s: string): string =>
  s.replace(/[&<>"']/g, (c) => ({ '&': '&amp;', '<': '&lt;', '>': '&gt;', '"': '&quot;', "'": '&#39;' })[c]!);

/**
 * The page where a user enters an API key (ClickSend). It posts to the gateway itself; the session token in the
 * form is the single-use proof that the tenant started this flow. No script, nothing loaded from elsewhere.
 */
export function renderApiKeyForm(options: { providerName: string; requiresUsername: boolean; sessionToken: string }): { html: string; csp: string } {
  const nonce = randomBytes(16).toString('base64');
  const name = escapeHtml(options.providerName);
  const html = `<!doctype html>
<html lang="en">
<head>
<meta charset="utf-8">
<meta name="viewport" content="width=device-width, initial-scale=1">
<title>Connect ${name} · Authpipe</title>
<style nonce="${nonce}">
body { font: 16px/1.5 system-ui, sans-serif; margin: 0; display: grid; place-items: center; min-height: 100vh; background: #f6f7f9; color: #1d2330; }
main { background: #fff; padding: 2rem 2.5rem; border-radius: 12px; box-shadow: 0 1px 4px rgba(0,0,0,.08); width: min(26rem, 90vw); }
label { display: block; margin: 1rem 0 .25rem; font-weight: 600; }
input { width: 100%; box-sizing: border-box; padding: .55rem .7rem; font: inherit; border: 1px solid #c5cad3; border-radius: 8px; }
button { margin-top: 1.4rem; width: 100%; padding: .65rem; font: inherit; font-weight: 600; color: #fff; background: #2454d6; border: 0; border-radius: 8px; cursor: pointer; }
p.hint { color: #5b6475; font-size: .9rem; }
</style>
</head>
<body>
<main>
<h1>Connect ${name}</h1>
<p class="hint">Your key is checked with ${name}, then stored encrypted. It is never shown again.</p>
<form method="post" action="/v1/connect/api-key" autocomplete="off">
<input type="hidden" name="session" value="${escapeHtml(options.sessionToken)}">
${options.requiresUsername ? '<label for="username">Username</label>\n<input id="username" name="username" required maxlength="512">' : ''}
<label for="apiKey">API key</label>
<input id="apiKey" name="apiKey" type="password" required maxlength="4096">
<button type="submit">Connect</button>
</form>
</main>
</body>
</html>`;
  const csp = `default-src 'none'; style-src 'nonce-${nonce}'; form-action 'self'; base-uri 'none'; frame-ancestors 'none'`;
  return { html, csp };
}
