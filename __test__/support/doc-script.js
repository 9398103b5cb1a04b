'use strict';

/**
 * The platform's Node.js example (`amqp.js` from the "Node.js AMQP SDK" page of the IoT Platform
 * documentation) as a runnable fixture, to prove that a library is a drop-in replacement for rhea:
 * the same script, unchanged but for where it connects, must work against the emulator.
 */

const { spawn } = require('node:child_process');
const fs = require('node:fs');
const os = require('node:os');
const path = require('node:path');

/** The repository's node_modules, so that the script's require('rhea') resolves from a temp dir. */
const REPO_NODE_MODULES = path.resolve(__dirname, '..', '..', 'node_modules');

/**
 * The script exactly as the documentation shows it (placeholders included; `\${` is only the
 * template-literal escape of `${`). Keep it byte-identical to the doc: docScriptSource() makes the
 * only edits.
 */
const DOC_AMQP_JS = `const container = require('rhea');
const crypto = require('crypto');
//工程代码泄露可能会导致AccessKey泄露，并威胁账号下所有资源的安全性。以下代码示例使用环境变量获取 AccessKey 的方式进行调用，仅供参考
var accessKey = process.env['ALIBABA_CLOUD_ACCESS_KEY_ID'];
var accessSecret = process.env['ALIBABA_CLOUD_ACCESS_KEY_SECRET'];
//创建Connection。
var connection = container.connect({
    //接入域名，请参见AMQP客户端接入说明文档。
    'host': '\${YourHost}',
    'port': 5671,
    'transport':'tls',
    'reconnect':true,
    'idle_time_out':60000,
    //userName组装方法，请参见AMQP客户端接入说明文档。
    'username':'\${YourClientId}|authMode=aksign,signMethod=hmacsha1,timestamp=1573489088171,authId=' + accessKey + ',iotInstanceId=\${YourIotInstanceId},consumerGroupId=\${YourConsumerGroupId}|', 
    //计算签名，password组装方法，请参见AMQP客户端接入说明文档。
    'password': hmacSha1(accessSecret, 'authId='+ accessKey +'&timestamp=1573489088171'),
});
//创建Receiver Link。
var receiver = connection.open_receiver();
//接收云端推送消息的回调函数。
container.on('message', function (context) {
    var msg = context.message;
    var messageId = msg.message_id;
    var topic = msg.application_properties.topic;
    var content = Buffer.from(msg.body.content).toString();
    // 输出内容。
    console.log(content);
    //发送ACK，注意不要在回调函数有耗时逻辑。
    context.delivery.accept();
});
//计算password签名。
function hmacSha1(key, context) {
    return Buffer.from(crypto.createHmac('sha1', key).update(context).digest())
        .toString('base64');
}
`;

/** The exact substitutions docScriptSource() makes, each of which must match exactly once. */
const PLACEHOLDERS = Object.freeze([
  ["'${YourHost}'", 'process.env.AMQP_HOST'],
  ["'port': 5671", "'port': Number(process.env.AMQP_PORT)"],
  ['${YourClientId}', 'test-client'],
  ['${YourIotInstanceId}', 'iot-test'],
  ['${YourConsumerGroupId}', 'DEFAULT_GROUP'],
]);

function replaceOnce(text, search, replacement) {
  const at = text.indexOf(search);
  if (at < 0 || text.indexOf(search, at + search.length) >= 0) {
    throw new Error(`doc script: expected exactly one occurrence of ${search}`);
  }
  return text.slice(0, at) + replacement + text.slice(at + search.length);
}

/** A single-quoted JS string literal (so that 'rhea' gives back the doc's own `require('rhea')`). */
function singleQuoted(value) {
  return `'${String(value).replace(/\\/g, '\\\\').replace(/'/g, "\\'").replace(/\n/g, '\\n').replace(/\r/g, '\\r')}'`;
}

/**
 * The doc's amqp.js with only these edits:
 * (a) `require('rhea')` becomes `require(moduleName)`;
 * (b) `'${YourHost}'` becomes `process.env.AMQP_HOST`;
 * (c) `'port': 5671` becomes `'port': Number(process.env.AMQP_PORT)`;
 * (d) `${YourClientId}`, `${YourIotInstanceId}`, `${YourConsumerGroupId}` become 'test-client',
 *     'iot-test' and 'DEFAULT_GROUP'.
 *
 * @param {string} [moduleName='rhea'] What the script requires in place of rhea.
 * @returns {string}
 */
function docScriptSource(moduleName = 'rhea') {
  let source = replaceOnce(DOC_AMQP_JS, "require('rhea')", `require(${singleQuoted(moduleName)})`);
  for (const [search, replacement] of PLACEHOLDERS) source = replaceOnce(source, search, replacement);
  return source;
}

/** A bare module name as it is, a relative path made absolute (against the current directory). */
function resolveModuleName(moduleName) {
  if (path.isAbsolute(moduleName)) return moduleName;
  if (moduleName.startsWith('./') || moduleName.startsWith('../')) return path.resolve(moduleName);
  return moduleName;
}

/**
 * Runs the doc script in a child `node` process against an emulator.
 *
 * The script goes to a fresh temporary directory; NODE_PATH lets its require() find the repository's
 * node_modules, and an absolute path (or one relative to the current directory) works as moduleName
 * too. The child gets the emulator's key pair as ALIBABA_CLOUD_ACCESS_KEY_ID/SECRET, AMQP_HOST and
 * AMQP_PORT, and trusts the emulator's CA through NODE_EXTRA_CA_CERTS.
 *
 * @param {object} args
 * @param {string} [args.moduleName='rhea']
 * @param {import('./emulator').Emulator} args.emu
 * @param {object} [args.env] Extra environment for the child (a value of undefined removes a variable).
 * @param {number} [args.untilLines] Stop the child once it printed this many stdout lines.
 * @param {(progress: {lines: string[]}) => (void|Promise<void>)} [args.beforeKill] Awaited once
 *   untilLines lines are in, before the child is stopped (e.g. to wait for the acknowledgements).
 * @param {number} [args.timeoutMs=20000] Stop the child after this long regardless.
 * @returns {Promise<{lines: string[], stdout: string, stderr: string, code: number|null,
 *   signal: string|null, timedOut: boolean}>}
 */
function runDocScript({ moduleName = 'rhea', emu, env = {}, untilLines, beforeKill, timeoutMs = 20000 } = {}) {
  if (!emu) throw new TypeError('runDocScript: emu is required');
  const dir = fs.mkdtempSync(path.join(os.tmpdir(), 'aliyun-iot-amqp-doc-'));
  const file = path.join(dir, 'amqp.js');
  fs.writeFileSync(file, docScriptSource(resolveModuleName(moduleName)));

  const { accessKeyId, accessKeySecret } = emu.credentials();
  const childEnv = {
    ...process.env,
    NODE_PATH: [REPO_NODE_MODULES, process.env.NODE_PATH].filter(Boolean).join(path.delimiter),
    ALIBABA_CLOUD_ACCESS_KEY_ID: accessKeyId,
    ALIBABA_CLOUD_ACCESS_KEY_SECRET: accessKeySecret,
    AMQP_HOST: emu.tls ? emu.hostname : emu.host,
    AMQP_PORT: String(emu.port),
  };
  if (emu.caFile) childEnv.NODE_EXTRA_CA_CERTS = emu.caFile;
  // Set by `node --test` for its own children; the script is not a test file.
  delete childEnv.NODE_TEST_CONTEXT;
  for (const [key, value] of Object.entries(env)) {
    if (value === undefined) delete childEnv[key];
    else childEnv[key] = String(value);
  }

  return new Promise((resolve, reject) => {
    const child = spawn(process.execPath, [file], { cwd: dir, env: childEnv, stdio: ['ignore', 'pipe', 'pipe'] });
    let stdout = '';
    let stderr = '';
    let stopping = false;
    let timedOut = false;
    let hookError = null;

    const completeLines = () => stdout.split('\n').slice(0, -1);
    const stop = () => {
      if (child.exitCode === null && child.signalCode === null) child.kill('SIGTERM');
    };
    const timer = setTimeout(() => {
      timedOut = true;
      stop();
    }, timeoutMs);

    child.stdout.setEncoding('utf8');
    child.stderr.setEncoding('utf8');
    child.stderr.on('data', (chunk) => { stderr += chunk; });
    child.stdout.on('data', (chunk) => {
      stdout += chunk;
      if (stopping || untilLines === undefined || completeLines().length < untilLines) return;
      stopping = true;
      Promise.resolve()
        .then(() => beforeKill && beforeKill({ lines: completeLines() }))
        .catch((err) => { hookError = err; })
        .finally(stop);
    });

    child.on('error', (err) => {
      clearTimeout(timer);
      reject(err);
    });
    child.on('close', (code, signal) => {
      clearTimeout(timer);
      fs.rmSync(dir, { recursive: true, force: true });
      if (hookError) {
        hookError.message += `\n(doc script stdout: ${JSON.stringify(stdout)}, stderr: ${JSON.stringify(stderr)})`;
        reject(hookError);
        return;
      }
      const lines = stdout.split('\n');
      if (lines[lines.length - 1] === '') lines.pop();
      resolve({ lines, stdout, stderr, code, signal, timedOut });
    });
  });
}

module.exports = { docScriptSource, runDocScript, DOC_AMQP_JS };
