// Options shared by every socket type, with zeromq.js v6 names and libzmq defaults (except linger:
// see below). Every option is also a writable property of the socket; changes apply to
// connections made afterwards, except linger, timeouts and HWMs, which are read on each use.

import type { Authenticator } from "./security.js";

export interface SocketOptions {
  /** Messages queued per peer for sending before send() waits or drops (type-dependent). 0 = no limit. Default 1000. */
  sendHighWaterMark?: number;
  /** Messages queued per peer for receiving before we stop reading from that peer. 0 = no limit. Default 1000. */
  receiveHighWaterMark?: number;
  /** ms a send() may wait for room; -1 = forever, 0 = fail at once with EAGAIN. Default -1. */
  sendTimeout?: number;
  /** ms a receive() may wait; -1 = forever, 0 = fail at once with EAGAIN. Default -1. */
  receiveTimeout?: number;
  /**
   * ms that close() keeps delivering queued messages; -1 = until delivered, 0 = drop them.
   * Default 30000: libzmq's -1 makes a process whose peer is gone hang forever at exit
   * (zeromq.js #402), while 0 silently loses a message sent just before close().
   */
  linger?: number;
  /** ms before reconnecting a lost or refused connection; -1 = never reconnect. Default 100 (+ up to 100% jitter). */
  reconnectInterval?: number;
  /** If > 0, reconnect waits double from reconnectInterval up to this many ms (no jitter). Default 0. */
  reconnectMaxInterval?: number;
  /** ms for a TCP connect attempt; 0 = the OS default. */
  connectTimeout?: number;
  /** ms for greeting + handshake; 0 = no limit. Default 30000. */
  handshakeInterval?: number;
  /** ms between ZMTP PINGs; 0 = heartbeats off. */
  heartbeatInterval?: number;
  /** ms without any traffic after a PING before the connection is dropped; 0 = heartbeatInterval. */
  heartbeatTimeout?: number;
  /** ms the peer should wait for traffic from us (sent in PINGs, in tenths of a second). */
  heartbeatTimeToLive?: number;
  /** Largest frame accepted from a peer, in bytes; larger closes that connection. -1 = no limit. */
  maxMessageSize?: number;
  /** Only queue messages to peers whose handshake has completed. Default false. */
  immediate?: boolean;
  /** Listen backlog for bind(). Default 100. */
  backlog?: number;
  /**
   * Be the PLAIN server (RFC 24) on every tcp/ipc connection, bound or dialed: peers must be PLAIN
   * clients, and `authenticate` (if set) decides on their credentials; without it any are admitted.
   * Cannot be combined with plainUsername/plainPassword. Default false.
   */
  plainServer?: boolean;
  /** Setting this (or plainPassword) makes every tcp/ipc connection a PLAIN client that presents
   * these credentials (0-255 bytes of UTF-8 each; the other one defaults to ""). Sent in clear text. */
  plainUsername?: string | undefined;
  plainPassword?: string | undefined;
  /**
   * Decides whether a peer may connect, like a ZAP handler: asked for every connection where we are
   * the PLAIN server, and for NULL connections accepted by bind(). Return true/false, or
   * `{ allow, status, reason }` (status 300/400/500 is sent to the peer; default 400), or a promise
   * of either. A thrown error or rejected promise refuses with 500. A refused peer is closed without
   * ever exchanging messages, and both sides report `handshake:error:auth` with code EACCES.
   * Under NULL, our READY waits for the verdict. inproc:// connections are never asked.
   */
  authenticate?: Authenticator | undefined;
}

/** Options whose default is "not set". */
type UnsetByDefault = "plainUsername" | "plainPassword" | "authenticate";

export const DEFAULTS: Required<Omit<SocketOptions, UnsetByDefault>> = {
  sendHighWaterMark: 1000,
  receiveHighWaterMark: 1000,
  sendTimeout: -1,
  receiveTimeout: -1,
  linger: 30_000,
  reconnectInterval: 100,
  reconnectMaxInterval: 0,
  connectTimeout: 0,
  handshakeInterval: 30_000,
  heartbeatInterval: 0,
  heartbeatTimeout: 0,
  heartbeatTimeToLive: 0,
  maxMessageSize: -1,
  immediate: false,
  backlog: 100,
  plainServer: false,
};

/** The wait before reconnect attempt number `retries` (0-based). */
export function reconnectDelay(ivl: number, max: number, retries: number): number {
  if (max > 0) return Math.min(max, ivl * 2 ** Math.min(retries, 30));
  return ivl + Math.floor(Math.random() * ivl);
}
