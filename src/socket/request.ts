// REQ: strict request/reply from the client side. Each send() starts a request: an empty delimiter
// frame (preceded, with `correlate`, by a 4-byte request id) goes in front of the message, and it
// goes round robin to one peer. Only that peer's first well-formed reply to that request is taken
// (after its envelope is stripped); anything else is dropped. The caller must alternate send() and
// receive(); out of turn, either rejects with EFSM. With `relaxed`, a new send() may abandon the
// request in flight; its late reply is then dropped (reliably only with `correlate`: without it, a
// late reply from the same peer cannot be told from the new one, as in libzmq).

import { Buffer } from "node:buffer";
import { RoundRobinSocket, type RoutingIdOptions } from "./dealer.js";
import { SocketError } from "./errors.js";
import { toFrames, type Message } from "./message.js";
import type { SocketOptions } from "./options.js";
import type { Pipe } from "./pipe.js";
import type { WaitOptions } from "./socket.js";

export interface RequestOptions extends SocketOptions, RoutingIdOptions {
  /** Send a request id before the delimiter and accept only replies that echo it. Default false. */
  correlate?: boolean;
  /** Allow send() while a reply is outstanding (abandoning that request). Default false. */
  relaxed?: boolean;
}

const EMPTY = Buffer.alloc(0);

export class Request extends RoundRobinSocket {
  override routingId: string | Buffer | undefined = undefined;
  correlate = false;
  relaxed = false;

  /** "send": the next call must be send(); "receive": a request is out, receive() its reply. */
  private _turn: "send" | "receive" = "send";
  /** The peer the current request went to (set when it is actually written or queued). */
  private _replyPipe: Pipe | undefined;
  /** The current request's id frame (correlate only). */
  private _requestId: Buffer | undefined;
  /** The current request's reply was taken in; later ones are dropped. */
  private _answered = false;
  private _receiving = false;
  /** Counts requests, so that a failed send() only undoes the turn it took itself. */
  private _requests = 0;
  private _nextId = (Math.random() * 0x1_0000_0000) >>> 0;

  constructor(options?: RequestOptions) {
    super("REQ");
    this._applyOptions(options);
  }

  override send(msg: Message, options?: WaitOptions): Promise<void> {
    if (this._turn === "receive") {
      if (!this.relaxed) {
        return Promise.reject(new SocketError("EFSM", "Request: receive() the reply before sending again (or set relaxed)"));
      }
      this._abandon();
    }
    let frames: Buffer[];
    try {
      frames = toFrames(msg);
    } catch (err) {
      return Promise.reject(err);
    }
    const envelope = [EMPTY];
    if (this.correlate) {
      const id = Buffer.alloc(4);
      id.writeUInt32BE(this._nextId);
      this._nextId = (this._nextId + 1) >>> 0;
      envelope.unshift(id);
      this._requestId = id;
    } else {
      this._requestId = undefined;
    }
    this._turn = "receive";
    this._answered = false;
    this._replyPipe = undefined;
    const request = ++this._requests;
    return super.send([...envelope, ...frames], options).catch((err: unknown) => {
      // It never went out (timeout, abort, close): the turn goes back to sending.
      if (request === this._requests) this._turn = "send";
      throw err;
    });
  }

  override receive(options?: WaitOptions): Promise<Buffer[]> {
    if (this._turn === "send") {
      return Promise.reject(new SocketError("EFSM", "Request: send() a request before receiving"));
    }
    if (this._receiving) return Promise.reject(new SocketError("EFSM", "Request: a receive() is already waiting"));
    this._receiving = true;
    return super.receive(options).then(
      (msg) => {
        this._receiving = false;
        this._turn = "send";
        return msg;
      },
      (err: unknown) => {
        this._receiving = false;
        throw err;
      },
    );
  }

  protected override _xsend(msg: Buffer[]): boolean {
    const p = this._pick();
    if (!p) return false;
    this._replyPipe = p;
    this._write(p, msg);
    return true;
  }

  protected override _xrecv(pipe: Pipe, frames: Buffer[]): Buffer[] | undefined {
    if (this._turn !== "receive" || this._answered || pipe !== this._replyPipe) return undefined;
    let i = 0;
    if (this._requestId !== undefined) {
      if (frames.length < 1 || !frames[0]!.equals(this._requestId)) return undefined;
      i = 1;
    }
    if (frames.length <= i + 1 || frames[i]!.length !== 0) return undefined; // need delimiter + body
    this._answered = true;
    return frames.slice(i + 1);
  }

  /** relaxed: forget the request in flight, including a reply that already came in. */
  private _abandon(): void {
    this._turn = "send";
    if (this._replyPipe) this._purgeInbound(this._replyPipe);
  }
}
