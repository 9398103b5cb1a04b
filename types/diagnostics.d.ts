// Type definitions for aliyun-iot-amqp, part of index.d.ts (which names every type, in its
// namespace aliyunIotAmqp): the node:diagnostics_channel names this package publishes on and their
// payloads. Hand-written to match index.js and lib/ exactly.

/// <reference types="node" />

import type { ConnectionError } from './rhea';
import type { ConsumerMessage } from './consumer';

// -------------------------------------------------------------------------------------------
// Instrumentation: node:diagnostics_channel. Payloads never hold a password, AccessKey secret,
// security token or signed username.

export interface Channels {
  readonly connect: 'aliyun-iot-amqp:connect';
  readonly disconnect: 'aliyun-iot-amqp:disconnect';
  readonly message: 'aliyun-iot-amqp:message';
  readonly settle: 'aliyun-iot-amqp:settle';
  readonly error: 'aliyun-iot-amqp:error';
  /** A tracing channel (`diagnostics_channel.tracingChannel`) around each `createConsumer()` handler call. */
  readonly handler: 'aliyun-iot-amqp:handler';
}


/** What every connection's payload starts with. */
export interface ConnectionEventBase {
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
export interface ConnectEvent extends ConnectionEventBase {
  transport: 'tcp' | 'tls' | 'ssl';
  /** It was open before. */
  reconnect: boolean;
}


/** `aliyun-iot-amqp:disconnect`: the transport is gone. */
export interface DisconnectEvent extends ConnectionEventBase {
  reconnecting: boolean;
  /** Milliseconds until the next attempt. */
  delay: number;
  error: ConnectionError | undefined;
}


/** `aliyun-iot-amqp:message`: a delivery handed to the application (one per delivery of a batch too). */
export interface MessageEvent {
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
export interface SettleEvent {
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
export interface ErrorEvent extends ConnectionEventBase {
  source: 'connection' | 'session' | 'receiver' | 'protocol' | 'transport' | 'handler';
  error: Error;
  attach?: number;
  deliveryId?: number;
  messageId?: string;
}


/** The context of the `aliyun-iot-amqp:handler` tracing channel (Node adds `result` or `error`). */
export interface HandlerTraceContext {
  message: ConsumerMessage;
  clientId: string;
  topic: string | undefined;
  messageId: string | undefined;
  result?: unknown;
  error?: unknown;
}
