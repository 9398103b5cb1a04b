// Type definitions for aliyun-iot-amqp, part of index.d.ts (which names every type, in its
// namespace aliyunIotAmqp): the rhea-shaped API: messages, deliveries, batches, its error, the
// endpoints (container, connection, session, receiver), their events and the contexts the events
// carry. Hand-written to match index.js and lib/ exactly.

/// <reference types="node" />

import type { EventEmitter } from 'node:events';
import type { ConnectionOptions, ReceiverOptions, PeerCertificate } from './connect';

/** A body of data (0x75) or amqp-sequence (0x76) sections, as rhea gives it. */
export interface Section {
  typecode: 0x75 | 0x76;
  /** A Buffer (one data section), an array (one sequence section), or an array of those with `multiple`. */
  content: any;
  multiple: boolean | undefined;
}


/** A received message: header, properties and annotations as flat fields, as rhea gives them. */
export interface Message {
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


export interface ModifiedParams {
  delivery_failed?: boolean;
  undeliverable_here?: boolean;
  message_annotations?: Record<string, string | number | boolean | null>;
}


export interface AmqpErrorLike {
  condition?: string;
  description?: string;
}


export interface Delivery {
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
export interface Batch extends Iterable<Message> {
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
  /** The application properties of delivery `i`, decoded without the rest of the message (a new object each call); undefined if it has none. */
  properties(index: number): Record<string, any> | undefined;
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
export interface ConnectionError extends Error {
  name: 'ConnectionError';
  condition: string;
  description: string;
  /** Node's `err.code`, where there is one. */
  code?: string;
  readonly connection: Connection;
  toJSON(): { type: string; code: string; message: string };
}


export interface EventContext {
  container: Container;
  connection: Connection;
}


export interface ReceiverContext extends EventContext {
  session: Session;
  receiver: Receiver;
}


export interface MessageContext extends ReceiverContext {
  delivery: Delivery;
  message: Message;
}


export interface BatchContext extends ReceiverContext {
  batch: Batch;
}


export interface ErrorContext extends EventContext {
  error?: ConnectionError;
}


export interface ReceiverErrorContext extends ReceiverContext {
  error?: ConnectionError;
}


export interface SessionContext extends EventContext {
  session: Session;
  /** The error the server gave when it ended the session (`session_error`, `session_close`). */
  error?: ConnectionError;
}


export interface DisconnectedContext extends EventContext {
  error?: ConnectionError;
  /** Whether another attempt follows. */
  reconnecting: boolean;
}


/** Events and their listeners, on the container, a connection, its session or its receiver. */
export interface EventMap {
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


export type EventName = keyof EventMap;


/** An EventEmitter typed with this package's events. */
export interface Endpoint extends EventEmitter {
  on<E extends EventName>(event: E, listener: EventMap[E]): this;
  once<E extends EventName>(event: E, listener: EventMap[E]): this;
  off<E extends EventName>(event: E, listener: EventMap[E]): this;
  addListener<E extends EventName>(event: E, listener: EventMap[E]): this;
  removeListener<E extends EventName>(event: E, listener: EventMap[E]): this;
  emit<E extends EventName>(event: E, ...args: Parameters<EventMap[E]>): boolean;
}


export interface Session extends Endpoint {
  readonly connection: Connection;
  /** The error the server gave when it last ended the session. */
  error?: ConnectionError;
}


export interface Receiver extends Endpoint {
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


export interface Connection extends Endpoint {
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


export interface Container extends Endpoint {
  readonly id: string;
  connect(options?: ConnectionOptions): Connection;
  create_container(options?: ConnectionOptions & { id?: string }): Container;
  generate_uuid(): string;
}
