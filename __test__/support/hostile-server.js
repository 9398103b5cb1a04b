'use strict';

/**
 * A hostile AMQP 1.0 "server" on plain TCP, for robustness tests of the client.
 *
 * It speaks just enough AMQP to get a client past the handshake (SASL PLAIN if the client starts
 * with the SASL header, none otherwise; open, begin, attach, and waiting for the client's flow),
 * then, at the stage a case names, writes the case's bytes instead of (or after) what a server
 * would send, and ends the socket. With no case (or a `valid` one) it serves well-formed messages.
 *
 * The AMQP encoder and decoder it uses are in ./amqp-wire.js; the seeded fuzz corpus of cases is
 * in ./hostile-cases.js.
 */

const net = require('node:net');
const { EventEmitter } = require('node:events');

const { AMQP_HEADER, SASL_HEADER, frame, perf, platformMessage, readFrames } = require('./amqp-wire.js');

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

module.exports = { HostileServer, startHostileServer };
