// Type definitions for aliyun-iot-amqp, part of index.d.ts (which names every type, in its
// namespace aliyunIotAmqp): what connect() takes (its options, the signing of credentials, a
// receiver's options) and the server's certificate as TLS shows it. Hand-written to match index.js
// and lib/ exactly.

/// <reference types="node" />

/** TLS options, as Node's `tls.connect()` takes them (of `connect()` and `createConsumer()`). */
export interface TlsOptions {
  /** TLS server name to send and verify. Default: `host`. */
  servername?: string;
  /**
   * The trusted certificates (PEM text with one or more certificates, or a DER Buffer, or an
   * array of them). As in Node, they replace the public roots and `NODE_EXTRA_CA_CERTS`. A value
   * that holds no usable certificate throws a TypeError naming `ca`.
   */
  ca?: string | Buffer | Uint8Array | Array<string | Buffer | Uint8Array>;
  /**
   * `false` accepts any server certificate chain (the handshake signature is still checked).
   * Default `true`, or `false` under `NODE_TLS_REJECT_UNAUTHORIZED=0` (with Node's warning).
   */
  rejectUnauthorized?: boolean;
  /**
   * Replaces the host name check, as in Node's `tls.connect()`: called after the TLS handshake
   * (the chain verified) and before any credential is sent, with `servername || host` and the
   * server's certificate in the shape of `getPeerCertificate()`. Return an Error (or throw) to
   * refuse the server: the attempt fails with that error's message and `code`.
   */
  checkServerIdentity?: (hostname: string, cert: PeerCertificate) => Error | undefined;
  /** Lowest TLS version, as in Node (`'TLSv1.2'` or `'TLSv1.3'`; older ones are refused). Default `tls.DEFAULT_MIN_VERSION`. */
  minVersion?: 'TLSv1.2' | 'TLSv1.3';
  /** Highest TLS version, as in Node. Default `tls.DEFAULT_MAX_VERSION`. */
  maxVersion?: 'TLSv1.2' | 'TLSv1.3';
  /** `'TLS_method'` (any version), `'TLSv1_2_method'` (TLS 1.2 only) and their `_client_`/`SSLv23_` names, as in Node. */
  secureProtocol?: string;
  /**
   * Node's cipher list, where only its security level can be honoured: `'DEFAULT'`, with an
   * optional `@SECLEVEL=N` (e.g. `'DEFAULT:@SECLEVEL=0'` to accept RSA-768 as Node then does).
   * Other lists throw a TypeError naming `ciphers`.
   */
  ciphers?: string;
  /** `'auto'` or a `:`-separated list of `X25519`, `P-256` (`prime256v1`) and `P-384` (`secp384r1`). Default `'auto'`. */
  ecdhCurve?: string;
  /** ALPN protocols offered, as in Node. */
  ALPNProtocols?: Array<string | Buffer | Uint8Array>;
  /** Checked as Node checks it (a number from 1); no finite-field Diffie-Hellman is ever negotiated. */
  minDHSize?: number;
}

/** Options of `connect()` (and of `create_container()`, whose options every connection inherits). */
export interface ConnectionOptions extends TlsOptions {
  /** Server host name. Default `'localhost'`. */
  host?: string;
  /** Server port. Default 5671 with TLS, else 5672. */
  port?: number | string;
  /** `'tls'` and `'ssl'` mean TLS (the platform's port 5671); default `'tcp'`. */
  transport?: 'tcp' | 'tls' | 'ssl';
  /** SASL PLAIN username (the platform's `clientId|authMode=...|` string). */
  username?: string;
  /** SASL PLAIN password. Never logged, never shown by `util.inspect`. */
  password?: string;
  /**
   * Sign the platform's credentials at every connection attempt instead of giving a fixed
   * username/password (each attempt then carries a fresh timestamp). A function is called before
   * every attempt (e.g. to fetch a fresh STS token) and its result signed then. Not with
   * `username`/`password`.
   */
  credentials?: CredentialOptions | (() => CredentialOptions | Promise<CredentialOptions>);
  /** Idle time-out advertised to the server, in ms (the platform accepts 30000–300000). Default 60000; `null` or 0 advertises none. */
  idle_time_out?: number | null;
  /** `true` (default): 100 ms doubling to 60 s with jitter; a number: a fixed delay in ms; `false`: no reconnect. */
  reconnect?: boolean | number;
  /** First reconnect delay in ms. Default 100. */
  initial_reconnect_delay?: number;
  /** Largest reconnect delay in ms. Default 60000. */
  max_reconnect_delay?: number;
  /**
   * Reconnect attempts after a failure before giving up, as in rhea: `3` is the first attempt and
   * at most 3 reconnects (4 attempts in all). Counted afresh after a connection that worked (it
   * settled a delivery, or stayed open `max_reconnect_delay`, 1–60 s). `0` (as in rhea) or unset:
   * no limit.
   */
  reconnect_limit?: number;
  /** Keep reconnecting after the server refused the credentials. Default `false` (the platform limits connects per minute). */
  reconnect_on_auth_failure?: boolean;
  /**
   * Keep reconnecting after the server's certificate failed verification (each attempt reports
   * the error with Node's `err.code`). Default `true`, as rhea; `createConsumer()` defaults to `false`.
   */
  reconnect_on_certificate_failure?: boolean;
  /** Container id sent in Open. Default: the container's id. */
  container_id?: string;
  /** Hostname sent in Open. Not sent unless given (SASL init sends `sasl_init_hostname`). */
  hostname?: string;
  /** Hostname sent in SASL init. Default: `servername`, else `host` (as rhea). */
  sasl_init_hostname?: string;
  /** Default credit window of receivers on this connection. Default 1000. */
  credit_window?: number;
  /** Default `autoaccept` of receivers on this connection. Default `true`. */
  autoaccept?: boolean;
  /** Largest frame accepted, in bytes. Default 1 MiB. */
  max_frame_size?: number;
  /** Largest message accepted, in bytes. Default 16 MiB. */
  max_message_size?: number;
  /** Bound on connect, TLS, SASL, open and attach together, in ms. Default 30000. */
  connect_timeout?: number;
  /** Bound on waiting for the server's close, in ms. Default 5000. */
  close_timeout?: number;
  /**
   * Most time an acknowledgement waits to go out together with others, in ms (the platform
   * allows 30 s); they go at once when the server runs low on credit or the connection closes.
   * Default 20; `0`: each at once.
   */
  ack_delay?: number;
  /**
   * When messages trickle in steadily (about one a millisecond, the platform's rate), most time
   * the next read waits so that it brings several at once, in ms: it is woken by the packet that
   * brings what this time is expected to bring, else when it ends; a burst meanwhile is read at
   * once, faster streams are read at least every 5 ms, and the first message after a quiet spell
   * is never delayed. Default 8; `0`: read at once.
   */
  read_delay?: number;
  /** Other rhea options are accepted and ignored. */
  [option: string]: unknown;
}


/** Parameters for signing the platform's SASL credentials. */
export interface CredentialOptions {
  /**
   * The AccessKey pair. When neither is given (or both are `undefined`, as unset `process.env`
   * variables are), they are read from `ALIBABA_CLOUD_ACCESS_KEY_ID` and
   * `ALIBABA_CLOUD_ACCESS_KEY_SECRET`; still missing, a TypeError names the option and the variable.
   */
  accessKeyId?: string | undefined;
  accessKeySecret?: string | undefined;
  consumerGroupId: string;
  /** At most 64 characters (Unicode code points); shown in the console. */
  clientId: string;
  iotInstanceId?: string;
  /** Default `'aksign'`. */
  authMode?: 'aksign' | 'ststoken';
  /** Default `'hmacsha256'` (as `createConsumer()`'s). */
  signMethod?: 'hmacmd5' | 'hmacsha1' | 'hmacsha256';
  /** Required with `authMode: 'ststoken'`. */
  securityToken?: string;
}


/** Input of `sign()`. */
export interface SignOptions extends CredentialOptions {
  /** Milliseconds since the epoch. Default: now. */
  timestamp?: number;
}


export interface SignedCredentials {
  username: string;
  password: string;
}


/** Options of `open_receiver()`. */
export interface ReceiverOptions {
  /** Source address; by default none is sent, as rhea's `open_receiver()` does. */
  source?: string | { address?: string } | null;
  /** Link name. Default: a random one. */
  name?: string;
  /** Most deliveries unsettled at once; credit is refilled as they are settled. Default 1000. */
  credit_window?: number;
  /** Accept a delivery after the handler returns without settling it. Default `true`. */
  autoaccept?: boolean;
  /**
   * Emit one `'batch'` event per batch of deliveries (a `Batch`, read on demand) instead of
   * `'message'` events: `true` (as many as arrived together), or `{max}` (at most `max` per
   * event). Default `false`.
   */
  batch?: boolean | { max?: number };
}


/**
 * A certificate in the shape of Node's `tlsSocket.getPeerCertificate(true)`, accepted wherever
 * Node's `tls.PeerCertificate` is (e.g. by `tls.checkServerIdentity(host, cert)`): its Buffers
 * are typed as @types/node types Node's own.
 */
export interface PeerCertificate {
  subject: Record<string, string | string[]>;
  issuer: Record<string, string | string[]>;
  subjectaltname?: string;
  infoAccess?: Record<string, string[]>;
  ca: boolean;
  modulus?: string;
  bits?: number;
  exponent?: string;
  pubkey?: import('node:tls').PeerCertificate['raw'];
  asn1Curve?: string;
  nistCurve?: string;
  valid_from: string;
  valid_to: string;
  fingerprint: string;
  fingerprint256: string;
  fingerprint512: string;
  ext_key_usage?: string[];
  serialNumber: string;
  raw: import('node:tls').PeerCertificate['raw'];
  /** The certificate that issued this one (itself for a self-signed one), where known. */
  issuerCertificate?: PeerCertificate;
}
