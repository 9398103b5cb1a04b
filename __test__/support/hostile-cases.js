'use strict';

/**
 * The hostile server's fuzz corpus: `generateCase(rng, i, opts)` gives the i-th seeded case
 * (malformed, truncated, oversized and out-of-order frames, absurd sizes and counts, deep nesting,
 * over-large messages, random bytes) and the handshake stage it strikes at; `prng(seed)` is the
 * deterministic generator the fuzz loop and the fault suite draw from.
 */

const { SASL_HEADER, TLS_HEADER, enc, frame, perf, platformMessage } = require('./amqp-wire.js');

/** Stages at which a case strikes, in handshake order. */
const STAGES = Object.freeze(['header', 'sasl-mechanisms', 'sasl-outcome', 'amqp-header', 'open', 'begin', 'attach', 'flow']);

/** A small deterministic PRNG (mulberry32). */
function prng(seed) {
  let a = seed >>> 0;
  return () => {
    a = (a + 0x6d2b79f5) >>> 0;
    let t = a;
    t = Math.imul(t ^ (t >>> 15), t | 1);
    t ^= t + Math.imul(t ^ (t >>> 7), t | 61);
    return ((t ^ (t >>> 14)) >>> 0) / 4294967296;
  };
}

function randomBytes(rng, n) {
  const b = Buffer.alloc(n);
  for (let i = 0; i < n; i++) b[i] = Math.floor(rng() * 256);
  return b;
}

const pick = (rng, list) => list[Math.floor(rng() * list.length)];
const int = (rng, lo, hi) => lo + Math.floor(rng() * (hi - lo + 1));

/** `depth` nested lists around a null. */
function nested(depth, open = (inner) => enc.list([inner])) {
  let v = enc.nul();
  for (let i = 0; i < depth; i++) v = open(v);
  return v;
}

/** A list32 header announcing `count` elements in `size` bytes, followed by `body`. */
function list32(size, count, body = Buffer.alloc(0)) {
  const h = Buffer.alloc(9); h[0] = 0xd0; h.writeUInt32BE(size >>> 0, 1); h.writeUInt32BE(count >>> 0, 5);
  return Buffer.concat([h, body]);
}

/** A map32 header announcing `count` elements in `size` bytes. */
function map32(size, count) {
  const h = Buffer.alloc(9); h[0] = 0xd1; h.writeUInt32BE(size >>> 0, 1); h.writeUInt32BE(count >>> 0, 5);
  return h;
}

/** Performative `code` whose field `index` is `value` (raw bytes), the others null; container-id set. */
function perfWith(code, index, value) {
  const f = Array.from({ length: Math.max(index + 1, 1) }, () => enc.nul());
  f[0] = enc.str('c');
  f[index] = value;
  return enc.described(code, enc.list(f, { large: true }));
}

/** Mutations of a valid encoding: bit flips, byte sets, truncation, insertion. */
function mutate(rng, buf) {
  const b = Buffer.from(buf);
  const n = int(rng, 1, 4);
  for (let i = 0; i < n && b.length; i++) {
    const at = int(rng, 0, b.length - 1);
    switch (int(rng, 0, 3)) {
      case 0: b[at] ^= 1 << int(rng, 0, 7); break;
      case 1: b[at] = pick(rng, [0x00, 0x40, 0xff, 0x7f, 0x80, 0xa0, 0xb0, 0xc0, 0xd0, 0xe0, 0xf0, 0x53]); break;
      case 2: return b.subarray(0, at);
      default: return Buffer.concat([b.subarray(0, at), randomBytes(rng, int(rng, 1, 8)), b.subarray(at)]);
    }
  }
  return b;
}

/**
 * Malformed message payloads (for a transfer on the right handle, within credit). Each is invalid:
 * the client must refuse the delivery (and the connection), never crash.
 */
function badPayload(rng, o) {
  const kinds = [
    ['random bytes', () => randomBytes(rng, int(rng, 1, 200))],
    ['a section that is not described', () => enc.nul()],
    ['data section holding a string', () => enc.described(0x75, enc.str('not binary'))],
    ['application-properties not a map', () => enc.described(0x74, enc.list([enc.nul()]))],
    ['properties not a list', () => enc.described(0x73, enc.map([[enc.str('a'), enc.str('b')]]))],
    ['binary size far past the end', () => enc.described(0x75, Buffer.from([0xb0, 0xff, 0xff, 0xff, 0xff, 1, 2, 3]))],
    ['deeply nested lists', () => enc.described(0x77, nested(int(rng, 65, 400)))],
    ['deeply nested maps', () => enc.described(0x77, nested(int(rng, 65, 300), (inner) => enc.map([[enc.str('k'), inner]])))],
    ['deep descriptors', () => enc.described(0x77, nested(int(rng, 65, 300), (inner) => enc.described(0x77, inner)))],
    ['huge count, no elements', () => enc.described(0x77, list32(4, 0xffffffff))],
    ['absurd compound size', () => enc.described(0x77, list32(0xfffffff0, 3, enc.nul()))],
    ['array of 4G nulls', () => enc.described(0x77, Buffer.from([0xf0, 0, 0, 0, 5, 0xff, 0xff, 0xff, 0xff, 0x40]))],
    ['array of 65 537 nulls (past the cap)', () => enc.described(0x77, Buffer.from([0xf0, 0, 0, 0, 5, 0, 1, 0, 1, 0x40]))],
    ['array of ints, count past its size', () => enc.described(0x77, Buffer.from([0xe0, 3, 0xff, 0x71, 0]))],
    ['map with an odd count', () => enc.described(0x74, Buffer.from([0xc1, 3, 3, 0x40, 0x40, 0x40]))],
    ['map whose elements run past its size', () => enc.described(0x74, Buffer.from([0xc1, 2, 2, 0x40]))],
    ['truncated second section', () => Buffer.concat([enc.described(0x75, enc.bin(Buffer.from('ok'))), Buffer.from([0x00, 0x53])])],
    ['descriptors all the way down', () => Buffer.from([0x00, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00])],
    ['unknown constructor', () => enc.described(0x75, Buffer.from([0xee, 1, 2]))],
    ['truncated inside its first section', () => platformMessage('m').subarray(0, int(rng, 1, 8))],
  ];
  const [name, build] = pick(rng, kinds);
  return { name, bytes: build() };
}

/**
 * The i-th fuzz case. `opts.sasl` tells whether the client does SASL (SASL-stage cases need it);
 * `opts.maxFrameSize` and `opts.maxMessageSize` are the client's limits; `opts.creditWindow` its credit.
 *
 * A case: {name, stage, bytes (Buffer | Buffer[] | (ctx) => Buffer | Buffer[]), reject}. `reject`
 * true: the client must refuse it with an error of its own (not merely notice the end of the stream).
 * `reject` false marks, besides input that may be valid, a peer's harmless slip that the client
 * takes liberally, losing nothing (a frame for a handle or channel not its own, a second open,
 * begin or attach, a detach or end it answers by attaching again, a message that cannot be read,
 * which costs only itself: reported as 'protocol_error' and held): the end of the stream ends it.
 */
function generateCase(rng, i, opts = {}) {
  const maxFrame = opts.maxFrameSize || 65536;
  const maxMessage = opts.maxMessageSize || 65536;
  const credit = opts.creditWindow || 5;
  const stages = opts.sasl ? STAGES : STAGES.filter((s) => !s.startsWith('sasl'));
  const stage = pick(rng, stages);
  const randomFrame = () => frame(randomBytes(rng, int(rng, 0, 64)), { type: int(rng, 0, 2), channel: int(rng, 0, 3) });
  const tr = (ctx, f = {}) => perf.transfer({ handle: ctx.handle, deliveryId: ctx.deliveryId, deliveryTag: Buffer.from('t'), messageFormat: 0, ...f });
  const bad = badPayload(rng, opts);

  // Cases valid at every stage.
  const generic = [
    ['random bytes', () => randomBytes(rng, int(rng, 1, 300)), false],
    ['random frames', () => Buffer.concat([randomFrame(), randomFrame(), randomFrame()]), false],
    ['frame size below 8', () => Buffer.from([0, 0, 0, int(rng, 0, 7), 2, 0, 0, 0]), true],
    ['data offset below 2', () => frame(perf.close({}), { doff: int(rng, 0, 1) }), true],
    ['data offset past the frame', () => Buffer.from([0, 0, 0, 8, int(rng, 3, 255), 0, 0, 0]), true],
    ['absurd frame size', () => frame(Buffer.alloc(8), { size: pick(rng, [0xffffffff, 0x7fffffff, 0x10000000]) }), true],
    ['frame just over max-frame-size (all of it sent)', () => frame(Buffer.alloc(maxFrame + 1 - 8)), true],
    ['frame over max-frame-size (header only)', () => frame(Buffer.alloc(0), { size: maxFrame + int(rng, 1, 1 << 20) }), true],
    ['truncated frame', () => frame(perf.open({})).subarray(0, int(rng, 1, 15)), false],
    ['list with a huge count', () => frame(Buffer.concat([Buffer.from([0x00, 0x53, 0x10]), list32(4, 0xffffffff)])), true],
    ['list with an absurd size', () => frame(Buffer.concat([Buffer.from([0x00, 0x53, 0x10]), list32(0xfffffff0, 1, enc.str('x'))])), true],
    ['list with a count past its size', () => frame(Buffer.concat([Buffer.from([0x00, 0x53, 0x10]), list32(4, int(rng, 2, 0xfffffffe))])), true],
    ['map with a huge count', () => frame(perfWith(0x10, 9, map32(4, pick(rng, [0xffffffff, 0xfffffffe, 0x80000000])))), true],
    ['array of 4G symbols', () => frame(perfWith(0x10, 7, Buffer.concat([Buffer.from([0xf0, 0, 0, 0, 5, 0xff, 0xff, 0xff, 0xff, 0xa3])]))), true],
    ['array of 4G nulls', () => frame(perfWith(0x10, 7, Buffer.from([0xf0, 0, 0, 0, 5, 0xff, 0xff, 0xff, 0xff, 0x40]))), true],
    ['deeply nested performative', () => frame(enc.described(0x10, enc.list([enc.str('c'), nested(int(rng, 65, 2000))]))), true],
    ['deep descriptor chain', () => frame(Buffer.concat([Buffer.alloc(int(rng, 70, 3000), 0x00), Buffer.from([0x40])])), true],
    ['unknown descriptor', () => frame(enc.described(int(rng, 0x19, 0x3f), enc.list([enc.nul()]))), true],
    ['descriptor of a wrong type', () => frame(Buffer.concat([Buffer.from([0x00]), enc.str('amqp:bogus:list'), enc.list([])])), true],
    ['performative that is not described', () => frame(enc.list([enc.str('x')])), true],
    ['unknown constructor', () => frame(Buffer.from([0x00, 0x53, 0x10, 0xee, 0x01])), true],
    ['mutated open', () => frame(mutate(rng, perf.open({ containerId: 'x', maxFrameSize: 1024 }))), false],
    ['mutated attach', () => frame(mutate(rng, perf.attach({ name: 'x' }))), false],
    ['mutated transfer', () => frame(mutate(rng, Buffer.concat([perf.transfer({ deliveryId: 0, deliveryTag: Buffer.from('a') }), platformMessage('m')]))), false],
    ['SASL frame type on the AMQP layer', () => frame(perf.saslOutcome(0), { type: 1 }), true],
    ['unknown frame type', () => frame(perf.open({}), { type: int(rng, 2, 255) }), true],
    ['trailing garbage in the frame', () => frame(Buffer.concat([perf.close({}), randomBytes(rng, 4)])), false],
  ];

  const byStage = {
    header: [
      ['TLS protocol header', () => TLS_HEADER, true],
      ['unknown protocol version', () => Buffer.from('AMQP\x00\x02\x00\x00', 'latin1'), true],
      ['AMQP 0-9-1 header', () => Buffer.from('AMQP\x00\x00\x09\x01', 'latin1'), true],
      ['an HTTP answer', () => Buffer.from('HTTP/1.1 400 Bad Request\r\n\r\n'), true],
      ['half a header', () => Buffer.from('AMQ'), false],
      ['SASL header to a client that skips SASL', () => Buffer.concat([SASL_HEADER, frame(perf.saslMechanisms(['PLAIN']), { type: 1 })]), false],
    ],
    'sasl-mechanisms': [
      ['mechanisms without PLAIN', () => Buffer.concat([SASL_HEADER, frame(perf.saslMechanisms(['ANONYMOUS', 'EXTERNAL']), { type: 1 })]), true],
      ['empty mechanisms', () => Buffer.concat([SASL_HEADER, frame(enc.described(0x40, enc.list([])), { type: 1 })]), true],
      ['outcome before init', () => Buffer.concat([SASL_HEADER, frame(perf.saslOutcome(0), { type: 1 })]), true],
      ['AMQP frame in the SASL layer', () => Buffer.concat([SASL_HEADER, frame(perf.open({}))]), true],
      ['garbage mechanisms', () => Buffer.concat([SASL_HEADER, frame(mutate(rng, perf.saslMechanisms(['PLAIN'])), { type: 1 })]), false],
      ['oversized SASL frame', () => Buffer.concat([SASL_HEADER, frame(Buffer.alloc(0), { type: 1, size: 0xfffffff0 })]), true],
    ],
    'sasl-outcome': [
      ['challenge instead of outcome', () => frame(enc.described(0x42, enc.list([enc.bin(Buffer.from('x'))])), { type: 1 }), true],
      ['outcome with an unknown code', () => frame(perf.saslOutcome(int(rng, 5, 255)), { type: 1 }), true],
      ['outcome refusing the login', () => frame(perf.saslOutcome(int(rng, 1, 4)), { type: 1 }), true],
      ['mutated outcome', () => frame(mutate(rng, perf.saslOutcome(0)), { type: 1 }), false],
    ],
    'amqp-header': [
      ['SASL header again', () => SASL_HEADER, true],
      ['TLS header instead of AMQP', () => TLS_HEADER, true],
      ['open without a header', () => frame(perf.open({})), true],
    ],
    open: [
      ['begin before open', () => frame(perf.begin({})), true],
      ['attach before open', () => frame(perf.attach({ name: 'x' })), true],
      ['transfer before open', (ctx) => frame(Buffer.concat([tr(ctx, { deliveryId: 0 }), platformMessage('m')])), true],
      ['flow before open', () => frame(perf.flow({ handle: 0, linkCredit: 10 })), true],
      ['open without container-id', () => frame(enc.described(0x10, enc.list([]))), true],
      ['open with a wrongly typed field', () => frame(enc.described(0x10, enc.list([enc.uint(5), enc.uint(6)]))), true],
      ['open with max-frame-size 0', () => Buffer.concat([frame(perf.open({ maxFrameSize: 0, idleTimeOut: 1 })), randomFrame()]), false],
      ['two opens', () => Buffer.concat([frame(perf.open({})), frame(perf.open({}))]), false],
      ['heartbeats then EOF', () => Buffer.concat([frame(), frame(), frame()]), false],
    ],
    begin: [
      ['begin for another channel', () => frame(perf.begin({ remoteChannel: int(rng, 1, 65535) })), false],
      ['begin with no remote channel', () => frame(perf.begin({ remoteChannel: null })), false],
      ['two begins', () => Buffer.concat([frame(perf.begin({})), frame(perf.begin({}))]), false],
      ['attach before begin', (ctx) => frame(perf.attach({ name: ctx.linkName || 'x' })), false],
      ['transfer before begin', (ctx) => frame(Buffer.concat([tr(ctx, { deliveryId: 0 }), platformMessage('m')])), false],
      ['second open', () => frame(perf.open({})), false],
      ['end with an error', () => frame(perf.end({ error: perf.error('amqp:internal-error', 'hostile') })), false],
      ['close with a huge description', () => frame(perf.close({ error: perf.error('amqp:internal-error', 'x'.repeat(int(rng, 1000, 60000))) })), true],
    ],
    attach: [
      ['transfer before the attach reply', (ctx) => frame(Buffer.concat([tr(ctx, { deliveryId: 0 }), platformMessage('m')])), false],
      ['flow before the attach reply', () => frame(perf.flow({ handle: 0, linkCredit: 10, deliveryCount: 0 })), false],
      ['attach for an unknown link', () => frame(perf.attach({ name: 'someone-else' })), false],
      ['attach as a receiver', (ctx) => frame(perf.attach({ name: ctx.linkName, role: true })), true],
      ['two attaches', (ctx) => Buffer.concat([frame(perf.attach({ name: ctx.linkName })), frame(perf.attach({ name: ctx.linkName }))]), false],
      ['detach for an unknown handle', () => frame(perf.detach({ handle: int(rng, 1, 0xffffffff) })), false],
      ['attach with a handle then transfer on another', (ctx) => Buffer.concat([
        frame(perf.attach({ name: ctx.linkName, handle: 3 })), frame(Buffer.concat([tr(ctx, { handle: 4, deliveryId: 0 }), platformMessage('m')]))]), false],
      ['attach with a huge initial delivery count, then transfers', (ctx) => [frame(perf.attach({ name: ctx.linkName, initialDeliveryCount: 0xffffffff }))], false],
      ['attach with a bogus source', (ctx) => frame(perf.attach({ name: ctx.linkName, source: enc.described(0x28, list32(4, 0xffffffff)) })), true],
      ['attach with a deeply nested source', (ctx) => frame(perf.attach({ name: ctx.linkName, source: nested(int(rng, 65, 500)) })), true],
    ],
    flow: [
      ['transfer for an unknown handle', (ctx) => frame(Buffer.concat([tr(ctx, { handle: int(rng, 1, 0xffffffff) }), platformMessage('m')])), false],
      ['transfer without a delivery-id', (ctx) => frame(Buffer.concat([tr(ctx, { deliveryId: undefined }), platformMessage('m')])), true],
      ['transfer without a tag', (ctx) => frame(Buffer.concat([perf.transfer({ handle: ctx.handle, deliveryId: 0 }), platformMessage('m')])), true],
      [`malformed message (${bad.name})`, (ctx) => frame(Buffer.concat([tr(ctx), bad.bytes])), false],
      [`malformed message over several frames (${bad.name})`, (ctx) => {
        const p = bad.bytes;
        const cut = Math.max(1, Math.floor(p.length / 2));
        return [frame(Buffer.concat([tr(ctx, { more: true }), p.subarray(0, cut)])), frame(Buffer.concat([tr(ctx, { more: false }), p.subarray(cut)]))];
      }, false],
      ['message over max-message-size in many frames', (ctx) => {
        const per = Math.min(maxFrame - 64, 16384);
        const out = [];
        let sent = 0;
        while (sent <= maxMessage) {
          out.push(frame(Buffer.concat([tr(ctx, { more: true }), Buffer.alloc(per, 0x41)])));
          sent += per;
        }
        out.push(frame(Buffer.concat([tr(ctx, { more: false }), platformMessage('m')])));
        return out;
      }, false],
      ['transfer frame over max-frame-size', (ctx) => frame(Buffer.concat([tr(ctx), enc.described(0x75, enc.bin(Buffer.alloc(maxFrame)))])), true],
      ['a new delivery before the last one completed', (ctx) => [
        frame(Buffer.concat([tr(ctx, { more: true }), platformMessage('m').subarray(0, 10)])),
        frame(Buffer.concat([tr(ctx, { deliveryId: ctx.deliveryId + 1, deliveryTag: Buffer.from('u') }), platformMessage('n')]))], true],
      ['more transfers than credit', (ctx) => {
        const out = [];
        for (let k = 0; k <= credit + 1; k++) {
          out.push(frame(Buffer.concat([perf.transfer({ handle: ctx.handle, deliveryId: k, deliveryTag: Buffer.from(`t${k}`), messageFormat: 0 }), platformMessage(`m${k}`)])));
        }
        return out;
      }, false], // the client may have refilled credit between reads: a violation is not certain
      ['transfer on another channel', (ctx) => frame(Buffer.concat([tr(ctx), platformMessage('m')]), { channel: int(rng, 1, 65535) }), false],
      ['detach with an error', () => frame(perf.detach({ handle: 0, error: perf.error('amqp:link:detach-forced', 'hostile') })), false],
      ['detach for an unknown handle', () => frame(perf.detach({ handle: int(rng, 1, 1000) })), false],
      ['second attach reply', (ctx) => frame(perf.attach({ name: ctx.linkName })), false],
      ['flow for an unknown handle', () => frame(perf.flow({ handle: int(rng, 1, 1000), linkCredit: 1 })), false],
      ['flow with absurd numbers', () => frame(perf.flow({ handle: 0, deliveryCount: 0xffffffff, linkCredit: 0xffffffff, available: 0xffffffff, echo: true, nextIncomingId: 0xffffffff })), false],
      ['disposition for unknown deliveries', () => frame(perf.disposition({ first: 0, last: 0xffffffff, settled: true, state: enc.described(0x24, enc.list([])) })), false],
      ['aborted transfer then garbage', (ctx) => [frame(Buffer.concat([tr(ctx, { more: true }), Buffer.from('abc')])), frame(tr(ctx, { aborted: true })), randomFrame()], false],
      [`valid message then a bad one (${bad.name})`, (ctx) => [
        frame(Buffer.concat([tr(ctx), platformMessage(`ok-${i}`)])),
        frame(Buffer.concat([tr(ctx, { deliveryId: ctx.deliveryId + 1, deliveryTag: Buffer.from('u') }), bad.bytes]))], false],
    ],
  };

  const useGeneric = rng() < 0.35;
  const list = useGeneric ? generic : byStage[stage];
  const [name, build, reject] = pick(rng, list);
  // A generic case in the SASL layer is written as a SASL frame after the header where needed.
  let bytes = build;
  if (useGeneric && stage === 'sasl-mechanisms') bytes = (ctx) => [SASL_HEADER, ...[].concat(build(ctx))];
  // In the SASL layer a SASL frame may be the very thing expected there: no certain refusal.
  const certain = Boolean(reject) && !(useGeneric && stage.startsWith('sasl') && name === 'SASL frame type on the AMQP layer');
  return { name: `${stage}: ${name}`, stage, bytes, reject: certain };
}

module.exports = { generateCase, prng, STAGES };
