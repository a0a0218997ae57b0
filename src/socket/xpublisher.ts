// XPUB: a Publisher that also hands subscriptions to the application, as messages `\x01topic`
// (subscribe) and `\x00topic` (unsubscribe), whichever form the peer used. Other messages from
// peers (an XSUB may send anything) are received as they are.
//
// Which subscriptions are passed up (`verbosity`):
//   null (default)     a topic's first subscribe and last unsubscribe over all peers
//   "allSubs"          every subscribe; unsubscribes as above
//   "allSubsUnsubs"    every subscribe and every unsubscribe
// A peer that leaves unsubscribes from all its topics; those are reported like unsubscribes
// (only the ones nobody else holds, unless "allSubsUnsubs"). Unlike libzmq, a CANCEL for a topic
// the peer never held is not passed up by default: forwarded upstream through a proxy it would
// cancel a subscription that other subscribers still need.
//
// `manual`: peers' subscriptions are not applied. Every one is passed up, and the application
// decides by calling subscribe()/unsubscribe(), which apply to the peer whose subscription
// message it received last (libzmq's XPUB_MANUAL). When a peer leaves, everything it had asked
// for is reported as unsubscribes.

import type { Buffer } from "node:buffer";
import { SocketError } from "./errors.js";
import { FanOutSocket, subscriptionMessage, type FanOutOptions } from "./fan-out.js";
import { toFrame } from "./message.js";
import type { Pipe } from "./pipe.js";
import type { WaitOptions } from "./socket.js";
import { Added, Removed, SubscriptionTable, topicBytes } from "./subscriptions.js";

export type XPublisherVerbosity = null | "allSubs" | "allSubsUnsubs";

export interface XPublisherOptions extends FanOutOptions {
  /** Which subscription messages reach the application (see above). Default null. */
  verbosity?: XPublisherVerbosity;
  /** Subscriptions are applied by the application (subscribe()/unsubscribe()). Default false. */
  manual?: boolean;
  /** Sent to every peer when its handshake completes (again after a reconnect of a connect()ed
   * peer). A SUB must subscribe to it to see it. Empty or null: none. Default null. */
  welcomeMessage?: string | Buffer | null;
}

export class XPublisher extends FanOutSocket {
  verbosity: XPublisherVerbosity = null;
  manual = false;
  welcomeMessage: string | Buffer | null = null;

  /** Manual mode: what each peer asked for, to report when it leaves. */
  private readonly _requested = new SubscriptionTable<Pipe>();
  /** Manual mode: which peer each subscription message came from. */
  private readonly _origin = new WeakMap<Buffer[], Pipe>();
  private _lastPipe: Pipe | undefined;

  constructor(options?: XPublisherOptions) {
    super("XPUB");
    this._applyOptions(options);
  }

  override receive(options?: WaitOptions): Promise<Buffer[]> {
    const p = super.receive(options);
    if (!this.manual) return p;
    return p.then((msg) => {
      const from = this._origin.get(msg);
      if (from) this._lastPipe = from;
      return msg;
    });
  }

  /**
   * Manual mode: subscribes the peer whose subscription message was received last to these
   * prefixes (none = everything). Does nothing if that peer has left; EINVAL outside manual mode.
   */
  subscribe(...prefixes: (string | Buffer)[]): void {
    this._manualApply(true, prefixes);
  }

  /** Manual mode: the opposite of subscribe(), for the same peer. */
  unsubscribe(...prefixes: (string | Buffer)[]): void {
    this._manualApply(false, prefixes);
  }

  private _manualApply(subscribe: boolean, prefixes: (string | Buffer)[]): void {
    if (!this.manual) {
      throw new SocketError("EINVAL", `XPublisher.${subscribe ? "subscribe" : "unsubscribe"}() needs manual mode`);
    }
    const pipe = this._lastPipe;
    if (!pipe || pipe.removed || !this._peers.has(pipe)) return;
    const topics = prefixes.length === 0 ? [""] : prefixes;
    for (const t of topics) this._apply(pipe, subscribe, topicBytes(t));
  }

  protected override _pipeAttached(pipe: Pipe): boolean | string {
    super._pipeAttached(pipe);
    const welcome = this.welcomeMessage;
    if (welcome !== null && welcome.length > 0) this._write(pipe, [toFrame(welcome)]);
    return true;
  }

  protected override _subscription(pipe: Pipe, subscribe: boolean, topic: Buffer, received: Buffer[] | undefined): Buffer[] | undefined {
    let notify: boolean;
    if (this.manual) {
      if (subscribe) {
        if (!this._requested.has(topic, pipe)) this._requested.add(topic, pipe);
      } else {
        this._requested.remove(topic, pipe);
      }
      notify = true;
    } else if (subscribe) {
      const added = this._subs.has(topic, pipe) ? Added.Again : this._subs.add(topic, pipe);
      notify = added === Added.NewTopic || this.verbosity !== null;
    } else {
      const removed = this._subs.remove(topic, pipe);
      notify = removed === Removed.TopicGone || this.verbosity === "allSubsUnsubs";
    }
    if (!notify) return undefined;
    const msg = received ?? [subscriptionMessage(subscribe, topic)];
    if (this.manual) this._origin.set(msg, pipe);
    return msg;
  }

  /** Anything else a peer sends (an XSUB's own messages) goes to the application as it is. */
  protected override _data(_pipe: Pipe, frames: Buffer[]): Buffer[] | undefined {
    return frames;
  }

  protected override _peerGone(pipe: Pipe): void {
    if (this._lastPipe === pipe) this._lastPipe = undefined;
    const report = (topic: Buffer) => this._deliver(pipe, [subscriptionMessage(false, topic)]);
    if (this.manual) {
      this._requested.removeOwner(pipe, report);
      this._subs.removeOwner(pipe);
      return;
    }
    const every = this.verbosity === "allSubsUnsubs";
    this._subs.removeOwner(pipe, (topic, gone) => {
      if (gone || every) report(topic);
    });
  }
}
