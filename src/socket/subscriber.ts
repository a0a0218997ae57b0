// SUB: receives, fair-queued, the messages whose first frame starts with one of its subscriptions.
// Publishers filter on their side; we filter again on arrival (as libzmq does), which also covers
// publishers that still hold subscriptions we dropped while we were disconnected. Subscriptions
// are counted; only a topic's first subscribe and last unsubscribe go to the publishers.

import type { Buffer } from "node:buffer";
import { SocketError } from "./errors.js";
import type { Message } from "./message.js";
import type { SocketOptions } from "./options.js";
import type { Pipe } from "./pipe.js";
import type { WaitOptions } from "./socket.js";
import { Added, Removed, topicBytes } from "./subscriptions.js";
import { SELF, UpstreamSocket } from "./upstream.js";

export interface SubscriberOptions extends SocketOptions {
  /** Keep only the newest message per peer, each way (queues never fill, so nothing waits and
   * older messages are dropped): for "latest value" feeds. Default false. */
  conflate?: boolean;
  /** Receive the messages that match NONE of our subscriptions (the publisher must set
   * invertMatching too). Default false. */
  invertMatching?: boolean;
}

export class Subscriber extends UpstreamSocket {
  conflate = false;

  invertMatching = false;

  constructor(options?: SubscriberOptions) {
    super("SUB");
    this._applyOptions(options);
  }

  /**
   * Receives messages starting with any of these prefixes (strings are UTF-8); with no argument,
   * every message (the empty prefix). Each call counts: unsubscribe as often as you subscribed.
   */
  subscribe(...prefixes: (string | Buffer)[]): void {
    for (const topic of toTopics(prefixes)) {
      if (this._subs.add(topic, SELF) === Added.NewTopic) this._upstream(true, topic);
    }
  }

  /** Undoes one subscribe() of each prefix (no argument: of the empty prefix). Unknown ones are ignored. */
  unsubscribe(...prefixes: (string | Buffer)[]): void {
    for (const topic of toTopics(prefixes)) {
      if (this._subs.remove(topic, SELF) === Removed.TopicGone) this._upstream(false, topic);
    }
  }

  /** A Subscriber cannot send: always rejects with ENOTSUP (use subscribe()). */
  override send(_msg: Message, _options?: WaitOptions): Promise<void> {
    return Promise.reject(new SocketError("ENOTSUP", "a Subscriber cannot send messages; use subscribe()"));
  }

  override get writable(): boolean {
    return false;
  }

  protected override _xsend(_msg: Buffer[]): boolean {
    throw new SocketError("ENOTSUP", "a Subscriber cannot send messages; use subscribe()");
  }

  protected override _xrecv(_pipe: Pipe, frames: Buffer[]): Buffer[] | undefined {
    return this._subs.matches(frames[0]!) !== this.invertMatching ? frames : undefined;
  }
}

const toTopics = (prefixes: (string | Buffer)[]): Buffer[] => (prefixes.length === 0 ? [topicBytes("")] : prefixes.map(topicBytes));
