'use strict';
// What the command line gives the emulator, for emulator and demo: generated keys, and the
// messages it publishes (generated at a rate, or read from JSON lines).

const readline = require('node:readline');
const { log } = require('./output.js');

/** A random AccessKey pair in the platform's shape (`LTAI…`), for an emulator run. */
function randomKeys() {
  const crypto = require('node:crypto');
  const alnum = (n) => {
    const chars = 'ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789';
    return Array.from(crypto.randomBytes(n), (b) => chars[b % chars.length]).join('');
  };
  return { accessKeyId: `LTAI${alnum(20)}`, accessKeySecret: alnum(30) };
}

/**
 * A JSON line of --file / stdin as publish() fields; throws a SyntaxError when the line is not
 * JSON (text is published with {"text": ...}). A JSON value that is not an object is the payload.
 */
function lineToMessage(line) {
  const m = JSON.parse(line);
  if (m === null || typeof m !== 'object' || Array.isArray(m)) return { body: m };
  const out = {};
  if (m.topic !== undefined) out.topic = String(m.topic);
  if (m.messageId !== undefined) out.messageId = String(m.messageId);
  if (m.generateTime !== undefined) out.generateTime = Number(m.generateTime);
  if (m.base64 !== undefined) out.body = Buffer.from(String(m.base64), 'base64');
  else if (m.payload !== undefined) out.body = m.payload;
  else if (m.body !== undefined) out.body = m.body;
  else if (m.text !== undefined) out.body = String(m.text);
  return out;
}

/**
 * Publishes each JSON line of `stream`; a line that is not JSON is skipped with a warning naming
 * `name:line`. Calls onDone(published, skipped) at the end.
 */
function publishLines(emu, stream, name, onDone) {
  const rl = readline.createInterface({ input: stream, crlfDelay: Infinity });
  let n = 0;
  let lineNo = 0;
  let skipped = 0;
  rl.on('line', (line) => {
    lineNo += 1;
    if (line.trim() === '') return;
    let message;
    try {
      message = lineToMessage(line);
    } catch (err) {
      skipped += 1;
      log(`${name}:${lineNo}: not JSON (${err.message}): skipped`);
      return;
    }
    emu.publish(message);
    n += 1;
  });
  rl.on('close', () => onDone(n, skipped));
}

/** Publishes `rate` generated messages per second, `count` at most; returns a stop function. */
function generate(emu, rate, count) {
  const { sampleMessage } = require('../emulator/index.js');
  const tick = Math.max(10, Math.round(1000 / rate));
  const started = Date.now();
  let sent = 0;
  const timer = setInterval(() => {
    const due = Math.floor(((Date.now() - started) / 1000) * rate) + 1;
    while (sent < due && (count === undefined || sent < count)) emu.publish(sampleMessage(sent++));
    if (count !== undefined && sent >= count) clearInterval(timer);
  }, tick);
  emu.publish(sampleMessage(sent++));
  return () => clearInterval(timer);
}

module.exports = { randomKeys, lineToMessage, publishLines, generate };
