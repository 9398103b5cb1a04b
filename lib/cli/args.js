'use strict';
// The command line's arguments: parsing them, checking each setting (flag or environment
// variable) and naming the flag or variable in the usage error when one is wrong.

const fs = require('node:fs');
const { parseArgs } = require('node:util');

class UsageError extends Error {}

/**
 * parseArgs with usage errors, and a negative number after a flag taken as its value
 * (`--count -1`), so that the flag's own check names it rather than parseArgs calling it ambiguous.
 */
function parse(args, options) {
  const joined = [];
  for (let i = 0; i < args.length; i += 1) {
    const name = /^--([^=]+)$/.exec(args[i]);
    if (name && options[name[1]] && options[name[1]].type === 'string' && /^-\d/.test(args[i + 1] || '')) {
      joined.push(`${args[i]}=${args[i + 1]}`);
      i += 1;
    } else {
      joined.push(args[i]);
    }
  }
  try {
    return parseArgs({ args: joined, options: { help: { type: 'boolean', short: 'h' }, ...options }, allowPositionals: false, strict: true }).values;
  } catch (err) {
    throw new UsageError(err.message);
  }
}

/** An integer setting; `label` names where it came from (`--port`, `ALIYUN_IOT_AMQP_PORT`). */
function int(label, value, { min = 0, max, def } = {}) {
  if (value === undefined || value === '') return def;
  const n = /^-?\d+$/.test(String(value).trim()) ? Number(value) : NaN;
  if (!Number.isSafeInteger(n) || n < min || (max !== undefined && n > max)) {
    throw new UsageError(`${label} must be an integer ${max !== undefined ? `from ${min} to ${max}` : `of at least ${min}`}, got ${JSON.stringify(value)}`);
  }
  return n;
}

function positive(label, value, def) {
  if (value === undefined) return def;
  const n = Number(value);
  if (!Number.isFinite(n) || n <= 0) throw new UsageError(`${label} must be a positive number, got ${JSON.stringify(value)}`);
  return n;
}

/** A flag's value, else the environment variable's: {value, label} (label names the source). */
function setting(o, flag, envName) {
  if (o[flag] !== undefined) return { value: o[flag], label: `--${flag}` };
  const v = process.env[envName];
  return { value: v === '' ? undefined : v, label: envName };
}

/** A topic filter, checked: its error names --topic. */
function topicFilter(glob) {
  try {
    return require('../../index.js').topicMatcher(glob);
  } catch (err) {
    throw new UsageError(`--topic: ${String(err.message).replace(/^aliyun-iot-amqp: /, '')}`);
  }
}

/** Why a file or directory could not be used, in words, from a file system error. */
function fsReason(err) {
  return {
    ENOENT: 'no such file', EACCES: 'permission denied', EPERM: 'permission denied', EISDIR: 'a directory, not a file',
    ENOTDIR: 'not a directory', EEXIST: 'not a directory', EROFS: 'a read-only file system', ELOOP: 'too many symbolic links',
  }[err.code] || String(err.message).replace(/^[A-Z]+: /, '');
}

/** A file's contents for --ca: a usage error naming the flag and the file when it cannot be read. */
function readFlagFile(flag, file) {
  try {
    return fs.readFileSync(file);
  } catch (err) {
    throw new UsageError(`--${flag}: cannot read ${file} (${fsReason(err)})`);
  }
}

/**
 * A file opened for --file, checked up front: its descriptor, or a usage error naming the flag and
 * the file when it cannot be read (missing, a directory, not permitted).
 */
function openFlagFile(flag, file) {
  let fd;
  try {
    fd = fs.openSync(file, 'r');
    if (fs.fstatSync(fd).isDirectory()) throw Object.assign(new Error('a directory'), { code: 'EISDIR' });
    return fd;
  } catch (err) {
    if (fd !== undefined) fs.closeSync(fd);
    throw new UsageError(`--${flag}: cannot read ${file} (${fsReason(err)})`);
  }
}

/** createConsumer()'s option names, as the flags or variables of `consume` that set them. */
function optionLabel(option, labels) {
  return labels[option] || option;
}

module.exports = { UsageError, parse, int, positive, setting, topicFilter, fsReason, readFlagFile, openFlagFile, optionLabel };
