// Type definitions for aliyun-iot-amqp, part of index.d.ts (which names every type, in its
// namespace aliyunIotAmqp): createConsumer(): its options, messages, batches, stats, health,
// metrics and events. Hand-written to match index.js and lib/ exactly.

/// <reference types="node" />

import type { EventEmitter } from 'node:events';
import type { PeerCertificate, TlsOptions } from './connect';
import type { Message, AmqpErrorLike, ConnectionError } from './rhea';

// -------------------------------------------------------------------------------------------
// The platform-native API: createConsumer()

/** An AccessKey pair, with an STS token for `authMode: 'ststoken'`. */
export interface ConsumerCredentials {
  accessKeyId: string;
  accessKeySecret: string;
  /** Given: `authMode` defaults to `'ststoken'`. */
  securityToken?: string;
}


/** Options of `createConsumer()`. Unknown options are refused (TypeError naming them). */
export interface ConsumerOptions extends TlsOptions {
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
  /** As in `connect()`: most time a read waits while messages trickle in (ms). Default 8; `0`: at once. */
  read_delay?: number;
  max_frame_size?: number;
  max_message_size?: number;
}


export type TopicKind = 'property' | 'event' | 'service-reply' | 'status' | 'lifecycle' | 'topology' | 'ota' | 'custom';


/** What a topic says about its message (see `parseTopic`). */
export interface TopicInfo {
  productKey: string | undefined;
  deviceName: string | undefined;
  kind: TopicKind;
  /** The event id, service id, or the OTA message's kind, where the topic has one. */
  identifier: string | undefined;
}


/** A message of the subscription. Settle it once; see the README for when it is settled for you. */
export interface ConsumerMessage {
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
  /** The message as the rhea-shaped API gives it (built when first read). */
  readonly raw: Message;
  /** The application properties, as `raw.application_properties` holds them, decoded without building `raw`; undefined if it has none. */
  readonly applicationProperties: Record<string, any> | undefined;
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
export interface ConsumerStats {
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
export interface ConsumerBatch extends Array<ConsumerMessage> {
  /** Accepts every message not settled yet; returns how many outcomes went out (not those whose connection is gone: they come again). */
  accept(): number;
  /** Releases every message not settled yet (they come again); returns how many outcomes went out. */
  release(): number;
}


/** Options of `consumer.batches()`. */
export interface BatchOptions {
  /** Most messages per batch. Default 100. */
  max?: number;
  /** How long the first message of a batch waits for more, in ms. Default 50. */
  maxWaitMs?: number;
}


/** One connection in `consumer.health()`. */
export interface ConnectionHealth {
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
export interface ConsumerHealth {
  /** `'up'`: every connection open; `'degraded'`: some; `'down'`: none, or the consumer is closing, closed or failed. */
  status: 'up' | 'degraded' | 'down';
  connections: ConnectionHealth[];
  /** As in `stats()`. */
  lastError: string | null;
}


export interface MetricsServerOptions {
  /** Default 0: any free port (see `server.port`). */
  port?: number;
  /** Default: every interface. */
  host?: string;
}


export interface MetricsServer {
  readonly port: number;
  readonly host: string;
  /** `http://host:port` (without a path). */
  readonly url: string;
  readonly server: import('node:http').Server;
  /** Stops serving; resolves once closed. */
  close(): Promise<void>;
}


export interface ConsumerEventMap {
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
export interface Consumer extends EventEmitter, AsyncIterable<ConsumerMessage> {
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
