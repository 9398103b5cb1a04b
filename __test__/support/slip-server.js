'use strict';

/**
 * A correct AMQP 1.0 sender on plain TCP that commits one slip on purpose: the harmless mistakes a
 * real server makes (RabbitMQ's transfer beyond the credit, a repeated flow, a frame for a handle
 * or channel that is not ours, a second open or begin, ...), and the detach or end of our link or
 * session, which a server may do at any time. Apart from its slip it behaves: SASL PLAIN (any
 * credentials), open, begin, attach, link credit respected, and one at-least-once queue, where what
 * is not accepted (released, or unsettled on a link, session or connection that went away) is sent
 * again.
 *
 * The tests assert on what it records: `connections`, `accepted` (message id -> times accepted),
 * `closes` (the client's close frames, with their error), `attaches`, `detaches` and `log`.
 *
 * Slips (`{kind, at, times, ...}`; `at`: after how many transfers on a link it strikes (3), `times`:
 * on how many links (1)):
 *   over-send {extra}           extra transfers beyond the credit, once, when the credit runs out
 *   over-send-flood             on the first connection, from `at` on: every message at once,
 *                               credit or not
 *   repeat-flow                 the same flow (of the link's state) twice
 *   flow-count-ahead {ahead}    a flow whose delivery-count runs `ahead` (5) past all the credit
 *                               granted (its own count goes on unchanged)
 *   unknown-disposition         a disposition for delivery id 9999
 *   unknown-handle-flow | unknown-handle-transfer | unknown-handle-detach   for handle 7
 *   idle-channel                a flow and a disposition on channel 5, where no session is
 *   second-open | second-begin  another open, another begin answering the client's
 *   unknown-attach              an attach for a link named "stranger"
 *   pipelined                   SASL outcome, AMQP header and open in one write, not waiting for
 *                               the client's header (no `at`)
 *   detach {error?}             detach our link (closed, with the error if given)
 *   detach-at-once {times}      detach each of the first `times` attaches right after the reply
 *   detach-after {ms, error?}   detach every link `ms` after its attach (an idle link taken away;
 *                               no `at`, any number of times)
 *   end-session {error?}        end our session
 *   empty-before-open           an empty frame (a heartbeat) between its AMQP header and its open
 *   close-after-attach {ms}     close every connection (amqp:connection:forced) `ms` after the
 *                               attach reply (no `at`, every connection)
 *   garbage {delay}             `delay` ms after the `at`-th transfer, bytes that are no frame
 *                               (once)
 * With `silentClose: true` (beside any kind) the first connection never answers the client's close
 * and keeps its socket open, sending nothing more.
 */

const net = require('node:net');
const { EventEmitter } = require('node:events');

const { AMQP_HEADER, SASL_HEADER, enc, frame, perf, platformMessage, readFrames } = require('./amqp-wire.js');

const OUTCOMES = { 0x24: 'accepted', 0x25: 'rejected', 0x26: 'released', 0x27: 'modified' };
const STRANGER_HANDLE = 7;
const IDLE_CHANNEL = 5;

class SlipServer extends EventEmitter {
  constructor({ slip = null, idleTimeOut } = {}) {
    super();
    this.slip = slip;
    this.idleTimeOut = idleTimeOut;
    this.connections = 0;
    this.sockets = new Set();
    /** [{id, payload}] waiting for credit. */
    this.queue = [];
    /** message id -> times accepted. */
    this.accepted = new Map();
    this.published = [];
    this.closes = [];
    this.attaches = [];
    this.detaches = [];
    this.log = [];
    this.struck = 0;
    this.attachCount = 0;
    /** message id -> times transferred. */
    this.sends = new Map();
    this.live = new Set();
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

  publish(count, prefix = 'slip-') {
    const ids = [];
    for (let i = 0; i < count; i++) {
      const id = `${prefix}${this.published.length}`;
      this.published.push(id);
      this.queue.push({ id, payload: platformMessage(id, JSON.stringify({ id })) });
      ids.push(id);
    }
    for (const ctx of this.live) this._pump(ctx);
    return ids;
  }

  /** Queues a message with this payload as it is (e.g. one that cannot be decoded). */
  publishRaw(id, payload) {
    this.published.push(id);
    this.queue.push({ id, payload });
    for (const ctx of this.live) this._pump(ctx);
    return id;
  }

  /** Whether every id was accepted (at least once). */
  allAccepted(ids = this.published) {
    return ids.every((id) => this.accepted.get(id) >= 1);
  }

  _note(ctx, what) {
    this.log.push(`#${ctx.index} ${what}`);
  }

  _serve(socket) {
    const index = this.connections++;
    this.sockets.add(socket);
    socket.setNoDelay(true);
    const ctx = {
      index, socket, state: { buf: Buffer.alloc(0) }, stage: 'header',
      channel: null, // the client's channel
      link: null, // {name, clientHandle, deliveryCount, limit, unsettled: Map(deliveryId -> msg)}
      nextDeliveryId: 0, sent: 0, overSent: false, closed: false,
    };
    this.live.add(ctx);
    socket.on('error', () => {});
    socket.on('close', () => {
      this.sockets.delete(socket);
      this.live.delete(ctx);
      this._loseLink(ctx, 'connection closed');
      this.emit('connection-closed', index);
    });
    socket.on('data', (chunk) => {
      ctx.state.buf = Buffer.concat([ctx.state.buf, chunk]);
      try {
        this._read(ctx);
      } catch (err) {
        this._note(ctx, `error: ${err.stack}`);
        socket.destroy();
      }
    });
    this.emit('connection', index);
  }

  _write(ctx, ...bufs) {
    if (!ctx.closed) ctx.socket.write(Buffer.concat(bufs));
  }

  _read(ctx) {
    const pipelined = this.slip && this.slip.kind === 'pipelined';
    for (;;) {
      if (ctx.stage === 'header' || ctx.stage === 'amqp-header' || ctx.stage === 'skip-amqp-header') {
        if (ctx.state.buf.length < 8) return;
        const header = ctx.state.buf.subarray(0, 8);
        ctx.state.buf = ctx.state.buf.subarray(8);
        if (ctx.stage === 'header' && header.equals(SASL_HEADER)) {
          this._write(ctx, SASL_HEADER, frame(perf.saslMechanisms(['PLAIN']), { type: 1 }));
          ctx.stage = 'sasl-init';
          continue;
        }
        if (!header.equals(AMQP_HEADER)) throw new Error(`unexpected header ${JSON.stringify(header.toString('latin1'))}`);
        if (ctx.stage !== 'skip-amqp-header') this._write(ctx, AMQP_HEADER, this._open());
        ctx.stage = 'open';
        continue;
      }
      const [f] = readFrames(ctx.state, { one: true });
      if (!f) return;
      if (ctx.stage === 'sasl-init') {
        if (f.name !== 'sasl-init') throw new Error(`expected sasl-init, got ${f.name}`);
        const outcome = frame(perf.saslOutcome(0), { type: 1 });
        if (pipelined) {
          // One write: outcome, our AMQP header and our open, before the client's header came.
          this._write(ctx, outcome, AMQP_HEADER, this._open());
          this.struck += 1;
          this._note(ctx, 'pipelined sasl-outcome + AMQP header + open in one write');
          ctx.stage = 'skip-amqp-header';
        } else {
          this._write(ctx, outcome);
          ctx.stage = 'amqp-header';
        }
        continue;
      }
      this._onFrame(ctx, f);
    }
  }

  _open() {
    const open = frame(perf.open({ containerId: 'slip-server', maxFrameSize: 65536, idleTimeOut: this.idleTimeOut }));
    if (this.slip && this.slip.kind === 'empty-before-open') {
      this.struck += 1;
      return Buffer.concat([frame(), open]);
    }
    return open;
  }

  _onFrame(ctx, f) {
    if (f.name === null) return; // a heartbeat
    switch (f.name) {
      case 'open':
        break;
      case 'begin':
        ctx.channel = f.channel;
        ctx.nextDeliveryId = 0;
        this._write(ctx, frame(perf.begin({ remoteChannel: f.channel }), { channel: 0 }));
        break;
      case 'attach': {
        const [name, clientHandle] = f.fields;
        this.attachCount += 1;
        this.attaches.push({ index: ctx.index, name });
        ctx.link = { name, clientHandle, deliveryCount: 0, limit: 0, unsettled: new Map(), sent: 0 };
        this._write(ctx, frame(perf.attach({ name, handle: 0, role: false, initialDeliveryCount: 0 })));
        const s = this.slip;
        if (s && s.kind === 'detach-at-once' && this.attachCount <= (s.times || 1)) this._detach(ctx, s.error);
        if (s && s.kind === 'detach-after') {
          const link = ctx.link;
          setTimeout(() => {
            if (ctx.link === link && !link.detaching && !ctx.closed) this._detach(ctx, s.error);
          }, s.ms);
        }
        if (s && s.kind === 'close-after-attach') {
          setTimeout(() => {
            if (ctx.closed) return;
            this._write(ctx, frame(perf.close({ error: perf.error('amqp:connection:forced', 'closing for the test') })));
            ctx.closed = true;
            ctx.socket.end();
          }, s.ms);
        }
        break;
      }
      case 'flow': {
        const [, , , , handle, deliveryCount, linkCredit] = f.fields;
        if (handle === null || handle === undefined || !ctx.link) break;
        const dc = deliveryCount === null || deliveryCount === undefined ? 0 : deliveryCount;
        ctx.link.limit = dc + (linkCredit || 0);
        this._pump(ctx);
        break;
      }
      case 'disposition': {
        const [, first, last, , state] = f.fields;
        const outcome = state && OUTCOMES[state.descriptor];
        const end = last === null || last === undefined ? first : last;
        for (let id = first; id <= end; id++) this._settled(ctx, id, outcome);
        this._pump(ctx);
        break;
      }
      case 'detach':
        this.detaches.push({ index: ctx.index, by: 'client', error: f.fields[2] ? f.fields[2].value[0] : null });
        if (ctx.link && ctx.link.detaching) {
          this._loseLink(ctx, 'detached');
        } else if (ctx.link) {
          // The client detached on its own: answer, the link is gone.
          this._loseLink(ctx, 'client detached');
          this._write(ctx, frame(perf.detach({ handle: 0, closed: true })));
        }
        break;
      case 'end':
        if (ctx.ending) {
          ctx.ending = false;
        } else {
          this._write(ctx, frame(perf.end({})));
        }
        this._loseLink(ctx, 'session ended');
        ctx.channel = null;
        break;
      case 'close': {
        const err = f.fields[0];
        this.closes.push({ index: ctx.index, at: Date.now(), condition: err ? err.value[0] : null, description: err ? err.value[1] : null });
        if (this.slip && this.slip.silentClose && ctx.index === 0) {
          ctx.closed = true;
          break;
        }
        this._write(ctx, frame(perf.close({})));
        ctx.closed = true;
        ctx.socket.end();
        break;
      }
      default:
        break;
    }
  }

  _settled(ctx, deliveryId, outcome) {
    const link = ctx.link;
    if (!link) return;
    const m = link.unsettled.get(deliveryId);
    if (!m) return;
    link.unsettled.delete(deliveryId);
    if (outcome === 'accepted') this.accepted.set(m.id, (this.accepted.get(m.id) || 0) + 1);
    else if (outcome !== 'rejected') this.queue.unshift(m);
  }

  /** The link is gone: what it left unsettled goes back to the head of the queue. */
  _loseLink(ctx, why) {
    const link = ctx.link;
    if (!link) return;
    ctx.link = null;
    const back = [...link.unsettled.values()];
    if (back.length) this._note(ctx, `${why}: ${back.length} unsettled back in the queue`);
    this.queue.unshift(...back);
    for (const other of this.live) if (other !== ctx) this._pump(other);
    this._pump(ctx);
  }

  _transfer(ctx, m, { handle = 0 } = {}) {
    this.sends.set(m.id, (this.sends.get(m.id) || 0) + 1);
    const id = ctx.nextDeliveryId++;
    this._write(ctx, frame(Buffer.concat([perf.transfer({ handle, deliveryId: id, deliveryTag: Buffer.from(`t${id}`), messageFormat: 0, settled: false }), m.payload])));
    return id;
  }

  _pump(ctx) {
    const link = ctx.link;
    if (!link || link.detaching || ctx.closed || ctx.ending || ctx.channel === null) return;
    const s = this.slip;
    // The flood is on the first connection only: the one after it is served well.
    const flood = () => s && s.kind === 'over-send-flood' && ctx.index === 0 && ctx.sent >= (s.at || 3);
    while (this.queue.length && (link.deliveryCount < link.limit || flood())) {
      const m = this.queue.shift();
      const id = this._transfer(ctx, m);
      link.unsettled.set(id, m);
      link.deliveryCount += 1;
      link.sent += 1;
      ctx.sent += 1;
      if (this._strike(ctx)) return;
    }
    if (s && s.kind === 'over-send' && !ctx.overSent && ctx.sent >= (s.at || 3) && link.deliveryCount >= link.limit && this.queue.length) {
      // RabbitMQ's slip: transfers past the credit our peer granted.
      ctx.overSent = true;
      this.struck += 1;
      for (let i = 0; i < (s.extra || 1) && this.queue.length; i++) {
        const m = this.queue.shift();
        const id = this._transfer(ctx, m);
        link.unsettled.set(id, m);
        link.deliveryCount += 1;
        ctx.sent += 1;
      }
      this._note(ctx, `over-sent ${s.extra || 1} beyond the credit`);
    }
  }

  /**
   * Commits the slip once `at` transfers went out on the link, `times` (1) times in the server's
   * life. Returns true when the link or session went.
   */
  _strike(ctx) {
    const s = this.slip;
    if (!s || ['over-send', 'over-send-flood', 'pipelined', 'detach-at-once', 'detach-after', 'empty-before-open', 'close-after-attach'].includes(s.kind)) return false;
    if (ctx.link.sent !== (s.at || 3) || this.struck >= (s.times || 1)) return false;
    const link = ctx.link;
    const ch = { channel: 0 };
    const stateFlow = (extra = {}) => frame(perf.flow({
      nextIncomingId: 0, nextOutgoingId: ctx.nextDeliveryId, handle: 0, deliveryCount: link.deliveryCount,
      linkCredit: Math.max(0, link.limit - link.deliveryCount), available: this.queue.length, ...extra,
    }), ch);
    switch (s.kind) {
      case 'repeat-flow':
        this._write(ctx, stateFlow(), stateFlow());
        break;
      case 'flow-count-ahead':
        // A delivery-count past everything granted (and no credit left): a sender may not advance
        // it so far. Our own count goes on as it was.
        this._write(ctx, stateFlow({ deliveryCount: link.limit + (s.ahead || 5), linkCredit: 0 }));
        break;
      case 'unknown-disposition':
        this._write(ctx, frame(perf.disposition({ role: false, first: 9999, settled: true, state: enc.described(0x24, enc.list([])) }), ch));
        break;
      case 'unknown-handle-flow':
        this._write(ctx, frame(perf.flow({ nextOutgoingId: ctx.nextDeliveryId, handle: STRANGER_HANDLE, deliveryCount: 0, linkCredit: 10 }), ch));
        break;
      case 'unknown-handle-transfer': {
        // A delivery on a link that is not ours: a session-level transfer all the same (its id is used).
        const stray = { id: 'stray', payload: platformMessage('stray', '{"stray":true}') };
        this._transfer(ctx, stray, { handle: STRANGER_HANDLE });
        break;
      }
      case 'unknown-handle-detach':
        this._write(ctx, frame(perf.detach({ handle: STRANGER_HANDLE, closed: true }), ch));
        break;
      case 'idle-channel':
        this._write(ctx,
          frame(perf.flow({ handle: 0, deliveryCount: 0, linkCredit: 10 }), { channel: IDLE_CHANNEL }),
          frame(perf.disposition({ role: false, first: 0, settled: true, state: enc.described(0x24, enc.list([])) }), { channel: IDLE_CHANNEL }));
        break;
      case 'second-open':
        this._write(ctx, this._open());
        break;
      case 'second-begin':
        this._write(ctx, frame(perf.begin({ remoteChannel: ctx.channel }), ch));
        break;
      case 'unknown-attach':
        this._write(ctx, frame(perf.attach({ name: 'stranger', handle: 3, role: false }), ch));
        break;
      case 'detach':
        this._detach(ctx, s.error);
        this.struck += 1;
        return true;
      case 'garbage':
        // A frame header announcing 4 bytes (below the 8 every frame has): no frame at all.
        setTimeout(() => this._write(ctx, Buffer.from([0, 0, 0, 4, 2, 0, 0, 0])), s.delay || 0);
        break;
      case 'end-session':
        ctx.ending = true;
        this._write(ctx, frame(perf.end(s.error ? { error: perf.error(s.error.condition, s.error.description) } : {}), ch));
        this.struck += 1;
        this._note(ctx, 'ended the session');
        return true;
      default:
        return false;
    }
    this.struck += 1;
    this._note(ctx, `slip: ${s.kind}`);
    return false;
  }

  _detach(ctx, error) {
    const link = ctx.link;
    link.detaching = true;
    this.detaches.push({ index: ctx.index, by: 'server', error: error ? error.condition : null });
    this._write(ctx, frame(perf.detach({ handle: 0, closed: true, error: error ? perf.error(error.condition, error.description) : undefined })));
    this._note(ctx, `detached the link${error ? ` with ${error.condition}` : ''}`);
  }
}

async function startSlipServer(opts) {
  const s = new SlipServer(opts);
  await s.start();
  return s;
}

module.exports = { SlipServer, startSlipServer, STRANGER_HANDLE, IDLE_CHANNEL };
