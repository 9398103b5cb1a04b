'use strict';
// What the command line writes: messages formatted (JSON, readable lines, the demo's short
// lines), lines on stdout (a closed stdout noted, not thrown), and log lines on stderr.

/** A line on stderr: events, warnings, summaries (everything but messages and settings). */
function log(line) {
  process.stderr.write(`${line}\n`);
}

/** The payload for JSON output: parsed JSON, else UTF-8 text, else base64. */
function payloadFields(content) {
  const text = content.toString('utf8');
  try {
    return { payload: JSON.parse(text) };
  } catch {
    // not JSON
  }
  return Buffer.from(text, 'utf8').equals(content) ? { text } : { base64: content.toString('base64') };
}

function compactTopicInfo(info) {
  const out = { kind: info.kind };
  if (info.productKey !== undefined) out.productKey = info.productKey;
  if (info.deviceName !== undefined) out.deviceName = info.deviceName;
  if (info.identifier !== undefined) out.identifier = info.identifier;
  return out;
}

/** One line for a message: JSON, or `time topic [kind] messageId payload`. */
function formatMessage(msg, json) {
  if (json) {
    return JSON.stringify({
      topic: msg.topic,
      messageId: msg.messageId,
      generateTime: msg.generateTime,
      topicInfo: compactTopicInfo(msg.topicInfo),
      clientId: msg.clientId,
      ...payloadFields(msg.content),
    });
  }
  const when = typeof msg.generateTime === 'number' ? new Date(msg.generateTime).toISOString() : '-';
  const info = msg.topicInfo;
  const kind = info.identifier !== undefined ? `${info.kind}:${info.identifier}` : info.kind;
  const fields = payloadFields(msg.content);
  const payload = 'payload' in fields ? JSON.stringify(fields.payload) : 'text' in fields ? JSON.stringify(fields.text) : `<${msg.content.length} bytes, base64 ${fields.base64}>`;
  return `${when} ${msg.topic} [${kind}] ${msg.messageId} ${payload}`;
}

/** The width of demo lines when stdout is no terminal and COLUMNS is not set. */
const DEMO_WIDTH = 110;
/** The narrowest width demo lines are fitted to (a narrower terminal wraps them). */
const MIN_WIDTH = 40;

/**
 * The width demo lines are kept to: a terminal's (one column less, so that a full line does not
 * wrap the cursor), else the COLUMNS variable's (the same), else DEMO_WIDTH. Read at every line, so
 * that a resized terminal is followed.
 */
function demoWidth(stream = process.stdout, env = process.env) {
  const columns = stream && stream.isTTY && stream.columns > 0 ? stream.columns : /^\d+$/.test(env.COLUMNS || '') ? Number(env.COLUMNS) : 0;
  return columns > 0 ? Math.max(MIN_WIDTH, columns - 1) : DEMO_WIDTH;
}

/** A payload summed up for the demo: the values a person looks for, by topic family. */
function shortPayload(msg) {
  const fields = payloadFields(msg.content);
  if (!('payload' in fields)) return 'text' in fields ? fields.text : `<${msg.content.length} bytes>`;
  const p = fields.payload;
  if (p === null || typeof p !== 'object') return JSON.stringify(p);
  const show = (v) => (v !== null && typeof v === 'object' ? JSON.stringify(v) : String(v));
  switch (msg.topicInfo.kind) {
    case 'property':
      if (p.items && typeof p.items === 'object') {
        return Object.entries(p.items).map(([k, v]) => {
          const value = v && typeof v === 'object' && 'value' in v ? v.value : v;
          if (k === 'doorState') return `${k}=${value ? 'open' : 'closed'}`;
          if (k === 'battery' || k === 'humidity') return `${k}=${value}%`;
          return `${k}=${show(value)}`;
        }).join(' ');
      }
      break;
    case 'event':
      if (p.value !== undefined) return show(p.value);
      break;
    case 'status':
      if (p.status !== undefined) return String(p.status);
      break;
    case 'service-reply':
      if (p.code !== undefined) return `${p.code} ${p.message || ''}`.trim();
      break;
    case 'lifecycle':
      if (p.action !== undefined) return String(p.action);
      break;
    default:
      break;
  }
  return JSON.stringify(p);
}

/**
 * A demo line, at most `width` characters: `HH:MM:SS topic [kind] short payload`. Narrower than
 * DEMO_WIDTH, the topic gives way to the device it names (`productKey/deviceName`, below 90
 * columns `deviceName`: the kind says the rest); a payload still too long is cut, ending in `…`.
 */
function formatDemoMessage(msg, width = demoWidth()) {
  const at = typeof msg.generateTime === 'number' ? new Date(msg.generateTime) : new Date();
  const time = [at.getHours(), at.getMinutes(), at.getSeconds()].map((n) => String(n).padStart(2, '0')).join(':');
  const info = msg.topicInfo;
  const kind = info.identifier !== undefined ? `${info.kind}:${info.identifier}` : info.kind;
  let who = msg.topic;
  if (width < DEMO_WIDTH && info.deviceName !== undefined) who = width < 90 || info.productKey === undefined ? info.deviceName : `${info.productKey}/${info.deviceName}`;
  const head = `${time} ${who} [${kind}] `;
  const payload = shortPayload(msg).replace(/\s+/g, ' ');
  const line = head + payload;
  return line.length > width ? `${line.slice(0, width - 1)}…` : line;
}

/** Writes a line to stdout at once (settings, the version). */
function writeLine(line) {
  process.stdout.write(`${line}\n`);
}

// A closed stdout (`consume | head -1`: EPIPE) is an 'error' event; noted here, it ends
// printMessages' loop (watch.js).
let stdoutError = null;

/** Notes stdout's first error for printLine; the command line calls it once, before any command. */
function watchStdout() {
  process.stdout.on('error', (err) => {
    if (!stdoutError) stdoutError = err;
  });
}

/** Prints a message's line; resolves once it was written (null) or could not be (the error). */
function printLine(line) {
  if (stdoutError) return Promise.resolve(stdoutError);
  return new Promise((resolve) => {
    process.stdout.write(`${line}\n`, (err) => resolve(err || stdoutError || null));
  });
}

module.exports = { log, formatMessage, formatDemoMessage, demoWidth, writeLine, watchStdout, printLine };
