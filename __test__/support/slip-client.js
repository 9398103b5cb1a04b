'use strict';
// Our client in a child process, for tests that read its stderr (DEBUG=aliyun-iot-amqp:frames):
// connects as SLIP_CLIENT (JSON: {port, connect, receiver, hold}) says and reports on stdout, one
// JSON line each, every event and message ({ev: 'message', id, remoteSettled, epoch}, {ev:
// 'receiver_close', condition, message}, ...). `hold`: 'none' (accept at once; the default),
// 'all' (hold every delivery until told), 'first-connection' (hold those of the first connection:
// they are never settled), 'first-link' (hold those of the first attach; when it closes, try to
// accept them and report {ev: 'accepted-held', results}). Commands on stdin, one JSON line each: {cmd: 'accept-held'} (reports
// {ev: 'accepted-held', results: [[id, accept()]...]}), {cmd: 'close'} (closes, then exits).

const path = require('node:path');
const readline = require('node:readline');

const amqp = require(path.resolve(__dirname, '..', '..'));

const cfg = JSON.parse(process.env.SLIP_CLIENT);
const out = (o) => process.stdout.write(`${JSON.stringify(o)}\n`);

const container = amqp.create_container();
const connection = container.connect({
  host: '127.0.0.1', port: cfg.port, transport: 'tcp', username: 'slip|authMode=aksign|', password: 'not-a-secret',
  initial_reconnect_delay: 20, max_reconnect_delay: 200, ...cfg.connect,
});
connection.open_receiver({ autoaccept: false, ...cfg.receiver });

let opens = 0;
let linkCloses = 0;
const held = [];
const acceptHeld = () => out({ ev: 'accepted-held', results: held.splice(0).map(([id, d]) => [id, d.accept()]) });
for (const name of ['connection_open', 'connection_close', 'connection_error', 'receiver_open', 'receiver_close', 'receiver_error', 'disconnected']) {
  container.on(name, (ctx) => {
    if (name === 'connection_open') opens += 1;
    const e = { ev: name };
    if (ctx.error) Object.assign(e, { condition: ctx.error.condition, message: ctx.error.message });
    if (name === 'disconnected') e.reconnecting = ctx.reconnecting;
    out(e);
    if (name === 'receiver_close' && ++linkCloses === 1 && cfg.hold === 'first-link') acceptHeld();
  });
}
container.on('error', (err) => out({ ev: 'error', message: String(err && err.message) }));
container.on('message', (ctx) => {
  const id = ctx.message.application_properties && ctx.message.application_properties.messageId;
  out({ ev: 'message', id, remoteSettled: ctx.delivery.remote_settled, connection: opens });
  const hold = cfg.hold === 'all' || (cfg.hold === 'first-connection' && opens === 1) || (cfg.hold === 'first-link' && linkCloses === 0);
  if (hold) held.push([id, ctx.delivery]);
  else out({ ev: 'accept', id, ok: ctx.delivery.accept() });
});

readline.createInterface({ input: process.stdin }).on('line', (line) => {
  const { cmd } = JSON.parse(line);
  if (cmd === 'accept-held') {
    acceptHeld();
  } else if (cmd === 'close') {
    connection.close();
    const timer = setInterval(() => {
      if (connection.is_closed()) {
        clearInterval(timer);
        out({ ev: 'closed' });
        process.exit(0);
      }
    }, 10);
  }
});
