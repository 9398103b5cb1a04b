'use strict';

/**
 * Just enough of AMQP 1.0's wire format for the test servers and taps: an encoder (`enc`, `perf`,
 * `frame`, the protocol headers, `platformMessage`) and a bounds-checked decoder of the client's
 * frames (`readFrames`, and `AmqpTap`, which follows one direction of a stream fed in chunks).
 */

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

module.exports = { enc, perf, frame, platformMessage, readFrames, AmqpTap, AMQP_HEADER, SASL_HEADER, TLS_HEADER };
