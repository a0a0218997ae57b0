// PUSH: hands each message to the next peer in turn that has room (round robin); with none, send()
// waits, as libzmq's blocks. Pipes made by connect() take messages while still connecting. A PUSH
// never receives: a peer that sends anyway has its messages dropped.

import type { Buffer } from "node:buffer";
import { RoundRobinSocket } from "./dealer.js";
import { SocketError } from "./errors.js";
import type { SocketOptions } from "./options.js";
import type { Pipe } from "./pipe.js";

export interface PushOptions extends SocketOptions {
  /** Keep only the newest message per peer, each way (queues never fill, so nothing waits and
   * older messages are dropped): for "latest value" feeds. Default false. */
  conflate?: boolean;
}

export class Push extends RoundRobinSocket {
  conflate = false;

  constructor(options?: PushOptions) {
    super("PUSH");
    this._applyOptions(options);
  }

  protected override _xrecv(_pipe: Pipe, _frames: Buffer[]): Buffer[] | undefined {
    return undefined;
  }

  /** A Push socket cannot receive: always rejects with ENOTSUP. */
  override receive(): Promise<Buffer[]> {
    return Promise.reject(new SocketError("ENOTSUP", "a Push socket cannot receive messages"));
  }
}
