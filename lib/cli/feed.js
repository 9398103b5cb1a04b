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

/** A JSON value as a warning shows it: at most 40 characters. */
function shown(v) {
  const text = JSON.stringify(v);
  return text.length > 40 ? `${text.slice(0, 39)}…` : text;
}

/** A line of --file / stdin that is no message: skipped with a warning giving `reason`. */
class SkippedLine extends Error {}

/**
 * A JSON line of --file / stdin as publish() fields. Throws a SkippedLine saying why when the line
 * is not JSON, or not an object with a "topic" string (text is published with {"text": ...}).
 */
function lineToMessage(line) {
  let m;
  try {
    m = JSON.parse(line);
  } catch (err) {
    throw new SkippedLine(`not JSON (${err.message})`);
  }
  if (m === null || typeof m !== 'object' || Array.isArray(m)) {
    throw new SkippedLine(`not a JSON object like {"topic": "/...", "payload": ...}, got ${shown(m)}`);
  }
  if (m.topic === undefined) throw new SkippedLine('no "topic"');
  if (typeof m.topic !== 'string' || m.topic === '') throw new SkippedLine(`"topic" must be a non-empty string, got ${shown(m.topic)}`);
  const generateTime = typeof m.generateTime === 'string' && /^\d+$/.test(m.generateTime) ? Number(m.generateTime) : m.generateTime;
  if (generateTime !== undefined && !(Number.isSafeInteger(generateTime) && generateTime >= 0)) {
    throw new SkippedLine(`"generateTime" must be an integer (ms since the epoch), got ${shown(m.generateTime)}`);
  }
  const out = { topic: m.topic };
  if (m.messageId !== undefined) out.messageId = String(m.messageId);
  if (generateTime !== undefined) out.generateTime = generateTime;
  if (m.base64 !== undefined) out.body = Buffer.from(String(m.base64), 'base64');
  else if (m.payload !== undefined) out.body = m.payload;
  else if (m.body !== undefined) out.body = m.body;
  else if (m.text !== undefined) out.body = String(m.text);
  return out;
}

/**
 * Publishes each JSON line of `stream`; a line that is no message (see lineToMessage) is skipped
 * with a warning naming `name:line`. A read error is logged. Calls onDone(published, skipped) at
 * the end.
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
      if (!(err instanceof SkippedLine)) throw err;
      skipped += 1;
      log(`${name}:${lineNo}: ${err.message}: skipped`);
      return;
    }
    emu.publish(message);
    n += 1;
  });
  // The input's errors come here too (readline forwards them); unheard, they would end the process.
  rl.on('error', (err) => {
    log(`${name}: cannot read further (${err.code || err.message}) after line ${lineNo}`);
    rl.close(); // the summary follows ('close')
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
