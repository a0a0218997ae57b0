// What PUB and XPUB share: subscriptions taken from peers, and fan-out of each message to the
// peers whose subscriptions match its first frame (by prefix), filtered here on the sending side
// as ZMTP 3.x does. A full peer misses the message (send() never waits) unless `noDrop`, which
// makes send() wait until every matching peer has room.
//
// Subscriptions arrive as SUBSCRIBE/CANCEL commands (ZMTP 3.1) or as single-frame messages
// `\x01topic` / `\x00topic` (ZMTP 3.0, and what XSUB applications send); both are accepted from
// any peer. Per peer a topic is held or not, as in libzmq: a repeated SUBSCRIBE changes nothing and
// one CANCEL ends it. That is what makes libzmq's SUB work against us, since it sends SUBSCRIBE for
// every subscribe() call but CANCEL only for the last unsubscribe() (its own count does the rest),
// and what makes a subscriber's resend after a reconnect harmless.
//
// Pipes made by connect() keep their subscriptions while reconnecting, and messages for them queue
// up to the HWM meanwhile (libzmq keeps such a pipe too); with `immediate`, or for accepted pipes,
// a lost connection takes the peer's subscriptions with it.

import { Buffer } from "node:buffer";
import type { Command } from "../zmtp/index.js";
import type { SocketOptions } from "./options.js";
import { EncodedMessage, encodeOnce } from "./outgoing.js";
import type { Pipe } from "./pipe.js";
import { Socket } from "./socket.js";
import { SubscriptionTable } from "./subscriptions.js";
import type { SocketType } from "../zmtp/index.js";

export interface FanOutOptions extends SocketOptions {
  /** When a matching subscriber's queue is full, make send() wait for room (or fail with EAGAIN
   * when sendTimeout is 0) instead of dropping the message for that subscriber. Default false. */
  noDrop?: boolean;
  /** Send each message to the peers whose subscriptions do NOT match it (subscribers must set
   * invertMatching too, or their own filter drops what arrives). Default false. */
  invertMatching?: boolean;
}

/** A subscription message as the application sees it: 0x01 (subscribe) or 0x00 (cancel) + topic. */
export function subscriptionMessage(subscribe: boolean, topic: Uint8Array): Buffer {
  const b = Buffer.allocUnsafe(topic.length + 1);
  b[0] = subscribe ? 1 : 0;
  b.set(topic, 1);
  return b;
}

const view = (b: Uint8Array): Buffer => (Buffer.isBuffer(b) ? b : Buffer.from(b.buffer, b.byteOffset, b.byteLength));

export abstract class FanOutSocket extends Socket {
  noDrop = false;
  invertMatching = false;

  /** What each peer subscribed to (the peer's pipe is the owner). */
  protected readonly _subs = new SubscriptionTable<Pipe>();
  /** Peers that may be sent to: attached, or made by connect() (unless immediate). */
  protected readonly _peers = new Set<Pipe>();
  /** Scratch list of the current message's recipients (reused: no allocation per message). */
  private readonly _targets: Pipe[] = [];

  protected constructor(type: SocketType) {
    super(type);
  }

  /** Send never waits unless noDrop is set and some peer is full. */
  override get writable(): boolean {
    if (this.closed) return false;
    if (!this.noDrop) return true;
    for (const p of this._peers) if (!this._hasRoom(p)) return false;
    return true;
  }

  // ---- pipes ------------------------------------------------------------------------------------

  protected override _pipeCreated(pipe: Pipe): void {
    if (pipe.connectSide && !this.immediate) this._peers.add(pipe);
  }

  protected override _pipeAttached(pipe: Pipe): boolean | string {
    this._peers.add(pipe);
    return true;
  }

  protected override _pipeDetached(pipe: Pipe): void {
    if (!pipe.connectSide || this.immediate || pipe.removed) this._forget(pipe);
  }

  protected override _pipeRemoved(pipe: Pipe): void {
    this._forget(pipe);
  }

  private _forget(pipe: Pipe): void {
    const known = this._peers.delete(pipe);
    if (known || this._subs.hasOwner(pipe)) this._peerGone(pipe);
  }

  /** A peer left for good: its subscriptions go (XPUB reports them). */
  protected _peerGone(pipe: Pipe): void {
    this._subs.removeOwner(pipe);
  }

  // ---- subscriptions in -------------------------------------------------------------------------

  protected override _xrecv(pipe: Pipe, frames: Buffer[]): Buffer[] | undefined {
    if (frames.length === 1) {
      const f = frames[0]!;
      if (f.length > 0 && (f[0] === 1 || f[0] === 0)) {
        if (pipe.removed) return undefined;
        return this._subscription(pipe, f[0] === 1, f.subarray(1), frames);
      }
    }
    return this._data(pipe, frames);
  }

  protected override _xcommand(pipe: Pipe, cmd: Command): void {
    let subscribe: boolean;
    if (cmd.name === "SUBSCRIBE") subscribe = true;
    else if (cmd.name === "CANCEL") subscribe = false;
    else return; // any other command is ignored, as libzmq does
    if (pipe.removed || this.closed) return;
    const up = this._subscription(pipe, subscribe, view(cmd.data), undefined);
    if (up) this._deliver(pipe, up);
  }

  /** Applies a peer's (un)subscription; returns what the application should receive, if anything.
   * `received` is the message it came in (message form), undefined for commands. */
  protected _subscription(pipe: Pipe, subscribe: boolean, topic: Buffer, _received: Buffer[] | undefined): Buffer[] | undefined {
    this._apply(pipe, subscribe, topic);
    return undefined;
  }

  /** Set semantics per peer (see the top of this file): returns whether anything changed. */
  protected _apply(pipe: Pipe, subscribe: boolean, topic: Uint8Array): boolean {
    if (subscribe) {
      if (this._subs.has(topic, pipe)) return false;
      this._subs.add(topic, pipe);
      return true;
    }
    return this._subs.remove(topic, pipe) !== 0;
  }

  /** A message from a peer that is not a subscription: PUB drops it. */
  protected _data(_pipe: Pipe, _frames: Buffer[]): Buffer[] | undefined {
    return undefined;
  }

  // ---- fan-out ----------------------------------------------------------------------------------

  protected override _xsend(msg: Buffer[]): boolean {
    const targets = this._targets;
    targets.length = 0;
    const first = msg[0]!;
    if (this.invertMatching) {
      this._subs.match(first, targets);
      const matched = new Set(targets);
      targets.length = 0;
      for (const p of this._peers) if (!matched.has(p)) targets.push(p);
    } else {
      this._subs.match(first, targets);
    }
    const n = targets.length;
    if (n === 0) return true; // nobody wants it: dropped, as libzmq does
    if (this.noDrop) {
      for (let i = 0; i < n; i++) {
        if (!this._hasRoom(targets[i]!)) {
          targets.length = 0;
          return false; // wait until every matching peer has room
        }
      }
    }
    // With several recipients the message is framed once and those bytes go to every network peer,
    // now or later from its queue. (Measured on loopback with 4 subscribers: about even with
    // encoding per connection for small messages, since the writer still copies them into each
    // connection's slab; it saves the per-frame work of multipart and larger messages.)
    let encoded: Uint8Array | undefined;
    let queued: EncodedMessage | undefined;
    for (let i = 0; i < n; i++) {
      const p = targets[i]!;
      if (p.out.length === 0 && p.writable) {
        const conn = p.conn!;
        if (n > 1 && conn.sendEncoded) conn.sendEncoded((encoded ??= encodeOnce(msg)));
        else conn.send(msg);
      } else if (this._hasRoom(p)) {
        this._enqueue(p, n > 1 ? (queued ??= new EncodedMessage(msg, (encoded ??= encodeOnce(msg)))) : msg);
      }
      // else: this subscriber is full and misses the message
    }
    targets.length = 0; // hold no pipes between messages
    return true;
  }
}
