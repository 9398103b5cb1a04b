// Type definitions for aliyun-iot-amqp. Hand-written to match index.js and lib/ exactly; the
// generated native.d.ts describes the internal binding only.

/// <reference types="node" />

import { EventEmitter } from 'node:events';

/** The module is a ready container, as rhea's is, with its classes and `sign` attached. */
declare const aliyunIotAmqp: aliyunIotAmqp.Container & {
  Container: new (options?: aliyunIotAmqp.ConnectionOptions & { id?: string }) => aliyunIotAmqp.Container;
  Connection: Function & { prototype: aliyunIotAmqp.Connection };
  Receiver: Function & { prototype: aliyunIotAmqp.Receiver };
  Delivery: Function & { prototype: aliyunIotAmqp.Delivery };
  /** What 'batch' events carry (a receiver opened with `{batch: true}`). */
  Batch: Function & { prototype: aliyunIotAmqp.Batch };
  Message: new () => aliyunIotAmqp.Message;
  Section: new (typecode: 0x75 | 0x76, content: any, multiple?: boolean) => aliyunIotAmqp.Section;
  ConnectionError: new (description: string, condition: string, connection?: aliyunIotAmqp.Connection, code?: string) => aliyunIotAmqp.ConnectionError;
  /** Signs the platform's SASL PLAIN credentials (in Rust). Throws a TypeError naming a bad option. */
  sign(options: aliyunIotAmqp.SignOptions): aliyunIotAmqp.SignedCredentials;
  /**
   * Creates a consumer of a consumer group's server-side subscription and starts connecting at
   * once. Throws a TypeError naming a bad option (`err.option`).
   */
  createConsumer(options: aliyunIotAmqp.ConsumerOptions): aliyunIotAmqp.Consumer;
  Consumer: new (options: aliyunIotAmqp.ConsumerOptions) => aliyunIotAmqp.Consumer;
  ConsumerMessage: Function & { prototype: aliyunIotAmqp.ConsumerMessage };
  /**
   * Serves a consumer's `/metrics` (Prometheus text format, `consumer.metrics()`) and `/healthz`
   * (200 while every connection is up, 503 otherwise; the body is `consumer.health()` as JSON).
   */
  serveMetrics(consumer: aliyunIotAmqp.Consumer, options?: aliyunIotAmqp.MetricsServerOptions): Promise<aliyunIotAmqp.MetricsServer>;
  /** The `node:diagnostics_channel` names this package publishes on. */
  channels: aliyunIotAmqp.Channels;
  /** What a topic says about its message: product, device, topic family and identifier. */
  parseTopic(topic: string | undefined): aliyunIotAmqp.TopicInfo;
  /** A topic filter: `+`/`*` one level, `#`/`**` any number of levels, `*`/`?` inside a level. */
  topicMatcher(pattern: string): (topic: string | undefined) => boolean;
  /** Starts a local emulator of the platform's AMQP endpoint (loads rhea, on demand). */
  startEmulator(options?: aliyunIotAmqp.EmulatorOptions): Promise<aliyunIotAmqp.Emulator>;
};

declare namespace aliyunIotAmqp {

  /** Options of `connect()` (and of `create_container()`, whose options every connection inherits). */
  interface ConnectionOptions {
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
     * at most 3 reconnects (4 attempts in all). Counted afresh once a connection opens. `0` (as in
     * rhea) or unset: no limit.
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
     * the next read waits so that it brings several at once, in ms; the first message after a
     * quiet spell is never delayed. Default 5; `0`: read at once.
     */
    read_delay?: number;
    /** Other rhea options are accepted and ignored. */
    [option: string]: unknown;
  }

  /** Parameters for signing the platform's SASL credentials. */
  interface CredentialOptions {
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
  interface SignOptions extends CredentialOptions {
    /** Milliseconds since the epoch. Default: now. */
    timestamp?: number;
  }

  interface SignedCredentials {
    username: string;
    password: string;
  }

  /** Options of `open_receiver()`. */
  interface ReceiverOptions {
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

  /** A body of data (0x75) or amqp-sequence (0x76) sections, as rhea gives it. */
  interface Section {
    typecode: 0x75 | 0x76;
    /** A Buffer (one data section), an array (one sequence section), or an array of those with `multiple`. */
    content: any;
    multiple: boolean | undefined;
  }

  /** A received message: header, properties and annotations as flat fields, as rhea gives them. */
  interface Message {
    durable?: boolean;
    priority?: number;
    ttl?: number;
    first_acquirer?: boolean;
    delivery_count?: number;
    delivery_annotations?: Record<string, any>;
    message_annotations?: Record<string, any>;
    message_id?: string | number | Buffer;
    user_id?: Buffer;
    to?: string;
    subject?: string;
    reply_to?: string;
    correlation_id?: string | number | Buffer;
    content_type?: string;
    content_encoding?: string;
    absolute_expiry_time?: Date;
    creation_time?: Date;
    group_id?: string;
    group_sequence?: number;
    reply_to_group_id?: string;
    /**
     * The platform puts `topic`, `messageId` and `generateTime` here: every message it pushes has
     * them. (Typed as present, as the platform's guide reads `msg.application_properties.topic`; a
     * message from another AMQP server may have none, and then this is `undefined`, as in rhea.)
     */
    application_properties: Record<string, any>;
    /** `Section` for data/sequence bodies; the plain value for an amqp-value body. */
    body?: any;
    footer?: Record<string, any>;
    toJSON(): Record<string, any>;
    toString(): string;
  }

  interface ModifiedParams {
    delivery_failed?: boolean;
    undeliverable_here?: boolean;
    message_annotations?: Record<string, string | number | boolean | null>;
  }

  interface AmqpErrorLike {
    condition?: string;
    description?: string;
  }

  interface Delivery {
    readonly id: number;
    readonly tag: Buffer;
    readonly format: number;
    /** Settled by the sender (pre-settled): nothing to acknowledge. */
    readonly remote_settled: boolean;
    /** Settled here (or by the sender). */
    settled: boolean;
    /** The local outcome once settled. */
    state: 'accepted' | 'released' | 'rejected' | 'modified' | undefined;
    readonly link: Receiver;
    /**
     * Each settles once. `true`: the outcome goes to the live connection. `false`: already settled,
     * or the connection it came on is gone (the platform delivers the message again).
     */
    accept(): boolean;
    release(params?: ModifiedParams): boolean;
    reject(error?: AmqpErrorLike | Error | string): boolean;
    modified(params?: ModifiedParams): boolean;
  }

  /**
   * The deliveries of one read, for a receiver opened with `{batch: true}`: still packed as the
   * native layer handed them over. A field read builds that field alone; `message(i)` builds the
   * whole message (once). Each delivery settles once, by index or all together.
   */
  interface Batch extends Iterable<Message> {
    readonly receiver: Receiver;
    /** How many deliveries it holds. */
    readonly length: number;
    /** The `topic` application property of delivery `i`, if a string. Indexes out of range throw a RangeError. */
    topic(index: number): string | undefined;
    /** The platform's message id of delivery `i` (`messageId` application property, else `message_id`) as a decimal string. */
    messageId(index: number): string | undefined;
    /** The `generateTime` application property of delivery `i`, ms since the epoch. */
    generateTime(index: number): number | undefined;
    /** The payload of delivery `i` (a view of the batch's Buffer), if its body is one data section. */
    content(index: number): Buffer | undefined;
    /** The whole message of delivery `i`, as `'message'` events give it; built on first use. */
    message(index: number): Message;
    /** The delivery id of delivery `i`. */
    id(index: number): number;
    /** Whether delivery `i` is settled (here, or by the sender). */
    settled(index: number): boolean;
    /** How delivery `i` was settled here. */
    state(index: number): 'accepted' | 'released' | 'rejected' | 'modified' | undefined;
    /** `accept()`: every delivery not settled yet, in one settle call; returns how many outcomes went out (0 when the connection is gone). */
    accept(): number;
    /** `accept(i)`: `true` when the outcome goes to the live connection; `false` when already settled or the connection is gone. */
    accept(index: number): boolean;
    /** As `accept`, releasing (the platform delivers the message again); with `params` it is `modified`, as `delivery.release(params)`. */
    release(index?: undefined, params?: ModifiedParams): number;
    release(index: number, params?: ModifiedParams): boolean;
    /** As `accept`, rejecting (the platform drops the message): `reject(i, error)` one delivery, `reject(undefined, error)` every one not settled yet (one settle call each). */
    reject(index?: undefined, error?: AmqpErrorLike | Error | string): number;
    reject(index: number, error?: AmqpErrorLike | Error | string): boolean;
    /** As `reject`, with the `modified` outcome of `delivery.modified(params)`. */
    modified(index?: undefined, params?: ModifiedParams): number;
    modified(index: number, params?: ModifiedParams): boolean;
  }

  /**
   * An error from the connection or the server. `condition` is the AMQP error condition. A
   * refused server certificate has the condition `aliyun-iot-amqp:tls` and Node's `code`
   * (`DEPTH_ZERO_SELF_SIGNED_CERT`, `SELF_SIGNED_CERT_IN_CHAIN`, `UNABLE_TO_GET_ISSUER_CERT_LOCALLY`,
   * `UNABLE_TO_VERIFY_LEAF_SIGNATURE`, `CERT_HAS_EXPIRED`, `CERT_NOT_YET_VALID`,
   * `ERR_TLS_CERT_ALTNAME_INVALID`, ...); its message is Node's, then the server and a hint.
   */
  interface ConnectionError extends Error {
    name: 'ConnectionError';
    condition: string;
    description: string;
    /** Node's `err.code`, where there is one. */
    code?: string;
    readonly connection: Connection;
    toJSON(): { type: string; code: string; message: string };
  }

  /**
   * A certificate in the shape of Node's `tlsSocket.getPeerCertificate(true)`, accepted wherever
   * Node's `tls.PeerCertificate` is (e.g. by `tls.checkServerIdentity(host, cert)`): its Buffers
   * are typed as @types/node types Node's own.
   */
  interface PeerCertificate {
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

  interface EventContext {
    container: Container;
    connection: Connection;
  }

  interface ReceiverContext extends EventContext {
    session: Session;
    receiver: Receiver;
  }

  interface MessageContext extends ReceiverContext {
    delivery: Delivery;
    message: Message;
  }

  interface BatchContext extends ReceiverContext {
    batch: Batch;
  }

  interface ErrorContext extends EventContext {
    error?: ConnectionError;
  }

  interface ReceiverErrorContext extends ReceiverContext {
    error?: ConnectionError;
  }

  interface SessionContext extends EventContext {
    session: Session;
    /** The error the server gave when it ended the session (`session_error`, `session_close`). */
    error?: ConnectionError;
  }

  interface DisconnectedContext extends EventContext {
    error?: ConnectionError;
    /** Whether another attempt follows. */
    reconnecting: boolean;
  }

  /** Events and their listeners, on the container, a connection, its session or its receiver. */
  interface EventMap {
    message: (context: MessageContext) => void;
    /** A receiver opened with `{batch: true}`: one per batch, instead of `message`. */
    batch: (context: BatchContext) => void;
    connection_open: (context: EventContext) => void;
    connection_close: (context: ErrorContext) => void;
    connection_error: (context: ErrorContext) => void;
    receiver_open: (context: ReceiverContext) => void;
    receiver_close: (context: ReceiverErrorContext) => void;
    receiver_error: (context: ReceiverErrorContext) => void;
    /** The server began the session (after each connection_open, and again after it ended it). */
    session_open: (context: SessionContext) => void;
    /** The server ended the session: after session_error when it gave an error. It is begun again on the same connection. */
    session_close: (context: SessionContext) => void;
    session_error: (context: SessionContext) => void;
    /**
     * A delivery that cannot be read (condition `amqp:decode-error`, or `amqp:link:message-size-exceeded`
     * over `max_message_size`): not delivered, never accepted, held unsettled and released later (it comes
     * again). With no listener, a line on stderr (as rhea writes one).
     */
    protocol_error: (error: ConnectionError) => void;
    disconnected: (context: DisconnectedContext) => void;
    /** A throwing `message` handler's error, or a fatal connection error nobody else handled. */
    error: (error: Error) => void;
  }

  type EventName = keyof EventMap;

  /** An EventEmitter typed with this package's events. */
  interface Endpoint extends EventEmitter {
    on<E extends EventName>(event: E, listener: EventMap[E]): this;
    once<E extends EventName>(event: E, listener: EventMap[E]): this;
    off<E extends EventName>(event: E, listener: EventMap[E]): this;
    addListener<E extends EventName>(event: E, listener: EventMap[E]): this;
    removeListener<E extends EventName>(event: E, listener: EventMap[E]): this;
    emit<E extends EventName>(event: E, ...args: Parameters<EventMap[E]>): boolean;
  }

  interface Session extends Endpoint {
    readonly connection: Connection;
    /** The error the server gave when it last ended the session. */
    error?: ConnectionError;
  }

  interface Receiver extends Endpoint {
    readonly connection: Connection;
    readonly session: Session;
    readonly name: string;
    readonly source: { address: string } | undefined;
    readonly credit_window: number;
    readonly autoaccept: boolean;
    /** The server's attach reply; its source may be `null` (a rhea server sends none). */
    remote: { attach?: { source: { address: string | null } | null } };
    error?: ConnectionError;
    /** Transfers the server sent beyond the credit granted, taken all the same (RabbitMQ 3.10 does it). */
    readonly over_credit: number;
    is_open(): boolean;
    is_closed(): boolean;
    /** Stops the flow of messages (no credit until `resume()`); deliveries already in flight still arrive. */
    pause(): void;
    /** Restarts the flow of messages. */
    resume(): void;
    is_paused(): boolean;
    /** Detaches; the receiver is not re-attached after a reconnect. */
    close(): void;
  }

  interface Connection extends Endpoint {
    readonly container: Container;
    /** The options, secrets masked. */
    readonly options: Record<string, unknown>;
    remote: { open?: { container_id: string; hostname: string | null; idle_time_out: number | null; max_frame_size: number } };
    error?: ConnectionError;
    /** Opens the one receiver of this connection (the platform allows one per connection). */
    open_receiver(options?: string | ReceiverOptions): Receiver;
    /** Sends pending acknowledgements, closes (bounded by `close_timeout`) and stops reconnecting. */
    close(): void;
    is_open(): boolean;
    is_closed(): boolean;
    /** The server's certificate on the current connection (as Node's `getPeerCertificate(true)`); `{}` without TLS or before the first connection. */
    getPeerCertificate(): PeerCertificate | Record<string, never>;
  }

  interface Container extends Endpoint {
    readonly id: string;
    connect(options?: ConnectionOptions): Connection;
    create_container(options?: ConnectionOptions & { id?: string }): Container;
    generate_uuid(): string;
  }

  // -------------------------------------------------------------------------------------------
  // The platform-native API: createConsumer()

  /** An AccessKey pair, with an STS token for `authMode: 'ststoken'`. */
  interface ConsumerCredentials {
    accessKeyId: string;
    accessKeySecret: string;
    /** Given: `authMode` defaults to `'ststoken'`. */
    securityToken?: string;
  }

  /** Options of `createConsumer()`. Unknown options are refused (TypeError naming them). */
  interface ConsumerOptions {
    /** The instance's AMQP endpoint host, e.g. `iot-cn-xxxx.amqp.iothub.aliyuncs.com`. Required unless `endpoint` is given. */
    host?: string;
    /** Instead of `host`: a host name, `host:port`, or `amqps://host[:port]` (`amqp://` for plain TCP). */
    endpoint?: string;
    /** Default 5671 (5672 with `transport: 'tcp'`). */
    port?: number | string;
    /** Default: `ALIBABA_CLOUD_ACCESS_KEY_ID` (when neither key option nor `credentials` is given; `undefined` counts as not given). */
    accessKeyId?: string | undefined;
    /** Default: `ALIBABA_CLOUD_ACCESS_KEY_SECRET`. */
    accessKeySecret?: string | undefined;
    /** Default: `ALIBABA_CLOUD_SECURITY_TOKEN` (with keys from the environment). Given: `authMode` defaults to `'ststoken'`. */
    securityToken?: string | undefined;
    /** Instead of the keys: called before every connection attempt of every connection (e.g. a fresh STS token). */
    credentials?: () => ConsumerCredentials | Promise<ConsumerCredentials>;
    /** The consumer group, e.g. `'DEFAULT_GROUP'`. */
    consumerGroupId: string;
    /** The instance id, if the instance has one. */
    iotInstanceId?: string;
    /**
     * Default: the host name and the process id. With one connection it is used as it is; with
     * `connections: n > 1` the connections are `clientId-0` … `clientId-(n-1)`. At most 64
     * characters (Unicode code points) in all, no `|`.
     */
    clientId?: string;
    /** Default `'hmacsha256'`. */
    signMethod?: 'hmacmd5' | 'hmacsha1' | 'hmacsha256';
    /** Default `'ststoken'` when there is a security token, else `'aksign'`. */
    authMode?: 'aksign' | 'ststoken';
    /** Connections (1 to 128), their messages merged into one stream. Default 1. */
    connections?: number;
    /** Unsettled messages per connection (its credit window); bounds memory. Default 300. */
    credit?: number;
    /** 'message' handlers in flight at once. Default 10. */
    concurrency?: number;
    /** Skip redeliveries of messageIds accepted before: `true` (the last 10000) or `{size}`. Default off. */
    dedupe?: boolean | { size?: number };
    /** Default `'tls'`. */
    transport?: 'tcp' | 'tls' | 'ssl';
    /** The trusted certificates (PEM or DER), replacing the public roots and `NODE_EXTRA_CA_CERTS` as in Node. */
    ca?: string | Buffer | Uint8Array | Array<string | Buffer | Uint8Array>;
    /** `false` accepts any server certificate chain. Default `true` (`false` under `NODE_TLS_REJECT_UNAUTHORIZED=0`). */
    rejectUnauthorized?: boolean;
    /** As in `connect()`: replaces the host name check (e.g. to pin a certificate's `fingerprint256`). */
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
    /** TLS server name to send and verify. Default: the host. */
    servername?: string;
    /** Hostname sent in Open. */
    hostname?: string;
    /** Hostname sent in SASL init. */
    sasl_init_hostname?: string;
    /** Idle time-out advertised, in ms (the platform accepts 30000–300000). Default 60000. */
    idle_time_out?: number | null;
    /** As in `connect()`: `true` (default) backoff with jitter, a number a fixed delay, `false` none. */
    reconnect?: boolean | number;
    initial_reconnect_delay?: number;
    max_reconnect_delay?: number;
    /** As in `connect()`: reconnects after a failure before a connection gives up (`3`: 4 attempts in all); `0`: no limit. */
    reconnect_limit?: number;
    reconnect_on_auth_failure?: boolean;
    /** Keep retrying after the server's certificate failed verification. Default `false`: the consumer fails (a loop throws, handlers get 'error'). */
    reconnect_on_certificate_failure?: boolean;
    connect_timeout?: number;
    close_timeout?: number;
    /** As in `connect()`: most time an acknowledgement waits to go out with others (ms). Default 20; `0`: at once. */
    ack_delay?: number;
    /** As in `connect()`: most time a read waits while messages trickle in (ms). Default 5; `0`: at once. */
    read_delay?: number;
    max_frame_size?: number;
    max_message_size?: number;
  }

  type TopicKind = 'property' | 'event' | 'service-reply' | 'status' | 'lifecycle' | 'topology' | 'ota' | 'custom';

  /** What a topic says about its message (see `parseTopic`). */
  interface TopicInfo {
    productKey: string | undefined;
    deviceName: string | undefined;
    kind: TopicKind;
    /** The event id, service id, or the OTA message's kind, where the topic has one. */
    identifier: string | undefined;
  }

  /** A message of the subscription. Settle it once; see the README for when it is settled for you. */
  interface ConsumerMessage {
    /** The topic the device published on (application property `topic`). */
    readonly topic: string | undefined;
    /** The platform's message id, as a decimal string. */
    readonly messageId: string | undefined;
    /** When the platform made the message, ms since the epoch. */
    readonly generateTime: number | undefined;
    /** The payload bytes. */
    readonly content: Buffer;
    /** The client id of the connection the message came on. */
    readonly clientId: string;
    /** The message as the rhea-shaped API gives it. */
    readonly raw: Message;
    /** Parsed from the topic. */
    readonly topicInfo: TopicInfo;
    /** Settled here. */
    readonly settled: boolean;
    /** The outcome that went out; `'abandoned'` when none could (its connection was gone: the platform delivers it again). */
    readonly state: 'accepted' | 'released' | 'rejected' | 'abandoned' | undefined;
    /** The payload as UTF-8 text. */
    text(): string;
    /** The payload parsed as JSON (throws a SyntaxError when it is not JSON). */
    json<T = any>(): T;
    /** The platform is done with it. `false`: already settled, or its connection is gone (it comes again). */
    accept(): boolean;
    /** It is delivered again (here or to another consumer of the group). */
    release(): boolean;
    /** The platform drops it. */
    reject(error?: AmqpErrorLike | Error | string): boolean;
    toJSON(): { topic: string | undefined; messageId: string | undefined; generateTime: number | undefined; topicInfo: TopicInfo; content: string };
  }

  /** Counters since the consumer was created. */
  interface ConsumerStats {
    /** Deliveries that arrived (duplicates included). */
    received: number;
    /** Outcomes sent to the platform. */
    accepted: number;
    released: number;
    rejected: number;
    /** Redeliveries of accepted messageIds, accepted again at once (`dedupe`). */
    duplicates: number;
    /** Connections re-established after being lost. */
    reconnects: number;
    /** Deliveries that could not be read (`'protocol_error'`): not handed out, held and released. */
    unreadable: number;
    /** Transfers the platform sent beyond the credit granted, taken all the same. */
    overCredit: number;
    /** Messages handed to handlers or the for-await loop and not finished. */
    inFlight: number;
    /** Messages received and waiting for a handler or the loop. */
    buffered: number;
    /** Connections open now. */
    connections: number;
    /** The message of the last error (connection or handler), no secrets; `null` if none. */
    lastError: string | null;
  }

  /** A batch of `consumer.batches()`: an array of messages (map, filter... give plain arrays). */
  interface ConsumerBatch extends Array<ConsumerMessage> {
    /** Accepts every message not settled yet; returns how many outcomes went out (not those whose connection is gone: they come again). */
    accept(): number;
    /** Releases every message not settled yet (they come again); returns how many outcomes went out. */
    release(): number;
  }

  /** Options of `consumer.batches()`. */
  interface BatchOptions {
    /** Most messages per batch. Default 100. */
    max?: number;
    /** How long the first message of a batch waits for more, in ms. Default 50. */
    maxWaitMs?: number;
  }

  /** One connection in `consumer.health()`. */
  interface ConnectionHealth {
    clientId: string;
    /** `'open'`: the connection is open and its receiver attached. */
    state: 'connecting' | 'open' | 'reconnecting' | 'closed';
    /** When it entered that state, ms since the epoch. */
    since: number;
    /** When its last message arrived, ms since the epoch; `null` if none yet. */
    lastMessageAt: number | null;
    /** Times it was re-established after a loss. */
    reconnects: number;
  }

  /** `consumer.health()`. */
  interface ConsumerHealth {
    /** `'up'`: every connection open; `'degraded'`: some; `'down'`: none, or the consumer is closing, closed or failed. */
    status: 'up' | 'degraded' | 'down';
    connections: ConnectionHealth[];
    /** As in `stats()`. */
    lastError: string | null;
  }

  interface MetricsServerOptions {
    /** Default 0: any free port (see `server.port`). */
    port?: number;
    /** Default: every interface. */
    host?: string;
  }

  interface MetricsServer {
    readonly port: number;
    readonly host: string;
    /** `http://host:port` (without a path). */
    readonly url: string;
    readonly server: import('node:http').Server;
    /** Stops serving; resolves once closed. */
    close(): Promise<void>;
  }

  interface ConsumerEventMap {
    /** A resolved promise (or a plain return) accepts, a rejected one (or a throw) releases and emits 'error'; unless the handler settled the message itself. */
    message: (message: ConsumerMessage) => void | Promise<unknown>;
    /** A handler failed (with its message), or every connection stopped for good (e.g. refused credentials). */
    error: (error: Error, message?: ConsumerMessage) => void;
    connected: (event: { clientId: string; reconnect: boolean }) => void;
    disconnected: (event: { clientId: string; error: ConnectionError | undefined; reconnecting: boolean }) => void;
    /** A redelivery `dedupe` accepted at once. */
    duplicate: (message: ConsumerMessage) => void;
    /**
     * A delivery that cannot be read (`amqp:decode-error`, or `amqp:link:message-size-exceeded`): not
     * handed out, never accepted, held unsettled and released later (it comes again); counted in
     * `stats().unreadable`. With no listener, a line on stderr.
     */
    protocol_error: (error: ConnectionError & { clientId: string }) => void;
    close: () => void;
  }

  /**
   * A consumer of one consumer group. Consume with `for await (const msg of consumer)` (a message
   * is accepted when the loop asks for the next one, released if the loop is left by break, return
   * or throw; leaving the loop closes the consumer) or with 'message' listeners, not both.
   */
  interface Consumer extends EventEmitter, AsyncIterable<ConsumerMessage> {
    readonly host: string;
    readonly port: number;
    readonly consumerGroupId: string;
    /** The client id of each connection. */
    readonly clientIds: string[];
    on<E extends keyof ConsumerEventMap>(event: E, listener: ConsumerEventMap[E]): this;
    once<E extends keyof ConsumerEventMap>(event: E, listener: ConsumerEventMap[E]): this;
    off<E extends keyof ConsumerEventMap>(event: E, listener: ConsumerEventMap[E]): this;
    addListener<E extends keyof ConsumerEventMap>(event: E, listener: ConsumerEventMap[E]): this;
    removeListener<E extends keyof ConsumerEventMap>(event: E, listener: ConsumerEventMap[E]): this;
    emit<E extends keyof ConsumerEventMap>(event: E, ...args: Parameters<ConsumerEventMap[E]>): boolean;
    [Symbol.asyncIterator](): AsyncIterator<ConsumerMessage>;
    /**
     * Batches for a for-await loop: at most `max` messages, yielded when `max` are buffered,
     * `maxWaitMs` after the first one arrived, or at once when no more can come (every connection's
     * credit is used). The loop asking for the next batch accepts what the held one left;
     * leaving it (break, return, throw) releases that and closes the consumer. One loop at a time;
     * not with 'message' listeners; `concurrency` does not apply.
     */
    batches(options?: BatchOptions): AsyncIterableIterator<ConsumerBatch>;
    /** Whether every connection is open with its receiver attached, per connection since when, and the last error. */
    health(): ConsumerHealth;
    /** The counters and gauges of `stats()` per connection and the handler durations, in Prometheus' text format. */
    metrics(): string;
    /** Stops handing out messages and the flow from the server until `resume()`. */
    pause(): void;
    resume(): void;
    isPaused(): boolean;
    stats(): ConsumerStats;
    /**
     * Stops handing out messages, releases those not handed out, waits (at most `timeout` ms,
     * default 30000) for the handlers in flight and the loop's message, releases whatever is still
     * unsettled, and closes every connection. Do not await it inside a handler or loop body.
     */
    close(options?: { timeout?: number }): Promise<void>;
  }

  // -------------------------------------------------------------------------------------------
  // Instrumentation: node:diagnostics_channel. Payloads never hold a password, AccessKey secret,
  // security token or signed username.

  interface Channels {
    readonly connect: 'aliyun-iot-amqp:connect';
    readonly disconnect: 'aliyun-iot-amqp:disconnect';
    readonly message: 'aliyun-iot-amqp:message';
    readonly settle: 'aliyun-iot-amqp:settle';
    readonly error: 'aliyun-iot-amqp:error';
    /** A tracing channel (`diagnostics_channel.tracingChannel`) around each `createConsumer()` handler call. */
    readonly handler: 'aliyun-iot-amqp:handler';
  }

  /** What every connection's payload starts with. */
  interface ConnectionEventBase {
    /** Numbers the connections of the process, from 1. */
    connectionId: number;
    /** The container id sent in Open: the client id shown in the platform's console. */
    clientId: string;
    host: string;
    port: number;
    /** Numbers the connection's transport attempts, from 1. */
    epoch: number;
  }

  /** `aliyun-iot-amqp:connect`: the connection is open (AMQP Open done). */
  interface ConnectEvent extends ConnectionEventBase {
    transport: 'tcp' | 'tls' | 'ssl';
    /** It was open before. */
    reconnect: boolean;
  }

  /** `aliyun-iot-amqp:disconnect`: the transport is gone. */
  interface DisconnectEvent extends ConnectionEventBase {
    reconnecting: boolean;
    /** Milliseconds until the next attempt. */
    delay: number;
    error: ConnectionError | undefined;
  }

  /** `aliyun-iot-amqp:message`: a delivery handed to the application (one per delivery of a batch too). */
  interface MessageEvent {
    connectionId: number;
    clientId: string;
    epoch: number;
    /** Numbers the receiver's attachments on the connection: a delivery is `(connectionId, attach, deliveryId)`. */
    attach: number;
    deliveryId: number;
    topic: string | undefined;
    messageId: string | undefined;
  }

  /**
   * `aliyun-iot-amqp:settle`: an outcome handed to the connection (`sent`), or not (its connection is
   * gone); `'abandoned'` (never sent): a message `createConsumer()` had buffered, dropped with its
   * connection or link (the platform delivers it again).
   */
  interface SettleEvent {
    connectionId: number;
    clientId: string;
    attach: number;
    deliveryId: number;
    outcome: 'accepted' | 'released' | 'rejected' | 'modified' | 'abandoned';
    sent: boolean;
  }

  /**
   * `aliyun-iot-amqp:error`: `'connection'` the server closed the connection with an error or refused
   * the login; `'session'` it ended the session with one; `'receiver'` it detached the link with one;
   * `'protocol'` a delivery could not be read (with `attach`, `deliveryId`); `'transport'` the socket
   * failed; `'handler'` a handler threw (with the delivery: a batch's first).
   */
  interface ErrorEvent extends ConnectionEventBase {
    source: 'connection' | 'session' | 'receiver' | 'protocol' | 'transport' | 'handler';
    error: Error;
    attach?: number;
    deliveryId?: number;
    messageId?: string;
  }

  /** The context of the `aliyun-iot-amqp:handler` tracing channel (Node adds `result` or `error`). */
  interface HandlerTraceContext {
    message: ConsumerMessage;
    clientId: string;
    topic: string | undefined;
    messageId: string | undefined;
    result?: unknown;
    error?: unknown;
  }

  // -------------------------------------------------------------------------------------------
  // The emulator of the platform's endpoint (for tests and trying things out)

  interface EmulatorOptions {
    /** Default `true`: TLS with a certificate for localhost signed by a CA made for the run. */
    tls?: boolean;
    /** Address to listen on. Default `'127.0.0.1'`. */
    host?: string;
    /** Default 0: any free port (see `emulator.port`). */
    port?: number;
    accessKeyId?: string;
    accessKeySecret?: string;
    securityToken?: string;
    /** If set, the iotInstanceId usernames must carry. */
    iotInstanceId?: string;
    /** The source of the attach reply: none (default, as a rhea server), the client's, or its own. */
    sourceReply?: 'null' | 'echo' | 'own';
    /** `false` accepts any credentials (still recorded). */
    credentialsCheck?: boolean;
    requireFreshTimestamp?: boolean;
    timestampToleranceMs?: number;
    maxReceiversPerConnection?: number;
    /** The idle time-out the emulator advertises (ms). Default 30000. */
    idleTimeOut?: number;
    /** Refuse an Open idle time-out outside 30000–300000 ms. */
    checkIdleTimeout?: boolean;
    containerId?: string;
    /**
     * Where to keep (and reuse) ca.pem, server.pem, server.key; files of those names the emulator did
     * not make are never overwritten (startEmulator() rejects with an EEXIST error naming them).
     * Default: a temporary directory, removed at a normal exit (or `process.exit()`) or when its Worker
     * thread ends or is terminated; not when the process is killed by a signal it does not handle.
     */
    certDir?: string;
  }

  /** A message to publish: topic, id and time default; the body is bytes, text, or JSON. */
  interface EmulatorPublish {
    topic?: string;
    messageId?: string | number;
    generateTime?: number;
    body?: any;
  }

  interface EmulatorAuthAttempt {
    ok: boolean;
    username: string;
    clientId: string | null;
    authMode: string | null;
    signMethod: string | null;
    timestamp: string | null;
    authId: string | null;
    iotInstanceId: string | null;
    consumerGroupId: string | null;
    reason: string | null;
  }

  interface Emulator extends EventEmitter {
    readonly host: string;
    /** The name clients connect to (the certificate's): `'localhost'`. */
    readonly hostname: string;
    readonly port: number;
    readonly tls: boolean;
    /** The CA certificate (PEM) clients must trust, `null` without TLS. */
    readonly ca: string | null;
    readonly caFile: string | null;
    readonly authAttempts: EmulatorAuthAttempt[];
    readonly attaches: Array<Record<string, any>>;
    readonly deliveries: Array<{ key: string; messageId: string; connectionId: number; clientId: string | null; attempt: number; deliveryId: number; message: any }>;
    readonly dispositions: Array<{ key: string; messageId: string; outcome: 'accepted' | 'released' | 'rejected' | 'modified'; state: any; settled: boolean; connectionId: number; clientId: string | null }>;
    /** messageId → times accepted. */
    readonly accepted: Map<string, number>;
    readonly acceptedOnce: Set<string>;
    readonly rejected: Map<string, any>;
    readonly undeliverable: Map<string, any>;
    readonly refusals: Array<{ kind: string; connectionId: number; clientId: string | null; reason: string }>;
    readonly tlsErrors: Array<{ code: string | null; message: string }>;
    readonly errors: Array<{ kind: string; message: string }>;
    /** Live TCP connections. */
    readonly connections: number;
    readonly connectionCount: number;
    start(): Promise<Emulator>;
    close(): Promise<void>;
    url(): string;
    credentials(): { accessKeyId: string; accessKeySecret: string; securityToken: string };
    /** Queues a platform-shaped message; returns its messageId. */
    publish(message?: EmulatorPublish): string;
    publishMany(n: number, fn?: (i: number) => EmulatorPublish | undefined): string[];
    /** Queues a message as rhea's sender takes it. */
    publishRaw(message: any, options?: { key?: string }): string;
    pending(): number;
    inFlight(): number;
    queued(): number;
    stats(): Record<string, any>;
    waitFor<T>(predicate: () => T | Promise<T>, timeoutMs?: number, description?: string): Promise<T>;
    waitForAccepted(n: number, timeoutMs?: number): Promise<boolean>;
    /** Destroys every connection (a network failure); unsettled messages are queued again. */
    dropConnections(): number;
    /** Closes every connection with an AMQP close (and `error`, if given). */
    closeConnections(error?: AmqpErrorLike): number;
    /** Detaches every receiver's link (with `error`, if given); the connections stay open and unsettled messages are queued again. */
    detachReceivers(error?: AmqpErrorLike): number;
  }
}

export = aliyunIotAmqp;
