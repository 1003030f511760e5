'use strict';
// The demo's stand-in for ClickSend's account endpoint (GET /v3/account, HTTP Basic username:api_key), loopback
// only, with one account; the same contract as test/support/fake-clicksend.ts.
const http = require('node:http');

function startFakeClickSend({ accounts }) {
  const server = http.createServer((req, res) => {
    req.resume();
    const match = /^Basic\s+(\S+)$/i.exec(req.headers.authorization ?? '');
    const [username, ...rest] = match ? Buffer.from(match[1], 'base64').toString('utf8').split(':') : [];
    const ok = req.url.replace(/\/+$/, '') === '/v3/account' && username && accounts[username] === rest.join(':');
    const status = ok ? 200 : req.url.startsWith('/v3/account') ? 401 : 404;
    res.writeHead(status, { 'content-type': 'application/json', 'cache-control': 'no-store' });
    res.end(JSON.stringify(ok ? { http_code: 200, response_code: 'SUCCESS', data: { user_id: 1, username, balance: '12.50' } } : { http_code: status, response_code: status === 401 ? 'INVALID_CREDENTIALS' : 'NOT_FOUND' }));
  });
  return new Promise((resolve, reject) => {
    server.once('error', reject);
    server.listen(0, '127.0.0.1', () => {
      const url = `http://127.0.0.1:${server.address().port}`;
      resolve({ url, verifyUrl: `${url}/v3/account`, stop: () => new Promise((done) => (server.close(() => done()), server.closeAllConnections())) });
    });
  });
}

module.exports = { startFakeClickSend };
