// REP: the service side of request/reply. Requests are fair-queued from all peers; each carries an
// envelope (everything up to and including the first empty frame), which receive() strips and
// keeps with that very message, so the next send() goes back to the peer and envelope of the
// request the caller actually received. Calls must alternate receive(), send(), receive(), ...;
// out of turn, either rejects with EFSM. A reply whose peer has gone, or whose peer is at its
// HWM, is dropped, as in libzmq. A message with no envelope delimiter is dropped on arrival.

import type { Buffer } from "node:buffer";
import { SocketError } from "./errors.js";
import { toFrames, type Message } from "./message.js";
import type { SocketOptions } from "./options.js";
import type { Pipe } from "./pipe.js";
import { Socket, type WaitOptions } from "./socket.js";

export interface ReplyOptions extends SocketOptions {}

interface Origin {
  pipe: Pipe;
  envelope: Buffer[];
}

export class Reply extends Socket {
  /** Where each received request came from, keyed by the array receive() hands out. */
  private readonly _origins = new WeakMap<Buffer[], Origin>();
  private _turn: "receive" | "send" = "receive";
  private _receiving = false;
  /** The request being answered (the last one received). */
  private _current: Origin | undefined;

  constructor(options?: ReplyOptions) {
    super("REP");
    this._applyOptions(options);
  }

  override receive(options?: WaitOptions): Promise<Buffer[]> {
    if (this._turn === "send") return Promise.reject(new SocketError("EFSM", "Reply: send() the reply before receiving again"));
    if (this._receiving) return Promise.reject(new SocketError("EFSM", "Reply: a receive() is already waiting"));
    this._receiving = true;
    return super.receive(options).then(
      (msg) => {
        this._receiving = false;
        this._current = this._origins.get(msg);
        this._turn = "send";
        return msg;
      },
      (err: unknown) => {
        this._receiving = false;
        throw err;
      },
    );
  }

  override send(msg: Message, _options?: WaitOptions): Promise<void> {
    if (this.closed) return super.send(msg); // rejects with EBADF
    if (this._turn === "receive") return Promise.reject(new SocketError("EFSM", "Reply: receive() a request before replying"));
    let frames: Buffer[];
    try {
      frames = toFrames(msg);
    } catch (err) {
      return Promise.reject(err);
    }
    const to = this._current;
    this._current = undefined;
    this._turn = "receive";
    if (to !== undefined && to.pipe.attached && this._hasRoom(to.pipe)) this._write(to.pipe, [...to.envelope, ...frames]);
    return Promise.resolve();
  }

  protected override _xsend(_msg: Buffer[]): boolean {
    return true; // send() routes replies itself
  }

  protected override _xrecv(pipe: Pipe, frames: Buffer[]): Buffer[] | undefined {
    const k = frames.findIndex((f) => f.length === 0);
    if (k < 0 || k === frames.length - 1) return undefined; // no delimiter, or no body after it
    const body = frames.slice(k + 1);
    this._origins.set(body, { pipe, envelope: frames.slice(0, k + 1) });
    return body;
  }
}
