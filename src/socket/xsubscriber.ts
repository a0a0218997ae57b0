// XSUB: a Subscriber driven by messages. The application sends `\x01topic` to subscribe and
// `\x00topic` to unsubscribe (single-frame messages); anything else it sends goes to every
// publisher as it is (dropped for a publisher whose queue is full; send() never waits).
// Received messages are not filtered.
//
// As libzmq's XSUB does, every subscribe is passed on (an XPUB upstream with verbosity may want to
// see each one) but an unsubscribe only when it ends the last subscribe of that topic, and an
// unsubscribe of a topic we do not hold is dropped. All current topics are resent on reconnect.

import type { Buffer } from "node:buffer";
import type { SocketOptions } from "./options.js";
import { Removed } from "./subscriptions.js";
import { SELF, UpstreamSocket } from "./upstream.js";

export interface XSubscriberOptions extends SocketOptions {}

export class XSubscriber extends UpstreamSocket {
  constructor(options?: XSubscriberOptions) {
    super("XSUB");
    this._applyOptions(options);
  }

  override get writable(): boolean {
    return !this.closed;
  }

  protected override _xsend(msg: Buffer[]): boolean {
    if (msg.length === 1) {
      const f = msg[0]!;
      if (f.length > 0 && f[0] === 1) {
        const topic = f.subarray(1);
        this._subs.add(topic, SELF);
        this._upstream(true, topic);
        return true;
      }
      if (f.length > 0 && f[0] === 0) {
        const topic = f.subarray(1);
        if (this._subs.remove(topic, SELF) === Removed.TopicGone) this._upstream(false, topic);
        return true;
      }
    }
    for (const p of this._peers) if (this._hasRoom(p)) this._write(p, msg);
    return true;
  }
}
