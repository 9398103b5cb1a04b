'use strict';
// Debug logging in the ecosystem's habit: DEBUG=aliyun-iot-amqp* (or a category such as
// aliyun-iot-amqp:reconnect) prints to stderr; silent otherwise. Categories: frames (the AMQP
// frames in and out: the native core hands each line over as a 'log' event), events, reconnect.
// This is the one writer of debug lines: each is timestamped and written whole, in one write. Secrets are never printed:
// the SASL response is shown as [redacted] and message bodies are not shown at all.

const PREFIX = 'aliyun-iot-amqp';

function patterns(spec) {
  return String(spec || '')
    .split(/[\s,]+/)
    .filter(Boolean)
    .map((p) => ({
      negate: p.startsWith('-'),
      re: new RegExp(`^${p.replace(/^-/, '').replace(/[.+?^${}()|[\]\\]/g, '\\$&').replace(/\*/g, '.*?')}$`),
    }));
}

/** Whether `name` is enabled by the DEBUG specification `spec`. */
function enabled(name, spec = process.env.DEBUG) {
  const list = patterns(spec);
  if (list.some((p) => p.negate && p.re.test(name))) return false;
  return list.some((p) => !p.negate && p.re.test(name));
}

/** A logger for `aliyun-iot-amqp:<category>`: a no-op unless enabled. */
function logger(category) {
  const name = `${PREFIX}:${category}`;
  if (!enabled(name)) return null;
  return (...parts) => {
    // One line each, whatever the parts hold.
    const text = parts.join(' ').replace(/\r?\n/g, '\\n');
    process.stderr.write(`${new Date().toISOString()} ${name} ${text}\n`);
  };
}

module.exports = { enabled, logger, PREFIX };
