// Type definitions for aliyun-iot-amqp. Hand-written to match index.js exactly; the generated
// native.d.ts describes the internal binding only.

/// <reference types="node" />

import { EventEmitter } from 'node:events';

/** The module is a ready container, as rhea's is, with its classes and `sign` attached. */
declare const aliyunIotAmqp: aliyunIotAmqp.Container & {
  Container: new (options?: aliyunIotAmqp.ConnectionOptions & { id?: string }) => aliyunIotAmqp.Container;
  Connection: Function & { prototype: aliyunIotAmqp.Connection };
  Receiver: Function & { prototype: aliyunIotAmqp.Receiver };
  Delivery: Function & { prototype: aliyunIotAmqp.Delivery };
  Message: new () => aliyunIotAmqp.Message;
  Section: new (typecode: 0x75 | 0x76, content: any, multiple?: boolean) => aliyunIotAmqp.Section;
  ConnectionError: new (description: string, condition: string, connection?: aliyunIotAmqp.Connection) => aliyunIotAmqp.ConnectionError;
  /** Signs the platform's SASL PLAIN credentials (in Rust). Throws a TypeError naming a bad option. */
  sign(options: aliyunIotAmqp.SignOptions): aliyunIotAmqp.SignedCredentials;
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
    /** Attempts in a row without success before giving up. Default unlimited. */
    reconnect_limit?: number;
    /** Keep reconnecting after the server refused the credentials. Default `false` (the platform limits connects per minute). */
    reconnect_on_auth_failure?: boolean;
    /** Container id sent in Open. Default: the container's id. */
    container_id?: string;
    /** Hostname sent in Open and SASL init. Not sent unless given. */
    hostname?: string;
    /** Hostname sent in SASL init. Default: `servername`, else `host` (as rhea). */
    sasl_init_hostname?: string;
    /** TLS server name to send and verify. Default: `host`. */
    servername?: string;
    /** Extra trusted CA certificates (PEM or DER), added to the public roots and `NODE_EXTRA_CA_CERTS`. */
    ca?: string | Buffer | Uint8Array | Array<string | Buffer | Uint8Array>;
    /** `false` accepts any server certificate. Default `true`. */
    rejectUnauthorized?: boolean;
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
    /** Other rhea options are accepted and ignored. */
    [option: string]: unknown;
  }

  /** Parameters for signing the platform's SASL credentials. */
  interface CredentialOptions {
    accessKeyId: string;
    accessKeySecret: string;
    consumerGroupId: string;
    /** At most 64 characters; shown in the console. */
    clientId: string;
    iotInstanceId?: string;
    /** Default `'aksign'`. */
    authMode?: 'aksign' | 'ststoken';
    /** Default `'hmacsha1'`. */
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
    /** The platform puts `topic`, `messageId` and `generateTime` here. */
    application_properties?: Record<string, any>;
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

  /** An error from the connection or the server. `condition` is the AMQP error condition. */
  interface ConnectionError extends Error {
    name: 'ConnectionError';
    condition: string;
    description: string;
    readonly connection: Connection;
    toJSON(): { type: string; code: string; message: string };
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

  interface ErrorContext extends EventContext {
    error?: ConnectionError;
  }

  interface ReceiverErrorContext extends ReceiverContext {
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
    connection_open: (context: EventContext) => void;
    connection_close: (context: ErrorContext) => void;
    connection_error: (context: ErrorContext) => void;
    receiver_open: (context: ReceiverContext) => void;
    receiver_close: (context: ReceiverErrorContext) => void;
    receiver_error: (context: ReceiverErrorContext) => void;
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
  }

  interface Container extends Endpoint {
    readonly id: string;
    connect(options?: ConnectionOptions): Connection;
    create_container(options?: ConnectionOptions & { id?: string }): Container;
    generate_uuid(): string;
  }
}

export = aliyunIotAmqp;
