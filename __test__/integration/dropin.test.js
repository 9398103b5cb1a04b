'use strict';
// The platform's amqp.js, with only require('rhea') swapped, prints the same lines with this
// package as with rhea against the same emulator; every message is accepted, none lost.

const test = require('node:test');
const assert = require('node:assert/strict');

const { startEmulator } = require('../support/emulator');
const { runDocScript } = require('../support/doc-script');
const { PACKAGE_ROOT } = require('../support/client');

const BODIES = [
  { items: { temperature: { value: 23.5, time: 1700000000000 } } },
  { status: 'online', productKey: 'a1ProductKey', deviceName: 'device1' },
  { text: '中文内容 and emoji ✓' },
  { big: 'x'.repeat(3000) },
];

async function runWith(moduleName, emuOptions) {
  const emu = await startEmulator(emuOptions);
  try {
    const ids = [];
    for (let i = 0; i < 20; i++) ids.push(emu.publish({ body: BODIES[i % BODIES.length] }));
    const result = await runDocScript({
      moduleName,
      emu,
      untilLines: ids.length,
      beforeKill: () => emu.waitFor(() => ids.every((id) => emu.acceptedOnce.has(id)), 10000, 'all accepted'),
    });
    const perMessage = ids.map((id) => emu.dispositions.filter((d) => d.messageId === id && d.outcome === 'accepted').length);
    return { result, ids, perMessage, attaches: emu.attaches.slice(), pending: emu.pending() };
  } finally {
    await emu.close();
  }
}

for (const sourceReply of ['null', 'echo', 'own']) {
  test(`doc script prints the same lines as with rhea (server attach reply source: ${sourceReply})`, async () => {
    const rhea = await runWith('rhea', { sourceReply });
    const ours = await runWith(PACKAGE_ROOT, { sourceReply });
    assert.equal(ours.result.timedOut, false, `our run timed out; stderr: ${ours.result.stderr}`);
    assert.deepEqual(ours.result.lines, rhea.result.lines);
    assert.equal(ours.result.lines.length, 20);
    assert.equal(ours.result.stderr, '');
    // Every message accepted, none lost, none left; and accepted once (rhea's doc pattern sends
    // two dispositions per message; a settled delivery is settled once here).
    assert.equal(ours.pending, 0);
    assert.ok(ours.perMessage.every((n) => n === 1), `accepts per message: ${ours.perMessage}`);
    // Attached as the doc's open_receiver() asks: no source at all.
    assert.equal(ours.attaches[0].source, null);
  });
}

test('doc script over plain TCP works too', async () => {
  const emu = await startEmulator({ tls: false });
  try {
    const ids = emu.publishMany(5);
    // The doc script says 'transport': 'tls'; over plain TCP the user would change that line.
    const result = await runDocScript({
      moduleName: PACKAGE_ROOT,
      emu,
      env: { NODE_OPTIONS: `--require ${require.resolve('../support/force-tcp.js')}` },
      untilLines: 5,
      beforeKill: () => emu.waitFor(() => ids.every((id) => emu.acceptedOnce.has(id))),
    });
    assert.equal(result.lines.length, 5);
  } finally {
    await emu.close();
  }
});
