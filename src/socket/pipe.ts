// A pipe is our side of one peer: its outgoing queue (bounded by sendHighWaterMark), its incoming
// queue (bounded by receiveHighWaterMark), and the connection currently carrying it. A pipe made
// by connect() outlives its connections (it queues while reconnecting, like libzmq); a pipe made
// by an accepted connection dies with it.

import type { Buffer } from "node:buffer";
import type { Link } from "../transport/link.js";
import type { Endpoint } from "../transport/endpoint.js";
import type { PeerInfo } from "../zmtp/index.js";
import type { Outgoing } from "./outgoing.js";
import { Queue } from "./queue.js";

export class Pipe {
  /** Present for pipes made by connect(): where to (re)dial. */
  readonly endpoint: Endpoint | undefined;
  /** For accepted pipes: the bound address they came in on. */
  readonly boundAddress: string | undefined;
  conn: Link | null = null;
  peer: PeerInfo | undefined;
  /** ROUTER: this peer's routing id, and its key in the routing table. */
  routingId: Buffer | undefined;
  routingKey: string | undefined;
  /** ROUTER: routing id chosen at connect() time (connect(addr, { routingId })). */
  presetRoutingId: Buffer | undefined;

  readonly out = new Queue<Outgoing>();
  readonly inq = new Queue<Buffer[]>();
  /** In the socket's queue of pipes with messages to read. */
  inReady = false;
  /** Reading is paused because inq reached receiveHighWaterMark. */
  paused = false;
  /** Handshake done and in use by the routing strategy. */
  attached = false;
  /** No longer part of the socket (closed, disconnected, or refused by the peer for good). */
  removed = false;

  /** Why the socket refused this peer after its handshake (reported with the disconnect). */
  refusal: Error | undefined;
  /** ROUTER handover: a newer connection took this peer's routing id. */
  replaced = false;

  reconnectTimer: ReturnType<typeof setTimeout> | undefined;
  /** inproc: stops waiting for the name to be bound. */
  cancelWait: (() => void) | undefined;
  /** Current backoff step for reconnectMaxInterval doubling. */
  retries = 0;

  constructor(endpoint: Endpoint | undefined, boundAddress: string | undefined) {
    this.endpoint = endpoint;
    this.boundAddress = boundAddress;
  }

  /** Cancels a pending reconnect (timer or inproc wait). */
  stopRetry(): void {
    if (this.reconnectTimer) clearTimeout(this.reconnectTimer);
    this.reconnectTimer = undefined;
    this.cancelWait?.();
    this.cancelWait = undefined;
  }

  get address(): string {
    return this.endpoint?.address ?? this.boundAddress ?? "";
  }

  get connectSide(): boolean {
    return this.endpoint !== undefined;
  }

  /** Connected, handshaken, and the OS buffer has room: messages may be written straight out. */
  get writable(): boolean {
    const c = this.conn;
    return c !== null && c.ready && !c.blocked;
  }
}
