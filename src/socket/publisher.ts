// PUB: sends each message to the subscribers whose subscriptions match its first frame; never
// receives (anything a peer sends other than a subscription is dropped). With no subscriber, or
// none that matches, a message is silently dropped; a full subscriber misses messages (see
// fan-out.ts for noDrop and invertMatching).

import type { Buffer } from "node:buffer";
import { SocketError } from "./errors.js";
import { FanOutSocket, type FanOutOptions } from "./fan-out.js";

export interface PublisherOptions extends FanOutOptions {
  /** Keep only the newest message per peer, each way (queues never fill, so nothing waits and
   * older messages are dropped): for "latest value" feeds. Default false. */
  conflate?: boolean;
}

export class Publisher extends FanOutSocket {
  conflate = false;

  constructor(options?: PublisherOptions) {
    super("PUB");
    this._applyOptions(options);
  }

  /** A Publisher cannot receive: always rejects with ENOTSUP. */
  override receive(): Promise<Buffer[]> {
    return Promise.reject(new SocketError("ENOTSUP", "a Publisher cannot receive messages"));
  }
}
