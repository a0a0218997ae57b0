// PULL: receives from all its peers in turn (fair queuing, which the Socket base does); never sends.

import type { Buffer } from "node:buffer";
import { SocketError } from "./errors.js";
import type { SocketOptions } from "./options.js";
import type { Message } from "./message.js";
import { Socket, type WaitOptions } from "./socket.js";

export interface PullOptions extends SocketOptions {
  /** Keep only the newest message per peer, each way (queues never fill, so nothing waits and
   * older messages are dropped): for "latest value" feeds. Default false. */
  conflate?: boolean;
}

const notSupported = () => new SocketError("ENOTSUP", "a Pull socket cannot send messages");

export class Pull extends Socket {
  conflate = false;

  constructor(options?: PullOptions) {
    super("PULL");
    this._applyOptions(options);
  }

  protected override _xsend(_msg: Buffer[]): boolean {
    throw notSupported();
  }

  /** A Pull socket cannot send: always rejects with ENOTSUP. */
  override send(_msg?: Message, _options?: WaitOptions): Promise<void> {
    return Promise.reject(notSupported());
  }
}
