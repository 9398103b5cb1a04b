'use strict';

/**
 * A TCP proxy that sits between the client and a server (the emulator) and injects network faults
 * on command. It forwards bytes, so it works for TLS as well as plain TCP.
 *
 * Every fault can target one proxied connection (`{id}`), or all current ones (the default); with
 * `{sticky: true}` a fault is also applied to every connection accepted later, until `clear()`.
 *
 * Faults:
 * - `reset()`: destroy both sides with a TCP RST (`socket.resetAndDestroy()`).
 * - `blackhole()`: stop forwarding in both directions; the sockets stay open and whatever arrives
 *   is dropped (as a network that lost its route). When the client finally gives up and closes its
 *   side, the server side is closed too: that stands for the server's own idle timeout, which
 *   would otherwise keep the in-flight deliveries hostage for 30 s or more.
 * - `stall(direction, ms)`: hold everything in one direction for `ms`, then deliver it in order.
 * - `throttle(bytesPerSecond, direction?)`: slow a direction (or both) down to a byte rate.
 * - `cut(direction)`: forward only a prefix of the next chunk in that direction (cut inside its
 *   first AMQP frame when the chunk starts with one), then end that side and destroy the other.
 *
 * Directions: 'toServer' (client → server), 'toClient' (server → client), 'both'.
 *
 * The proxy is an EventEmitter: 'connection' (a Pair), 'close' (a Pair), 'fault' ({kind, id}).
 * With `tap`, it is also a wiretap (see `AmqpTap` in hostile-server.js for decoding the frames).
 */

const net = require('node:net');
const { EventEmitter } = require('node:events');

const DIRECTIONS = Object.freeze(['toServer', 'toClient']);
/** Bytes a direction buffers (stalled or throttled) before it stops reading from its source. */
const HIGH_WATER = 1 << 20;

function directionsOf(direction) {
  if (direction === undefined || direction === 'both') return DIRECTIONS;
  if (!DIRECTIONS.includes(direction)) throw new TypeError(`direction must be 'toServer', 'toClient' or 'both', got ${direction}`);
  return [direction];
}

/** One direction of a proxied connection: from `src` to `dst`, with its fault state. */
class Pipe {
  constructor(pair, name, src, dst) {
    this.pair = pair;
    this.name = name;
    this.src = src;
    this.dst = dst;
    this.queue = [];
    this.queued = 0;
    this.bytes = 0;
    this.blackholed = false;
    this.stallUntil = 0;
    this.rate = 0; // bytes per second; 0: unlimited
    this.tokens = 0;
    this.lastRefill = 0;
    this.cutNext = null; // null or a function(chunk) -> prefix length
    this.timer = null;
    this.waitingDrain = false;
    src.on('data', (chunk) => this.onData(chunk));
  }

  onData(chunk) {
    if (this.pair.closed || this.blackholed) return;
    this.queue.push(chunk);
    this.queued += chunk.length;
    if (this.queued > HIGH_WATER) this.src.pause();
    this.pump();
  }

  schedule(ms) {
    if (this.timer) return;
    this.timer = setTimeout(() => {
      this.timer = null;
      this.pump();
    }, Math.max(1, Math.ceil(ms)));
  }

  pump() {
    if (this.pair.closed) return;
    while (this.queue.length && !this.pair.closed) {
      if (this.blackholed) {
        this.queue = [];
        this.queued = 0;
        break;
      }
      const now = Date.now();
      if (this.stallUntil > now) {
        this.schedule(this.stallUntil - now);
        return;
      }
      if (this.waitingDrain) return;
      let chunk = this.queue[0];
      if (this.cutNext) {
        const cut = this.cutNext;
        this.cutNext = null;
        const n = cut(chunk);
        this.pair.emitFault('cut', this.name, n);
        if (this.pair.proxy.tap) this.pair.proxy.tap(this.name, chunk.subarray(0, n), this.pair);
        // The receiver gets a truncated frame followed by end-of-stream; the sender a closed socket.
        this.dst.end(chunk.subarray(0, n));
        const other = this.dst === this.pair.client ? this.pair.server : this.pair.client;
        other.destroy();
        this.pair.finish();
        return;
      }
      if (this.rate > 0) {
        this.tokens = Math.min(this.rate, this.tokens + ((now - this.lastRefill) / 1000) * this.rate);
        this.lastRefill = now;
        if (this.tokens < 1) {
          this.schedule(((1 - this.tokens) / this.rate) * 1000);
          return;
        }
        const n = Math.min(chunk.length, Math.floor(this.tokens));
        this.tokens -= n;
        if (n < chunk.length) {
          this.queue[0] = chunk.subarray(n);
          chunk = chunk.subarray(0, n);
        } else {
          this.queue.shift();
        }
      } else {
        this.queue.shift();
      }
      this.queued -= chunk.length;
      this.bytes += chunk.length;
      if (this.pair.proxy.tap) this.pair.proxy.tap(this.name, chunk, this.pair);
      if (!this.dst.write(chunk)) {
        this.waitingDrain = true;
        this.dst.once('drain', () => {
          this.waitingDrain = false;
          this.pump();
        });
        return;
      }
    }
    if (this.queued <= HIGH_WATER && this.src.isPaused() && !this.pair.closed) this.src.resume();
  }

  stop() {
    if (this.timer) clearTimeout(this.timer);
    this.timer = null;
    this.queue = [];
    this.queued = 0;
  }
}

/** One proxied connection: the client's socket and ours to the server. */
class Pair {
  constructor(proxy, id, client) {
    this.proxy = proxy;
    this.id = id;
    this.client = client;
    this.closed = false;
    this.openedAt = Date.now();
    this.closedAt = null;
    this.faults = [];
    client.setNoDelay(true);
    this.server = net.connect({ host: proxy.target.host, port: proxy.target.port });
    this.server.setNoDelay(true);
    this.up = new Pipe(this, 'toServer', client, this.server);
    this.down = new Pipe(this, 'toClient', this.server, client);
    for (const s of [client, this.server]) {
      s.on('error', () => {});
      s.on('close', () => this._sideGone(s));
      // An end on one side: pass it on once the bytes before it went through.
      s.on('end', () => {
        const other = s === client ? this.server : client;
        const pipe = s === client ? this.up : this.down;
        if (pipe.blackholed) this._sideGone(s);
        else if (!pipe.queue.length) other.end();
        else this.finish();
      });
    }
  }

  /**
   * One side closed. Behind a black hole the client never hears of the server going away (it must
   * find out by itself); the client giving up ends the pair (standing for the server's timeout).
   */
  _sideGone(socket) {
    if (this.up.blackholed && socket === this.server) return;
    this.finish();
  }

  pipes(direction) {
    return directionsOf(direction).map((d) => (d === 'toServer' ? this.up : this.down));
  }

  emitFault(kind, detail, extra) {
    const record = { kind, id: this.id, detail, extra, at: Date.now() };
    this.faults.push(record);
    this.proxy.faults.push(record);
    this.proxy.emit('fault', record);
  }

  /** Destroys both sockets (idempotent). */
  finish() {
    if (this.closed) return;
    this.closed = true;
    this.closedAt = Date.now();
    this.up.stop();
    this.down.stop();
    // Give a pending end() (cut) a moment to flush before the socket is torn down.
    if (!this.client.destroyed && !this.client.writableEnded) this.client.destroy();
    if (!this.server.destroyed && !this.server.writableEnded) this.server.destroy();
    setTimeout(() => {
      this.client.destroy();
      this.server.destroy();
    }, 50).unref();
    this.proxy.pairs.delete(this.id);
    this.proxy.emit('close', this);
  }

  reset() {
    if (this.closed) return;
    this.emitFault('reset');
    for (const s of [this.client, this.server]) {
      try {
        s.resetAndDestroy();
      } catch {
        s.destroy();
      }
    }
    this.finish();
  }

  blackhole() {
    if (this.closed) return;
    this.emitFault('blackhole');
    for (const p of [this.up, this.down]) {
      p.blackholed = true;
      p.stop();
      // Keep reading (and dropping) so that the peers' writes succeed and a close is noticed.
      if (p.src.isPaused()) p.src.resume();
    }
  }

  stall(direction, ms) {
    if (this.closed) return;
    this.emitFault('stall', direction, ms);
    const until = Date.now() + ms;
    for (const p of this.pipes(direction)) p.stallUntil = Math.max(p.stallUntil, until);
  }

  throttle(bytesPerSecond, direction) {
    if (this.closed) return;
    this.emitFault('throttle', direction || 'both', bytesPerSecond);
    for (const p of this.pipes(direction)) {
      p.rate = bytesPerSecond;
      p.tokens = 0;
      p.lastRefill = Date.now();
      p.pump();
    }
  }

  cut(direction, chooser) {
    if (this.closed) return;
    const [pipe] = this.pipes(direction);
    if (!pipe || directionsOf(direction).length !== 1) throw new TypeError("cut() needs 'toServer' or 'toClient'");
    pipe.cutNext = chooser || defaultCut(this.proxy.random);
    pipe.pump();
  }

  /** Lifts stalls and throttles (a pending cut stays armed). */
  clearFaults() {
    for (const p of [this.up, this.down]) {
      p.stallUntil = 0;
      p.rate = 0;
      p.pump();
    }
  }
}

/**
 * Where to cut a chunk: inside its first AMQP frame if the chunk starts with a frame header whose
 * size fits in the chunk (so the receiver sees a truncated frame), else anywhere strictly inside.
 */
function defaultCut(random = Math.random) {
  return (chunk) => {
    if (chunk.length < 2) return 0;
    let limit = chunk.length - 1;
    if (chunk.length >= 8) {
      const size = chunk.readUInt32BE(0);
      if (size >= 8 && size <= chunk.length) limit = size - 1;
    }
    return 1 + Math.floor(random() * limit);
  };
}

class FaultProxy extends EventEmitter {
  /**
   * @param {object} opts
   * @param {{host?: string, port: number}} opts.target The server to forward to.
   * @param {string} [opts.host='127.0.0.1'] Where to listen.
   * @param {number} [opts.port=0]
   * @param {() => number} [opts.random=Math.random] Source of randomness for cut points.
   * @param {(direction: string, chunk: Buffer, pair: Pair) => void} [opts.tap] A wiretap: sees every
   *   chunk exactly as it is passed on, in order, per direction.
   */
  constructor({ target, host = '127.0.0.1', port = 0, random = Math.random, tap = null } = {}) {
    super();
    if (!target || !target.port) throw new TypeError('FaultProxy: target.port is required');
    this.target = { host: target.host || '127.0.0.1', port: target.port };
    this.host = host;
    this.listenPort = port;
    this.random = random;
    this.tap = tap;
    this.port = undefined;
    this.pairs = new Map();
    this.faults = [];
    this.connectionCount = 0;
    this.sticky = [];
    this._nextId = 1;
    this._server = null;
  }

  async start() {
    this._server = net.createServer((client) => this._onConnection(client));
    await new Promise((resolve, reject) => {
      this._server.once('error', reject);
      this._server.listen({ host: this.host, port: this.listenPort }, () => {
        this._server.off('error', reject);
        resolve();
      });
    });
    this.port = this._server.address().port;
    return this;
  }

  _onConnection(client) {
    const id = this._nextId++;
    this.connectionCount += 1;
    const pair = new Pair(this, id, client);
    this.pairs.set(id, pair);
    this.emit('connection', pair);
    for (const apply of this.sticky) apply(pair);
  }

  /** Live proxied connections. */
  get connections() {
    return this.pairs.size;
  }

  /** The pairs a fault applies to: `{id}` one connection, else all current ones. */
  _targets(opts = {}) {
    if (opts.id !== undefined) {
      const p = this.pairs.get(opts.id);
      return p ? [p] : [];
    }
    return [...this.pairs.values()];
  }

  _apply(opts, fn) {
    const targets = this._targets(opts);
    for (const p of targets) fn(p);
    if (opts && opts.sticky) this.sticky.push(fn);
    return targets.length;
  }

  /** RST both sides. Returns how many connections it hit. */
  reset(opts = {}) {
    return this._apply(opts, (p) => p.reset());
  }

  blackhole(opts = {}) {
    return this._apply(opts, (p) => p.blackhole());
  }

  stall(direction, ms, opts = {}) {
    directionsOf(direction);
    return this._apply(opts, (p) => p.stall(direction, ms));
  }

  throttle(bytesPerSecond, direction, opts = {}) {
    directionsOf(direction);
    return this._apply(opts, (p) => p.throttle(bytesPerSecond, direction));
  }

  cut(direction, opts = {}) {
    if (!DIRECTIONS.includes(direction)) throw new TypeError("cut() needs 'toServer' or 'toClient'");
    return this._apply(opts, (p) => p.cut(direction, opts.at ? () => opts.at : undefined));
  }

  /** Lifts stalls and throttles, and forgets sticky faults (black holes and armed cuts stay). */
  clear() {
    this.sticky = [];
    for (const p of this.pairs.values()) p.clearFaults();
  }

  /** Stops listening and destroys every connection. */
  async close() {
    this.sticky = [];
    for (const p of [...this.pairs.values()]) p.finish();
    if (this._server) await new Promise((resolve) => this._server.close(() => resolve()));
  }
}

async function startProxy(opts) {
  const proxy = new FaultProxy(opts);
  await proxy.start();
  return proxy;
}

module.exports = { FaultProxy, startProxy, defaultCut, DIRECTIONS };
