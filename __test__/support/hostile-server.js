'use strict';

/**
 * A hostile AMQP 1.0 "server" on plain TCP, for robustness tests of the client.
 *
 * It speaks just enough AMQP to get a client past the handshake (SASL PLAIN if the client starts
 * with the SASL header, none otherwise; open, begin, attach, and waiting for the client's flow),
 * then, at the stage a case names, writes the case's bytes instead of (or after) what a server
 * would send, and ends the socket. With no case (or a `valid` one) it serves well-formed messages.
 *
 * Also here: a small AMQP encoder (`enc`, `frame`, `perf`), a decoder for the client's frames, and
 * `generateCase(rng, i, opts)`: the seeded fuzz corpus (malformed, truncated, oversized and
 * out-of-order frames, absurd sizes and counts, deep nesting, over-large messages, random bytes).
 */

const net = require('node:net');
const { EventEmitter } = require('node:events');

// -------------------------------------------------------------------------------------------------
// Encoding

const enc = {
  nul: () => Buffer.from([0x40]),
  bool: (b) => Buffer.from([b ? 0x41 : 0x42]),
  ubyte: (n) => Buffer.from([0x50, n & 0xff]),
  ushort: (n) => { const b = Buffer.alloc(3); b[0] = 0x60; b.writeUInt16BE(n & 0xffff, 1); return b; },
  uint: (n) => {
    if (n === 0) return Buffer.from([0x43]);
    if (n < 256) return Buffer.from([0x52, n]);
    const b = Buffer.alloc(5); b[0] = 0x70; b.writeUInt32BE(n >>> 0, 1); return b;
  },
  ulong: (n) => {
    if (n === 0) return Buffer.from([0x44]);
    if (n < 256) return Buffer.from([0x53, n]);
    const b = Buffer.alloc(9); b[0] = 0x80; b.writeBigUInt64BE(BigInt(n), 1); return b;
  },
  long: (n) => { const b = Buffer.alloc(9); b[0] = 0x81; b.writeBigInt64BE(BigInt(n), 1); return b; },
  timestamp: (n) => { const b = Buffer.alloc(9); b[0] = 0x83; b.writeBigInt64BE(BigInt(n), 1); return b; },
  variable: (small, large, data) => {
    if (data.length < 256) return Buffer.concat([Buffer.from([small, data.length]), data]);
    const h = Buffer.alloc(5); h[0] = large; h.writeUInt32BE(data.length, 1);
    return Buffer.concat([h, data]);
  },
  bin: (data) => enc.variable(0xa0, 0xb0, Buffer.from(data)),
  str: (s) => enc.variable(0xa1, 0xb1, Buffer.from(s, 'utf8')),
  sym: (s) => enc.variable(0xa3, 0xb3, Buffer.from(s, 'ascii')),
  /** A list of already-encoded values (list0 when empty). */
  list: (items, { large = false } = {}) => {
    if (!items.length && !large) return Buffer.from([0x45]);
    const body = Buffer.concat(items);
    if (!large && body.length + 1 < 256 && items.length < 256) {
      return Buffer.concat([Buffer.from([0xc0, body.length + 1, items.length]), body]);
    }
    const h = Buffer.alloc(9); h[0] = 0xd0; h.writeUInt32BE(body.length + 4, 1); h.writeUInt32BE(items.length, 5);
    return Buffer.concat([h, body]);
  },
  /** A map from [key, value] pairs of already-encoded values. */
  map: (pairs) => {
    const body = Buffer.concat(pairs.flat());
    const count = pairs.length * 2;
    if (body.length + 1 < 256) return Buffer.concat([Buffer.from([0xc1, body.length + 1, count]), body]);
    const h = Buffer.alloc(9); h[0] = 0xd1; h.writeUInt32BE(body.length + 4, 1); h.writeUInt32BE(count, 5);
    return Buffer.concat([h, body]);
  },
  /** An array32 of `count` elements of constructor `code`, each `elem` bytes of data. */
  array: (code, elems) => {
    const body = Buffer.concat([Buffer.from([code]), ...elems]);
    const h = Buffer.alloc(9); h[0] = 0xf0; h.writeUInt32BE(body.length + 4, 1); h.writeUInt32BE(elems.length, 5);
    return Buffer.concat([h, body]);
  },
  /** A value described by a small ulong code. */
  described: (code, value) => Buffer.concat([Buffer.from([0x00]), enc.ulong(code), value]),
};

/** Omits trailing nulls from a performative's field list, as encoders do. */
function fields(list) {
  const out = list.map((v) => (v === undefined || v === null ? enc.nul() : v));
  while (out.length && out[out.length - 1].length === 1 && out[out.length - 1][0] === 0x40) out.pop();
  return out;
}

const perf = {
  open: ({ containerId = 'hostile', maxFrameSize, channelMax, idleTimeOut } = {}) => enc.described(0x10, enc.list(fields([
    enc.str(containerId), null, maxFrameSize === undefined ? null : enc.uint(maxFrameSize),
    channelMax === undefined ? null : enc.ushort(channelMax), idleTimeOut === undefined ? null : enc.uint(idleTimeOut),
  ]))),
  begin: ({ remoteChannel = 0, nextOutgoingId = 0, incomingWindow = 2147483647, outgoingWindow = 2147483647 } = {}) =>
    enc.described(0x11, enc.list(fields([
      remoteChannel === null ? null : enc.ushort(remoteChannel), enc.uint(nextOutgoingId), enc.uint(incomingWindow), enc.uint(outgoingWindow),
    ]))),
  attach: ({ name, handle = 0, role = false, source, target, initialDeliveryCount = 0 } = {}) =>
    enc.described(0x12, enc.list(fields([
      enc.str(name), enc.uint(handle), enc.bool(role), null, null,
      source === undefined ? enc.described(0x28, enc.list([enc.str('hostile-queue')])) : source,
      target === undefined ? enc.described(0x29, enc.list([])) : target,
      null, null, initialDeliveryCount === null ? null : enc.uint(initialDeliveryCount),
    ]))),
  flow: ({ nextIncomingId = 0, incomingWindow = 2147483647, nextOutgoingId = 0, outgoingWindow = 2147483647, handle, deliveryCount, linkCredit, available, drain, echo } = {}) =>
    enc.described(0x13, enc.list(fields([
      enc.uint(nextIncomingId), enc.uint(incomingWindow), enc.uint(nextOutgoingId), enc.uint(outgoingWindow),
      handle === undefined ? null : enc.uint(handle), deliveryCount === undefined ? null : enc.uint(deliveryCount),
      linkCredit === undefined ? null : enc.uint(linkCredit), available === undefined ? null : enc.uint(available),
      drain === undefined ? null : enc.bool(drain), echo === undefined ? null : enc.bool(echo),
    ]))),
  transfer: ({ handle = 0, deliveryId, deliveryTag, messageFormat, settled, more, aborted } = {}) =>
    enc.described(0x14, enc.list(fields([
      enc.uint(handle), deliveryId === undefined ? null : enc.uint(deliveryId),
      deliveryTag === undefined ? null : enc.bin(deliveryTag), messageFormat === undefined ? null : enc.uint(messageFormat),
      settled === undefined ? null : enc.bool(settled), more === undefined ? null : enc.bool(more),
      null, null, null, aborted === undefined ? null : enc.bool(aborted),
    ]))),
  disposition: ({ role = false, first = 0, last, settled = true, state } = {}) => enc.described(0x15, enc.list(fields([
    enc.bool(role), enc.uint(first), last === undefined ? null : enc.uint(last), enc.bool(settled), state === undefined ? null : state,
  ]))),
  detach: ({ handle = 0, closed = true, error } = {}) => enc.described(0x16, enc.list(fields([
    enc.uint(handle), enc.bool(closed), error === undefined ? null : error,
  ]))),
  end: ({ error } = {}) => enc.described(0x17, enc.list(fields([error === undefined ? null : error]))),
  close: ({ error } = {}) => enc.described(0x18, enc.list(fields([error === undefined ? null : error]))),
  error: (condition, description) => enc.described(0x1d, enc.list(fields([enc.sym(condition), description === undefined ? null : enc.str(description)]))),
  saslMechanisms: (mechs) => enc.described(0x40, enc.list([mechs.length === 1 ? enc.sym(mechs[0]) : enc.array(0xa3, mechs.map((m) => Buffer.concat([Buffer.from([m.length]), Buffer.from(m)])).map((b) => b))])),
  saslOutcome: (code) => enc.described(0x44, enc.list([enc.ubyte(code)])),
};

/** An AMQP (type 0) or SASL (type 1) frame around `body`. */
function frame(body = Buffer.alloc(0), { type = 0, channel = 0, doff = 2, size } = {}) {
  const ext = Buffer.alloc(Math.max(0, doff * 4 - 8));
  const h = Buffer.alloc(8);
  h.writeUInt32BE(size === undefined ? 8 + ext.length + body.length : size >>> 0, 0);
  h[4] = doff & 0xff;
  h[5] = type & 0xff;
  h.writeUInt16BE(channel & 0xffff, 6);
  return Buffer.concat([h, ext, body]);
}

const AMQP_HEADER = Buffer.from('AMQP\x00\x01\x00\x00', 'latin1');
const SASL_HEADER = Buffer.from('AMQP\x03\x01\x00\x00', 'latin1');
const TLS_HEADER = Buffer.from('AMQP\x02\x01\x00\x00', 'latin1');

/** A platform-shaped message payload: properties, application-properties, one data section. */
function platformMessage(messageId, body = '{"hello":"world"}', topic = '/a1ProductKey/device1/thing/event/property/post') {
  return Buffer.concat([
    enc.described(0x73, enc.list([enc.str(messageId)])),
    enc.described(0x74, enc.map([
      [enc.str('topic'), enc.str(topic)],
      [enc.str('messageId'), enc.str(messageId)],
      [enc.str('generateTime'), enc.long(Date.now())],
    ])),
    enc.described(0x75, enc.bin(Buffer.from(body))),
  ]);
}

// -------------------------------------------------------------------------------------------------
// Decoding (the client's frames: only what the server needs, bounds-checked)

class Reader {
  constructor(buf) { this.buf = buf; this.pos = 0; }
  need(n) { if (this.pos + n > this.buf.length) throw new Error('truncated'); }
  u8() { this.need(1); return this.buf[this.pos++]; }
  take(n) { this.need(n); const b = this.buf.subarray(this.pos, this.pos + n); this.pos += n; return b; }
  value(depth = 0) {
    if (depth > 32) throw new Error('too deep');
    const code = this.u8();
    if (code === 0x00) {
      const descriptor = this.value(depth + 1);
      return { descriptor, value: this.value(depth + 1) };
    }
    switch (code) {
      case 0x40: return null;
      case 0x41: return true;
      case 0x42: return false;
      case 0x56: return this.u8() !== 0;
      case 0x43: case 0x44: return 0;
      case 0x50: case 0x52: case 0x53: return this.u8();
      case 0x51: case 0x54: case 0x55: return (this.u8() << 24) >> 24;
      case 0x60: return this.take(2).readUInt16BE(0);
      case 0x61: return this.take(2).readInt16BE(0);
      case 0x70: return this.take(4).readUInt32BE(0);
      case 0x71: return this.take(4).readInt32BE(0);
      case 0x72: return this.take(4).readFloatBE(0);
      case 0x73: return this.take(4).readUInt32BE(0);
      case 0x80: return Number(this.take(8).readBigUInt64BE(0));
      case 0x81: case 0x83: return Number(this.take(8).readBigInt64BE(0));
      case 0x82: return this.take(8).readDoubleBE(0);
      case 0x74: return this.take(4);
      case 0x84: return this.take(8);
      case 0x94: case 0x98: return this.take(16);
      case 0xa0: return this.take(this.u8());
      case 0xb0: return this.take(this.take(4).readUInt32BE(0));
      case 0xa1: case 0xa3: return this.take(this.u8()).toString('utf8');
      case 0xb1: case 0xb3: return this.take(this.take(4).readUInt32BE(0)).toString('utf8');
      case 0x45: return [];
      case 0xc0: case 0xc1: case 0xd0: case 0xd1: {
        const wide = code >= 0xd0;
        const size = wide ? this.take(4).readUInt32BE(0) : this.u8();
        this.need(size);
        const count = wide ? this.take(4).readUInt32BE(0) : this.u8();
        const items = [];
        for (let i = 0; i < count; i++) items.push(this.value(depth + 1));
        return items;
      }
      case 0xe0: case 0xf0: {
        const wide = code === 0xf0;
        const size = wide ? this.take(4).readUInt32BE(0) : this.u8();
        this.need(size);
        const count = wide ? this.take(4).readUInt32BE(0) : this.u8();
        const element = this.u8();
        const items = [];
        for (let i = 0; i < count; i++) {
          // Re-read with the shared constructor.
          const save = this.buf;
          const rest = Buffer.concat([Buffer.from([element]), this.buf.subarray(this.pos)]);
          const r = new Reader(rest);
          items.push(r.value(depth + 1));
          this.pos += r.pos - 1;
          this.buf = save;
        }
        return items;
      }
      default: throw new Error(`unknown constructor 0x${code.toString(16)}`);
    }
  }
}

const PERFORMATIVES = {
  0x10: 'open', 0x11: 'begin', 0x12: 'attach', 0x13: 'flow', 0x14: 'transfer', 0x15: 'disposition',
  0x16: 'detach', 0x17: 'end', 0x18: 'close', 0x40: 'sasl-mechanisms', 0x41: 'sasl-init', 0x42: 'sasl-challenge',
  0x43: 'sasl-response', 0x44: 'sasl-outcome',
};

/** Cuts complete frames off `state.buf`; returns [{type, channel, name, fields}] (name null: heartbeat). */
function readFrames(state, { one = false } = {}) {
  const out = [];
  while (!(one && out.length)) {
    if (state.buf.length < 8) break;
    const size = state.buf.readUInt32BE(0);
    if (size < 8 || size > 16 * 1024 * 1024) throw new Error(`client sent a frame of size ${size}`);
    if (state.buf.length < size) break;
    const doff = state.buf[4] * 4;
    const f = { type: state.buf[5], channel: state.buf.readUInt16BE(6), name: null, fields: [] };
    const body = state.buf.subarray(doff, size);
    state.buf = state.buf.subarray(size);
    if (body.length) {
      const r = new Reader(body);
      const v = r.value();
      f.name = PERFORMATIVES[v.descriptor] || `0x${Number(v.descriptor).toString(16)}`;
      f.fields = v.value || [];
      f.payload = body.subarray(r.pos);
    }
    out.push(f);
  }
  return out;
}

/**
 * Follows one direction of a plain-TCP AMQP stream (protocol headers, SASL and AMQP frames) fed in
 * arbitrary chunks; calls `onFrame({type, channel, name, fields, payload})` for each frame.
 */
class AmqpTap {
  constructor(onFrame) {
    this.state = { buf: Buffer.alloc(0) };
    this.onFrame = onFrame;
  }

  push(chunk) {
    this.state.buf = Buffer.concat([this.state.buf, chunk]);
    for (;;) {
      if (this.state.buf.length >= 4 && this.state.buf.subarray(0, 4).toString('latin1') === 'AMQP') {
        if (this.state.buf.length < 8) return;
        this.state.buf = this.state.buf.subarray(8);
        continue;
      }
      const frames = readFrames(this.state, { one: true });
      if (!frames.length) return;
      for (const f of frames) this.onFrame(f);
    }
  }
}

// -------------------------------------------------------------------------------------------------
// The server

/** Stages at which a case strikes, in handshake order. */
const STAGES = Object.freeze(['header', 'sasl-mechanisms', 'sasl-outcome', 'amqp-header', 'open', 'begin', 'attach', 'flow']);

class HostileServer extends EventEmitter {
  /**
   * @param {object} [opts]
   * @param {(index: number) => object|null} [opts.nextCase] The case for the n-th connection (0-based);
   *   null or undefined: behave (serve `valid` messages).
   * @param {number} [opts.idleTimeOut=0] Idle time-out the server advertises (0: none).
   */
  constructor({ nextCase = () => null, idleTimeOut = 0 } = {}) {
    super();
    this.nextCase = nextCase;
    this.idleTimeOut = idleTimeOut;
    this.connections = 0;
    this.sockets = new Set();
    /** Messages the server will send on well-behaved connections: [{id, payload}]. */
    this.outbox = [];
    /** Dispositions received: [{first, last, settled, state}]. */
    this.dispositions = [];
    this.log = [];
    /** The first protocol header each connection's client sent, as a latin1 string. */
    this.headers = [];
    this.server = null;
    this.port = undefined;
  }

  async start() {
    this.server = net.createServer((s) => this._serve(s));
    await new Promise((resolve) => this.server.listen({ host: '127.0.0.1', port: 0 }, resolve));
    this.port = this.server.address().port;
    return this;
  }

  async close() {
    for (const s of this.sockets) s.destroy();
    await new Promise((resolve) => this.server.close(() => resolve()));
  }

  /** Queues a well-formed platform message for the next well-behaved connection. */
  send(messageId, body) {
    this.outbox.push({ id: messageId, payload: platformMessage(messageId, body) });
  }

  _serve(socket) {
    const index = this.connections++;
    const kase = this.nextCase(index) || null;
    this.sockets.add(socket);
    socket.setNoDelay(true);
    socket.on('error', () => {});
    socket.on('close', () => {
      this.sockets.delete(socket);
      this.emit('connection-closed', { index, kase });
    });
    this.emit('connection', { index, kase });
    const ctx = { index, kase, socket, linkName: null, handle: 0, deliveryId: 0, credit: 0, sasl: false, clientFrames: [] };
    const state = { buf: Buffer.alloc(0) };
    let stage = 'header';
    let done = false;

    const strike = (at) => {
      if (!kase || kase.stage !== at || done) return false;
      done = true;
      const bytes = typeof kase.bytes === 'function' ? kase.bytes(ctx) : kase.bytes;
      const chunks = Array.isArray(bytes) ? bytes : [bytes];
      for (const c of chunks) socket.write(c);
      if (kase.hold) return true; // leave the socket open: the client must notice by itself
      socket.end();
      return true;
    };

    const onData = (chunk) => {
      if (done && !(kase && kase.hold)) return;
      state.buf = Buffer.concat([state.buf, chunk]);
      try {
        for (;;) {
          if (stage === 'header' || stage === 'amqp-header-wait') {
            if (state.buf.length < 8) return;
            const header = state.buf.subarray(0, 8);
            state.buf = state.buf.subarray(8);
            if (stage === 'header') this.headers.push(header.toString('latin1'));
            if (stage === 'header' && strike('header')) return;
            if (header.equals(SASL_HEADER) && stage === 'header') {
              ctx.sasl = true;
              if (strike('sasl-mechanisms')) return;
              socket.write(Buffer.concat([SASL_HEADER, frame(perf.saslMechanisms(['PLAIN']), { type: 1 })]));
              stage = 'sasl-init';
              continue;
            }
            if (!header.equals(AMQP_HEADER)) {
              done = true;
              socket.write(AMQP_HEADER);
              socket.end();
              return;
            }
            if (strike('amqp-header')) return;
            socket.write(AMQP_HEADER);
            stage = 'open-wait';
            continue;
          }
          const frames = readFrames(state);
          if (!frames.length) return;
          for (const f of frames) {
            ctx.clientFrames.push(f.name);
            if (stage === 'sasl-init') {
              if (f.name !== 'sasl-init') throw new Error(`expected sasl-init, got ${f.name}`);
              if (strike('sasl-outcome')) return;
              socket.write(frame(perf.saslOutcome(0), { type: 1 }));
              stage = 'amqp-header-wait';
              // Anything after the init is the AMQP header: loop again for it.
              break;
            }
            this._onFrame(f, ctx);
            if (f.name === 'open' && stage === 'open-wait') {
              if (strike('open')) return;
              socket.write(frame(perf.open({ containerId: 'hostile-server', maxFrameSize: 65536, idleTimeOut: this.idleTimeOut || undefined })));
              stage = 'begin-wait';
            } else if (f.name === 'begin' && stage === 'begin-wait') {
              if (strike('begin')) return;
              socket.write(frame(perf.begin({ remoteChannel: f.channel })));
              stage = 'attach-wait';
            } else if (f.name === 'attach' && stage === 'attach-wait') {
              ctx.linkName = f.fields[0];
              ctx.clientHandle = f.fields[1];
              if (strike('attach')) return;
              socket.write(frame(perf.attach({ name: ctx.linkName, handle: ctx.handle, role: false, initialDeliveryCount: 0 })));
              stage = 'flow-wait';
            } else if (f.name === 'flow' && stage === 'flow-wait') {
              ctx.credit = f.fields[6] || 0;
              if (strike('flow')) return;
              stage = 'serving';
              this._pump(ctx);
            } else if (f.name === 'flow' && stage === 'serving') {
              ctx.credit = f.fields[6] || 0;
              this._pump(ctx);
            } else if (f.name === 'close') {
              if (!done) socket.end(frame(perf.close({})));
              done = true;
              return;
            }
          }
        }
      } catch (err) {
        this.log.push(`connection ${index}: ${err.message}`);
        done = true;
        socket.destroy();
      }
    };
    socket.on('data', onData);
  }

  _onFrame(f, ctx) {
    if (f.name === 'disposition') {
      const [, first, last, settled, state] = f.fields;
      const outcome = state && state.descriptor !== undefined ? ({ 0x24: 'accepted', 0x25: 'rejected', 0x26: 'released', 0x27: 'modified' })[state.descriptor] : null;
      this.dispositions.push({ index: ctx.index, first, last: last === null || last === undefined ? first : last, settled, outcome });
      this.emit('disposition', this.dispositions[this.dispositions.length - 1]);
    }
  }

  _pump(ctx) {
    while (ctx.credit > 0 && this.outbox.length) {
      const m = this.outbox.shift();
      ctx.credit -= 1;
      const id = ctx.deliveryId++;
      ctx.socket.write(frame(Buffer.concat([perf.transfer({ handle: ctx.handle, deliveryId: id, deliveryTag: Buffer.from(String(id)), messageFormat: 0, settled: false }), m.payload])));
      this.emit('sent', { index: ctx.index, id: m.id, deliveryId: id });
    }
  }
}

async function startHostileServer(opts) {
  const s = new HostileServer(opts);
  await s.start();
  return s;
}

// -------------------------------------------------------------------------------------------------
// The fuzz corpus

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
      ['two opens', () => Buffer.concat([frame(perf.open({})), frame(perf.open({}))]), true],
      ['heartbeats then EOF', () => Buffer.concat([frame(), frame(), frame()]), false],
    ],
    begin: [
      ['begin for another channel', () => frame(perf.begin({ remoteChannel: int(rng, 1, 65535) })), true],
      ['begin with no remote channel', () => frame(perf.begin({ remoteChannel: null })), true],
      ['two begins', () => Buffer.concat([frame(perf.begin({})), frame(perf.begin({}))]), true],
      ['attach before begin', (ctx) => frame(perf.attach({ name: ctx.linkName || 'x' })), true],
      ['transfer before begin', (ctx) => frame(Buffer.concat([tr(ctx, { deliveryId: 0 }), platformMessage('m')])), true],
      ['second open', () => frame(perf.open({})), true],
      ['end with an error', () => frame(perf.end({ error: perf.error('amqp:internal-error', 'hostile') })), true],
      ['close with a huge description', () => frame(perf.close({ error: perf.error('amqp:internal-error', 'x'.repeat(int(rng, 1000, 60000))) })), true],
    ],
    attach: [
      ['transfer before the attach reply', (ctx) => frame(Buffer.concat([tr(ctx, { deliveryId: 0 }), platformMessage('m')])), true],
      ['flow before the attach reply', () => frame(perf.flow({ handle: 0, linkCredit: 10, deliveryCount: 0 })), true],
      ['attach for an unknown link', () => frame(perf.attach({ name: 'someone-else' })), true],
      ['attach as a receiver', (ctx) => frame(perf.attach({ name: ctx.linkName, role: true })), true],
      ['two attaches', (ctx) => Buffer.concat([frame(perf.attach({ name: ctx.linkName })), frame(perf.attach({ name: ctx.linkName }))]), true],
      ['detach for an unknown handle', () => frame(perf.detach({ handle: int(rng, 1, 0xffffffff) })), false],
      ['attach with a handle then transfer on another', (ctx) => Buffer.concat([
        frame(perf.attach({ name: ctx.linkName, handle: 3 })), frame(Buffer.concat([tr(ctx, { handle: 4, deliveryId: 0 }), platformMessage('m')]))]), true],
      ['attach with a huge initial delivery count, then transfers', (ctx) => [frame(perf.attach({ name: ctx.linkName, initialDeliveryCount: 0xffffffff }))], false],
      ['attach with a bogus source', (ctx) => frame(perf.attach({ name: ctx.linkName, source: enc.described(0x28, list32(4, 0xffffffff)) })), true],
      ['attach with a deeply nested source', (ctx) => frame(perf.attach({ name: ctx.linkName, source: nested(int(rng, 65, 500)) })), true],
    ],
    flow: [
      ['transfer for an unknown handle', (ctx) => frame(Buffer.concat([tr(ctx, { handle: int(rng, 1, 0xffffffff) }), platformMessage('m')])), true],
      ['transfer without a delivery-id', (ctx) => frame(Buffer.concat([tr(ctx, { deliveryId: undefined }), platformMessage('m')])), true],
      ['transfer without a tag', (ctx) => frame(Buffer.concat([perf.transfer({ handle: ctx.handle, deliveryId: 0 }), platformMessage('m')])), true],
      [`malformed message (${bad.name})`, (ctx) => frame(Buffer.concat([tr(ctx), bad.bytes])), true],
      [`malformed message over several frames (${bad.name})`, (ctx) => {
        const p = bad.bytes;
        const cut = Math.max(1, Math.floor(p.length / 2));
        return [frame(Buffer.concat([tr(ctx, { more: true }), p.subarray(0, cut)])), frame(Buffer.concat([tr(ctx, { more: false }), p.subarray(cut)]))];
      }, true],
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
      }, true],
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
      ['detach with an error', () => frame(perf.detach({ handle: 0, error: perf.error('amqp:link:detach-forced', 'hostile') })), true],
      ['detach for an unknown handle', () => frame(perf.detach({ handle: int(rng, 1, 1000) })), true],
      ['second attach reply', (ctx) => frame(perf.attach({ name: ctx.linkName })), true],
      ['flow for an unknown handle', () => frame(perf.flow({ handle: int(rng, 1, 1000), linkCredit: 1 })), true],
      ['flow with absurd numbers', () => frame(perf.flow({ handle: 0, deliveryCount: 0xffffffff, linkCredit: 0xffffffff, available: 0xffffffff, echo: true, nextIncomingId: 0xffffffff })), false],
      ['disposition for unknown deliveries', () => frame(perf.disposition({ first: 0, last: 0xffffffff, settled: true, state: enc.described(0x24, enc.list([])) })), false],
      ['aborted transfer then garbage', (ctx) => [frame(Buffer.concat([tr(ctx, { more: true }), Buffer.from('abc')])), frame(tr(ctx, { aborted: true })), randomFrame()], false],
      [`valid message then a bad one (${bad.name})`, (ctx) => [
        frame(Buffer.concat([tr(ctx), platformMessage(`ok-${i}`)])),
        frame(Buffer.concat([tr(ctx, { deliveryId: ctx.deliveryId + 1, deliveryTag: Buffer.from('u') }), bad.bytes]))], true],
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

module.exports = {
  HostileServer, startHostileServer, generateCase, prng, enc, perf, frame, platformMessage, readFrames, AmqpTap,
  AMQP_HEADER, SASL_HEADER, TLS_HEADER, STAGES,
};
