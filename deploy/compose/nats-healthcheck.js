'use strict';
// Container health check of an Authpipe app: `node nats-healthcheck.js <app>`.
// Asks `authpipe.<app>.health` the way a Nest NATS client does, with the app's own settings (NATS_URL, NATS_USER,
// NATS_PASSWORD: its user may publish to its own health subject, deploy/compose/nats.conf). The reply comes to the
// app's own inbox prefix, `_INBOX_<NATS_USER, else app>` (the rule of libs/messaging's inboxPrefix): the user may
// subscribe to no other inbox. Exit 0 when the app answers "ok", 1 otherwise. Prints one line, never a setting's
// value. Copied into every image by the Dockerfile.
const { connect, JSONCodec } = require('nats');

const TIMEOUT_MS = 3000;
const codec = JSONCodec();

async function main(app) {
  if (!/^[a-z][a-z-]*$/.test(app ?? '')) throw new Error('usage: node nats-healthcheck.js <app>');
  const user = process.env.NATS_USER;
  const nc = await connect({
    servers: (process.env.NATS_URL || 'nats://127.0.0.1:4222').split(','),
    ...(user ? { user, pass: process.env.NATS_PASSWORD } : {}),
    name: `${app}-healthcheck`,
    inboxPrefix: `_INBOX_${user || app}`,
    timeout: TIMEOUT_MS,
    maxReconnectAttempts: 0,
  });
  try {
    const subject = `authpipe.${app}.health`;
    const reply = await nc.request(subject, codec.encode({ pattern: subject, data: {}, id: `healthcheck-${Date.now()}` }), {
      timeout: TIMEOUT_MS,
    });
    const status = codec.decode(reply.data)?.response?.status;
    if (status !== 'ok') throw new Error(`${subject} answered status ${JSON.stringify(status)}`);
    return subject;
  } finally {
    await nc.close();
  }
}

main(process.argv[2]).then(
  (subject) => {
    console.log(`healthy: ${subject} answered ok`);
    process.exit(0);
  },
  (err) => {
    console.error(`unhealthy: ${err.code ? `${err.code} ` : ''}${err.message}`);
    process.exit(1);
  },
);
