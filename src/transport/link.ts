// What a socket sees of one connection to a peer, whatever carries it: a ZMTP session over
// node:net (Connection) or an in-process pair of queues (InprocLink). The socket layer only talks
// to this interface, so every socket type works unchanged over tcp://, ipc:// and inproc://.

import type { PeerInfo } from "../zmtp/index.js";

export interface Link {
  /** Whatever the owner wants to find again from this link (the socket's pipe). */
  owner: unknown;
  /** The endpoint this link belongs to (dialed or bound). */
  readonly address: string;
  /** Handshake complete and not closing: messages may be sent. */
  readonly ready: boolean;
  /** The peer cannot take more right now: queue, and wait for the handler's drain(). */
  readonly blocked: boolean;
  /** The peer, once the handshake completed. */
  readonly peer: PeerInfo | undefined;
  /** The link failed or is closing: a handshake in progress will never complete. */
  readonly closing: boolean;
  /** The peer's network address (tcp: its IP), for authentication and logs. */
  readonly remoteAddress: string | undefined;
  /** Sends one multipart message: frames[start..]. */
  send(frames: readonly Uint8Array[], start?: number): void;
  /** Sends a message already encoded by encodeMessage(); only links that carry bytes have it. */
  readonly sendEncoded: ((bytes: Uint8Array) => void) | undefined;
  /** Sends a command (SUBSCRIBE, CANCEL) in order with the messages. */
  sendCommand(name: string, data?: Uint8Array): void;
  /** Stop delivering messages from the peer (our receive queue is full); resume() restarts. */
  pause(): void;
  resume(): void;
  /** Delivers what is queued, then closes. */
  end(): void;
  /** Closes at once, dropping anything not yet delivered. */
  destroy(): void;
}
