// The unpacking function of src/node/batch/, compiled once per environment with
// napi_run_script (its completion value is the factory below). Not a module: it is spliced into
// the addon by include_str! (unpacker.rs), and `/*FILL_CASES*/` is replaced with one named store
// per message field, generated from message.rs's field names (see unpack_source in unpacker.rs).
// The tape's codes below are codes.rs's constants, each replaced by its number before compiling
// (so they are literals, as if written here): they are written there only.
/* global OP_NULL, OP_TRUE, OP_FALSE, OP_NUMBER, OP_DATE, OP_BINARY, OP_ASCII, OP_UTF8, OP_KEY, OP_LIST, OP_MAP, OP_DESCRIBED */
/* global F_END, BODY_DATA, BODY_VALUE, FLAG_SETTLED, FLAG_SECTION */
/* global H_N, H_BIG_AT, H_INDEX_AT, H_EPOCH, H_ATTACH, H_BASE, H_LEN, HEAD */
(function () {
  'use strict';
  const from = Buffer.from;
  // The message classes, registered by lib/message.js (when loaded): messages are then built with
  // their prototypes at once, which spares adopt() two slow Object.setPrototypeOf calls each.
  const CLASSES = Symbol.for('aliyun-iot-amqp.message-classes');
  let M = null;
  let S = null;
  const keys = [];
  let b = null;
  let ab = null;
  let base = 0;
  // Big binaries sit after the small things; their offsets on the tape are -1 - offset in that part.
  let big = 0;
  let t = null;
  let p = 0;
  // An internalized copy of a key, so that stores with it take V8's fast path.
  // (A computed key: even '__proto__' becomes an own property, so the copy is the key itself.)
  function internal(s) {
    const o = { [s]: 0 };
    return Object.keys(o)[0];
  }
  function bin() {
    const o = t[p] < 0 ? big - 1 - t[p] : t[p];
    const l = t[p + 1];
    p += 2;
    return from(ab, base + o, l);
  }
  function value() {
    switch (t[p++]) {
      case OP_NULL: return null;
      case OP_TRUE: return true;
      case OP_FALSE: return false;
      case OP_NUMBER: return t[p++];
      case OP_DATE: return new Date(t[p++]);
      case OP_BINARY: return bin();
      case OP_ASCII: { const o = t[p] < 0 ? big - 1 - t[p] : t[p]; const l = t[p + 1]; p += 2; return b.latin1Slice(o, o + l); }
      case OP_UTF8: { const o = t[p] < 0 ? big - 1 - t[p] : t[p]; const l = t[p + 1]; p += 2; return b.utf8Slice(o, o + l); }
      case OP_KEY: return keys[t[p++]];
      case OP_LIST: {
        const n = t[p++];
        const a = new Array(n);
        for (let i = 0; i < n; i++) a[i] = value();
        return a;
      }
      case OP_MAP: {
        const n = t[p++];
        const m = {};
        for (let i = 0; i < n; i++) {
          const k = value();
          m[k] = value();
        }
        return m;
      }
      case OP_DESCRIBED: {
        const d = value();
        return { descriptor: d, value: value() };
      }
      default: throw new Error('aliyun-iot-amqp: bad message tape');
    }
  }
  // eslint-disable-next-line no-unused-vars -- called by the generated cases of fill()
  function body() {
    const kind = t[p++];
    if (kind === BODY_VALUE) return value();
    const n = t[p++];
    let content;
    if (n === 1) content = kind === BODY_DATA ? bin() : value();
    else {
      content = new Array(n);
      for (let i = 0; i < n; i++) content[i] = kind === BODY_DATA ? bin() : value();
    }
    const typecode = kind === BODY_DATA ? 0x75 : 0x76;
    const multiple = n > 1 ? true : undefined;
    return S !== null ? new S(typecode, content, multiple) : { typecode, content, multiple };
  }
  function fill(m) {
    for (;;) {
      switch (t[p++]) {
        case F_END: return;
/*FILL_CASES*/
        default: throw new Error('aliyun-iot-amqp: bad message tape');
      }
    }
  }
  // Packed batches (`pk`: what unpack() returned for one): a value, or a whole message, built
  // on demand from its position on the tape; the batch is let go of afterwards.
  function enter(pk, q) {
    b = pk.buffer;
    ab = b.buffer;
    base = b.byteOffset;
    big = pk.bigAt;
    t = pk.tape;
    p = q;
  }
  function leave() {
    b = null;
    ab = null;
    t = null;
  }
  const read = Object.freeze({
    value(pk, q) {
      enter(pk, q);
      const v = value();
      leave();
      return v;
    },
    message(pk, q) {
      enter(pk, q);
      const m = M !== null ? new M() : {};
      fill(m);
      leave();
      return m;
    },
  });
  // The `messages` event of one batch: its bytes are `tape[H_LEN]` bytes of `bytes` (an
  // ArrayBuffer) from `tape[H_BASE]` on; the tape starts with its head (codes.rs's `head`).
  return function unpack(bytes, tape, newKeys) {
    if (newKeys !== undefined) for (let i = 0; i < newKeys.length; i++) keys.push(internal(newKeys[i]));
    const classes = globalThis[CLASSES];
    M = classes !== undefined && typeof classes.Message === 'function' ? classes.Message : null;
    S = classes !== undefined && typeof classes.Section === 'function' ? classes.Section : null;
    const n = tape[H_N];
    const buffer = from(bytes, tape[H_BASE], tape[H_LEN]);
    const indexAt = tape[H_INDEX_AT];
    if (indexAt >= 0) {
      const deliveries = { length: n, buffer, tape, bigAt: tape[H_BIG_AT], indexAt, read };
      return { type: 'messages', epoch: tape[H_EPOCH], attach: tape[H_ATTACH], deliveries };
    }
    b = buffer;
    ab = bytes;
    base = tape[H_BASE];
    big = tape[H_BIG_AT];
    t = tape;
    p = HEAD;
    const deliveries = new Array(n);
    for (let i = 0; i < n; i++) {
      const id = t[p];
      const format = t[p + 1];
      const flags = t[p + 2];
      p += 3;
      const tag = bin();
      const message = M !== null ? new M() : {};
      deliveries[i] = { id, tag, format, settled: (flags & FLAG_SETTLED) !== 0, section: (flags & FLAG_SECTION) !== 0, message };
      fill(message);
    }
    const epoch = t[H_EPOCH];
    const attach = t[H_ATTACH];
    b = null;
    ab = null;
    t = null;
    return { type: 'messages', epoch, attach, deliveries };
  };
})
