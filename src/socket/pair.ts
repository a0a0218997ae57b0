// PAIR: exactly one peer. The first pipe is the pair; while it exists (a connect()ed pipe also
// while it reconnects) any other peer is refused after its handshake, with the reason reported on
// its `disconnect` event (ECONNREFUSED). send() waits while the peer is absent or full.

import type { Buffer } from "node:buffer";
import type { SocketOptions } from "./options.js";
import type { Pipe } from "./pipe.js";
import { Socket } from "./socket.js";

export interface PairOptions extends SocketOptions {}

export class Pair extends Socket {
  /** The one peer, or the connect()ed pipe waiting to become it. */
  private _peer: Pipe | undefined;

  constructor(options?: PairOptions) {
    super("PAIR");
    this._applyOptions(options);
  }

  protected override _pipeCreated(pipe: Pipe): void {
    if (pipe.connectSide && !this.immediate && this._peer === undefined) this._peer = pipe;
  }

  protected override _pipeAttached(pipe: Pipe): boolean | string {
    if (this._peer !== undefined && this._peer !== pipe) {
      return `a PAIR socket has one peer and already has ${this._peer.address || "one"}`;
    }
    this._peer = pipe;
    return true;
  }

  protected override _pipeDetached(pipe: Pipe): void {
    // A connect()ed pipe stays the pair while it reconnects (it keeps queueing, like libzmq's).
    if (this._peer === pipe && (!pipe.connectSide || this.immediate || pipe.removed)) this._peer = undefined;
  }

  protected override _pipeRemoved(pipe: Pipe): void {
    if (this._peer === pipe) this._peer = undefined;
  }

  protected override _xsend(msg: Buffer[]): boolean {
    const p = this._peer;
    if (p === undefined || !this._hasRoom(p)) return false;
    this._write(p, msg);
    return true;
  }
}
