// What SUB and XSUB share: a reference-counted table of our own subscriptions, sent to every
// publisher we are attached to, and sent again in full whenever a peer's handshake completes (a
// new connection or a reconnect: the publisher forgot us). Each peer gets them in the form it
// speaks: SUBSCRIBE/CANCEL commands for ZMTP 3.1, `\x01topic`/`\x00topic` messages for a ZMTP 3.0
// peer (greeting minor version 0).

import { Buffer } from "node:buffer";
import { subscriptionMessage } from "./fan-out.js";
import type { Pipe } from "./pipe.js";
import { Socket } from "./socket.js";
import { SubscriptionTable } from "./subscriptions.js";
import type { SocketType } from "../zmtp/index.js";

/** The owner of our own subscriptions in the table (there is just one). */
export const SELF = 0;

export abstract class UpstreamSocket extends Socket {
  /** Our subscriptions, counted: subscribe "A" twice and it takes two unsubscribes to end it. */
  protected readonly _subs = new SubscriptionTable<typeof SELF>();
  /** Peers that may be sent to: attached, or made by connect() (unless immediate). */
  protected readonly _peers = new Set<Pipe>();

  protected constructor(type: SocketType) {
    super(type);
  }

  protected override _pipeCreated(pipe: Pipe): void {
    if (pipe.connectSide && !this.immediate) this._peers.add(pipe);
  }

  protected override _pipeAttached(pipe: Pipe): boolean | string {
    this._peers.add(pipe);
    for (const topic of this._subs.topics()) this._sendSubscription(pipe, true, topic);
    return true;
  }

  protected override _pipeDetached(pipe: Pipe): void {
    if (!pipe.connectSide || this.immediate || pipe.removed) this._peers.delete(pipe);
  }

  protected override _pipeRemoved(pipe: Pipe): void {
    this._peers.delete(pipe);
  }

  /** Sends one (un)subscription to every attached peer; the others get all of them on attach. */
  protected _upstream(subscribe: boolean, topic: Uint8Array): void {
    for (const p of this._peers) if (p.attached) this._sendSubscription(p, subscribe, topic);
  }

  private _sendSubscription(pipe: Pipe, subscribe: boolean, topic: Uint8Array): void {
    const conn = pipe.conn;
    if (!conn || !conn.ready) return;
    if (pipe.peer?.minor === 0) {
      // A message: keep it behind messages already queued for this peer (XSUB data).
      const msg = [subscriptionMessage(subscribe, topic)];
      if (pipe.out.length === 0) conn.send(msg);
      else pipe.out.push(msg);
    } else {
      conn.sendCommand(subscribe ? "SUBSCRIBE" : "CANCEL", Buffer.isBuffer(topic) ? topic : Buffer.from(topic));
    }
  }
}
