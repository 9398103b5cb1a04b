// Type definitions for aliyun-iot-amqp, part of index.d.ts (which names every type, in its
// namespace aliyunIotAmqp): startEmulator(): the local emulator of the platform's AMQP endpoint.
// Hand-written to match index.js and lib/ exactly.

/// <reference types="node" />

import type { EventEmitter } from 'node:events';
import type { AmqpErrorLike } from './rhea';

// -------------------------------------------------------------------------------------------
// The emulator of the platform's endpoint (for tests and trying things out)

export interface EmulatorOptions {
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
export interface EmulatorPublish {
  topic?: string;
  messageId?: string | number;
  generateTime?: number;
  body?: any;
}


export interface EmulatorAuthAttempt {
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


export interface Emulator extends EventEmitter {
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
