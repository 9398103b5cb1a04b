'use strict';
// The command line's help texts: one per command, and the global help made of them. The
// consumer's defaults are createConsumer()'s own (lib/options.js), never spelled twice.

const { DEFAULTS } = require('../options.js');

const C = DEFAULTS.consumer;
const PORTS = DEFAULTS.ports;

const CONSUME_HELP = `Usage: aliyun-iot-amqp consume [options]

Print the messages of a consumer group's server-side subscription, one line each on stdout
(connection events and a summary on stderr). Credentials from ALIBABA_CLOUD_ACCESS_KEY_ID,
ALIBABA_CLOUD_ACCESS_KEY_SECRET and, for an STS token, ALIBABA_CLOUD_SECURITY_TOKEN.

Options:
  --host <host>             AMQP endpoint, e.g. iot-cn-xxxx.amqp.iothub.aliyuncs.com; also
                            host:port or amqps://host[:port] (amqp:// for plain TCP), as
                            createConsumer's endpoint (env ALIYUN_IOT_AMQP_HOST)
  --port <n>                default ${PORTS.tls}, ${PORTS.tcp} with --transport tcp (env ALIYUN_IOT_AMQP_PORT)
  --transport <tls|tcp>     default ${C.transport} (the platform's); tcp for a plain AMQP server
  --consumer-group <id>     consumer group id (env ALIYUN_IOT_AMQP_CONSUMER_GROUP)
  --iot-instance-id <id>    instance id, if the instance has one (env ALIYUN_IOT_AMQP_IOT_INSTANCE_ID)
  --client-id <id>          default: host name and process id
  --connections <n>         connections (client ids <id>-0..n-1 when more than one); default ${C.connections}
  --credit <n>              unsettled messages per connection; default ${C.credit}
  --sign-method <m>         ${C.signMethod} (default), hmacsha1 or hmacmd5
  --ca <file>               trust these certificates (PEM) instead of the public roots and
                            NODE_EXTRA_CA_CERTS (as Node's \`ca\` option does)
  --reconnect-on-certificate-failure
                            keep retrying when the server's certificate fails verification
                            (e.g. while it is being renewed); by default that ends consume
  --reconnect-limit <n>     give up after n failed reconnects in a row (n + 1 attempts; counted
                            afresh after a connection that worked; 0: never), as rhea's reconnect_limit
                            (env ALIYUN_IOT_AMQP_RECONNECT_LIMIT). Without it, consume retries
                            without end, but while no connection ever opened it gives up after
                            3 attempts on a mistake retrying does not fix: a host name that does
                            not exist, TLS against a plain port, plain TCP against a TLS port
  --topic <glob>            print only matching topics ('+' or '*' one level, '#' or '**' any);
                            repeatable. Other messages are settled all the same, not printed
  --json                    one JSON object per line instead of readable lines
  --no-ack                  release every message instead of accepting it (it comes again)
  --dedupe                  skip redeliveries of messages already accepted
  --count <n>               exit after printing n messages
  --metrics-port <[host:]n> serve /metrics (Prometheus text format) and /healthz (200 while
                            every connection is up, else 503) on port n (0: any free port;
                            every interface unless a host is given)
  --help                    this help

Exit codes: 0 done, 1 failed (credentials or certificate refused, a mistake in --host, --port
or --transport, --reconnect-limit reached), 2 usage error.
`;

const EMULATOR_HELP = `Usage: aliyun-iot-amqp emulator [options]

Run a local emulator of the platform's AMQP endpoint (TLS, signature check, redelivery of what is
not accepted) and print the settings to connect with, and the export lines for consume.

Options:
  --port <n>                port to listen on; default 5671 (0: any free port)
  --listen <addr>           address to listen on; default 127.0.0.1
  --access-key-id <id>      default: generated
  --access-key-secret <s>   default: generated
  --iot-instance-id <id>    require this iotInstanceId in the username
  --cert-dir <dir>          keep the CA there (ca.pem, server.pem, server.key) and reuse it on
                            later runs; refuses a directory holding such files it did not make
                            (default: a temporary directory, removed when the emulator ends,
                            Ctrl-C, SIGTERM and SIGHUP included)
  --file <path|->           publish the messages of a JSON lines file ('-': stdin), one per line:
                            {"topic": ..., "payload": <JSON or text>, "messageId"?: ..., "generateTime"?: ...}
                            (stdin is read when it is a pipe and neither --file nor --rate is given);
                            a line that is not JSON, or has no "topic" string, is skipped with a
                            warning naming its number (publish text as {"text": "..."})
  --rate <n>                publish n generated device messages per second
  --count <n>               stop generating after n messages
  --json                    print the settings as one JSON line
  --help                    this help
`;

const DEMO_HELP = `Usage: aliyun-iot-amqp demo [options]

An emulator and a consumer in one process: device messages flowing, printed as
"time topic [kind] payload" (a short payload), or as JSON with --json. Lines fit the
terminal (COLUMNS when stdout is not one, else 110 characters): narrower than 110, the
device stands for the topic, and a payload still too long is cut.

Options:
  --count <n>               exit after n messages (default: run until Ctrl-C)
  --rate <n>                messages per second; default 10
  --connections <n>         consumer connections; default 1
  --json                    one JSON object per line (the whole message)
  --help                    this help
`;

const HELP = { consume: CONSUME_HELP, emulator: EMULATOR_HELP, demo: DEMO_HELP };

/** The global help: the commands, then each command's options. */
const USAGE = `Usage: aliyun-iot-amqp <command> [options]

Commands:
  consume    Print the messages of a consumer group's server-side subscription.
  emulator   Run a local emulator of the platform's AMQP endpoint (TLS, signature check,
             redelivery of what is not accepted) and print the settings to connect with.
  demo       An emulator and a consumer in one process: device messages flowing, printed.

Run 'aliyun-iot-amqp <command> --help' for one command's options.

${Object.entries(HELP).map(([name, text]) => `${name} options:\n${text.slice(text.indexOf('Options:\n') + 'Options:\n'.length).replace(/\n+Exit codes:[\s\S]*$/, '\n')}`).join('\n')}
  --help, --version
`;

/** Prints a command's help (the global help without one) on stdout; returns the exit code, 0. */
function usage(command) {
  process.stdout.write(command ? HELP[command] : USAGE);
  return 0;
}

module.exports = { HELP, usage };
