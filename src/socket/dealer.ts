// DEALER: round-robin out over peers with room, fair-queued in, no envelope handling. Pipes made
// by connect() take messages even while (re)connecting, up to the HWM, as libzmq's do; with no pipe
// that has room, send() waits.

import type { Buffer } from "node:buffer";
import type { SocketOptions } from "./options.js";
import type { Pipe } from "./pipe.js";
import { Socket } from "./socket.js";
import type { SocketType } from "../zmtp/index.js";

export interface RoutingIdOptions {
  /** Our identity, sent to ROUTER peers (1-255 bytes, must not start with a zero byte). */
  routingId?: string | Buffer | undefined;
}

export interface DealerOptions extends SocketOptions, RoutingIdOptions {
  /** Keep only the newest message per peer, each way (queues never fill, so nothing waits and
   * older messages are dropped): for "latest value" feeds. Default false. */
  conflate?: boolean;
}

/** Round-robin over a set of pipes, skipping those without room. Shared by DEALER-like types. */
export abstract class RoundRobinSocket extends Socket {
  protected readonly _lb: Pipe[] = [];
  private _next = 0;

  protected constructor(type: SocketType) {
    super(type);
  }

  protected override _pipeCreated(pipe: Pipe): void {
    if (pipe.connectSide && !this.immediate) this._lb.push(pipe);
  }

  protected override _pipeAttached(pipe: Pipe): boolean {
    if (!this._lb.includes(pipe)) this._lb.push(pipe);
    return true;
  }

  protected override _pipeDetached(pipe: Pipe): void {
    if (!pipe.connectSide || this.immediate || pipe.removed) this._unlist(pipe);
  }

  protected override _pipeRemoved(pipe: Pipe): void {
    this._unlist(pipe);
  }

  private _unlist(pipe: Pipe): void {
    const i = this._lb.indexOf(pipe);
    if (i < 0) return;
    this._lb.splice(i, 1);
    if (this._next > i) this._next--;
    if (this._next >= this._lb.length) this._next = 0;
  }

  /** The next pipe in turn that has room (and makes it the last one used), or undefined. */
  protected _pick(): Pipe | undefined {
    const lb = this._lb;
    const n = lb.length;
    for (let i = 0; i < n; i++) {
      const idx = (this._next + i) % n;
      const p = lb[idx]!;
      if (this._hasRoom(p)) {
        this._next = (idx + 1) % n;
        return p;
      }
    }
    return undefined;
  }

  protected override _xsend(msg: Buffer[]): boolean {
    const p = this._pick();
    if (!p) return false;
    this._write(p, msg);
    return true;
  }
}

export class Dealer extends RoundRobinSocket {
  override routingId: string | Buffer | undefined = undefined;
  conflate = false;

  constructor(options?: DealerOptions) {
    super("DEALER");
    this._applyOptions(options);
  }
}
