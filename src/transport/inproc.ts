// inproc://name: two sockets of the same process joined by a pair of in-memory queues. Messages
// pass by reference (no encoding, no copy of the bodies); the "handshake" checks the socket-type
// pair and exchanges identities, so the socket layer sees exactly what a ZMTP connection gives it.
// Delivery happens in a microtask batch after send(), never inside it, so a socket is never
// re-entered from its own send(). Security mechanisms do not apply to inproc (as in libzmq).

import type { Buffer } from "node:buffer";
import { ZmtpError, compatible, type Command, type Metadata, type PeerInfo, type SessionOptions } from "../zmtp/index.js";
import type { ConnectionHandler } from "./connection.js";
import type { Link } from "./link.js";
import type { Listener } from "./net.js";

/** Messages in flight on one direction before the sender counts as blocked (its own send queue,
 * bounded by its HWM, takes over from there). */
const INFLIGHT_LIMIT = 256;

const EMPTY = new Uint8Array(0);

type Item = Buffer[] | Command;

/** A binding socket's side of the registry: called for each connecting socket. */
export type InprocAccept = (offer: InprocOffer) => void;

const bound = new Map<string, InprocAccept>();
const waiting = new Map<string, Set<() => void>>();

export class InprocError extends Error {
  readonly code: string;
  constructor(code: string, message: string) {
    super(message);
    this.code = code;
  }
}

/** Registers `name`; connect() calls for it reach `accept` until the listener is closed. */
export function listenInproc(name: string, address: string, accept: InprocAccept): Listener {
  if (bound.has(name)) throw new InprocError("EADDRINUSE", `inproc name ${JSON.stringify(name)} is already bound`);
  bound.set(name, accept);
  const wakers = waiting.get(name);
  if (wakers) {
    waiting.delete(name);
    queueMicrotask(() => {
      for (const wake of wakers) wake();
    });
  }
  return {
    address,
    close: async () => {
      if (bound.get(name) === accept) bound.delete(name);
    },
  };
}

/** Calls `wake` once `name` is bound (at once if it already is); returns a cancel function. */
export function whenInprocBound(name: string, wake: () => void): () => void {
  if (bound.has(name)) {
    queueMicrotask(wake);
    return () => {};
  }
  let set = waiting.get(name);
  if (!set) waiting.set(name, (set = new Set()));
  set.add(wake);
  return () => {
    set!.delete(wake);
    if (set!.size === 0 && waiting.get(name) === set) waiting.delete(name);
  };
}

/**
 * Connects to the socket bound at `name`. Returns undefined when nothing is bound there (the
 * caller waits for a bind). The link reports through `handler` like a network connection.
 */
export function dialInproc(name: string, address: string, options: SessionOptions, handler: ConnectionHandler): InprocLink | undefined {
  const accept = bound.get(name);
  if (!accept) return undefined;
  const ours = new InprocLink(address, options, handler);
  const offer = new InprocOffer(ours);
  accept(offer);
  if (!offer.taken) ours.fail(new InprocError("ECONNREFUSED", `inproc peer at ${address} refused the connection`));
  return ours;
}

/** A connection attempt as the binding socket sees it. */
export class InprocOffer {
  taken = false;
  private readonly dialer: InprocLink;

  constructor(dialer: InprocLink) {
    this.dialer = dialer;
  }

  /** Creates the binding socket's end and starts the handshake. */
  accept(options: SessionOptions, handler: ConnectionHandler): InprocLink {
    this.taken = true;
    const theirs = new InprocLink(this.dialer.address, options, handler);
    InprocLink.join(this.dialer, theirs);
    return theirs;
  }
}

export class InprocLink implements Link {
  owner: unknown;
  readonly address: string;
  readonly remoteAddress = undefined;
  readonly sendEncoded = undefined;
  blocked = false;
  peer: PeerInfo | undefined;

  private readonly options: SessionOptions;
  private readonly handler: ConnectionHandler;
  private other: InprocLink | undefined;
  /** Items sent to us, not yet delivered to our handler. */
  private readonly inbox: Item[] = [];
  private inboxHead = 0;
  private scheduled = false;
  private paused = false;
  private isReady = false;
  /** end() was called on this end: it sends nothing more. */
  private ending = false;
  /** The other end called end(): once our inbox is delivered, close both ends. */
  private closeWhenDrained = false;
  private done = false;

  constructor(address: string, options: SessionOptions, handler: ConnectionHandler) {
    this.address = address;
    this.options = options;
    this.handler = handler;
  }

  /** Pairs two ends and runs the handshake on the next microtask. */
  static join(a: InprocLink, b: InprocLink): void {
    a.other = b;
    b.other = a;
    queueMicrotask(() => {
      if (a.done || b.done) return;
      const ta = a.options.socketType;
      const tb = b.options.socketType;
      if (!compatible(ta, tb)) {
        const err = (ours: string, theirs: string) =>
          new ZmtpError("ENOCOMPATPROTO", "socket-type-mismatch", `${ours} cannot talk to ${theirs}`);
        a.fail(err(ta, tb));
        b.fail(err(tb, ta));
        return;
      }
      a.peer = b.describe();
      b.peer = a.describe();
      a.isReady = b.isReady = true;
      a.handler.ready(a, a.peer);
      if (!b.done) b.handler.ready(b, b.peer);
      // Either side may have sent during its ready callback.
      a.schedule();
      b.schedule();
    });
  }

  get ready(): boolean {
    return this.isReady && !this.done && !this.ending && !this.closeWhenDrained;
  }

  get closing(): boolean {
    return this.done || this.ending || this.closeWhenDrained;
  }

  send(frames: readonly Uint8Array[], start = 0): void {
    // A copy of the array (not the bodies): the receiving socket may reshape it.
    this.push((start === 0 ? frames.slice() : frames.slice(start)) as Buffer[]);
  }

  sendCommand(name: string, data: Uint8Array = EMPTY): void {
    this.push({ name, data });
  }

  pause(): void {
    this.paused = true;
  }

  resume(): void {
    if (!this.paused) return;
    this.paused = false;
    this.schedule();
  }

  end(): void {
    if (this.done || this.ending) return;
    this.ending = true;
    const other = this.other;
    if (!other || !this.isReady) return this.destroy();
    // Whatever we sent is in the other end's inbox; it closes both ends once that is delivered.
    other.closeWhenDrained = true;
    other.schedule();
  }

  destroy(): void {
    if (this.done) return;
    const other = this.other;
    this.close(undefined);
    if (other) other.close(undefined);
  }

  /** Ends this side with an error (and no handshake). */
  fail(err: ZmtpError | Error): void {
    if (this.done) return;
    this.close(err);
  }

  private describe(): PeerInfo {
    const metadata: Metadata = new Map([["socket-type", new TextEncoder().encode(this.options.socketType)]]);
    const identity = this.options.identity ?? EMPTY;
    if (identity.length > 0) metadata.set("identity", identity);
    return { socketType: this.options.socketType, identity, minor: 1, metadata };
  }

  private push(item: Item): void {
    const other = this.other;
    if (!other || this.done || !this.isReady) return;
    other.inbox.push(item);
    if (other.inbox.length - other.inboxHead >= INFLIGHT_LIMIT || other.paused) this.blocked = true;
    other.schedule();
  }

  private schedule(): void {
    if (this.scheduled || this.done) return;
    this.scheduled = true;
    queueMicrotask(this.deliver);
  }

  /** Hands queued items to our handler until it pauses us; then tells the sender about room. */
  private readonly deliver = (): void => {
    this.scheduled = false;
    if (this.done || !this.isReady) return;
    const inbox = this.inbox;
    while (this.inboxHead < inbox.length && !this.paused && !this.done) {
      const item = inbox[this.inboxHead]!;
      inbox[this.inboxHead++] = undefined as unknown as Item;
      if (Array.isArray(item)) this.handler.message(this, item);
      else this.handler.command(this, item);
    }
    if (this.inboxHead === inbox.length) {
      inbox.length = 0;
      this.inboxHead = 0;
    } else if (this.inboxHead > 1024 && this.inboxHead * 2 > inbox.length) {
      inbox.splice(0, this.inboxHead);
      this.inboxHead = 0;
    }
    if (this.done) return;
    const pending = inbox.length - this.inboxHead;
    const sender = this.other;
    if (sender && sender.blocked && !sender.done && !this.paused && pending < INFLIGHT_LIMIT) {
      sender.blocked = false;
      sender.handler.drain(sender);
    }
    // (drain() may have made the sender write more: count again.)
    if (inbox.length === this.inboxHead && this.closeWhenDrained && !this.done) {
      // Everything sent before end() has been delivered: close both ends cleanly.
      const other = this.other;
      this.close(undefined);
      if (other) other.close(undefined);
    }
  };

  private close(err: ZmtpError | Error | undefined): void {
    if (this.done) return;
    this.done = true;
    this.isReady = false;
    this.inbox.length = 0;
    this.inboxHead = 0;
    // Reported on a later microtask, like a network close: never from inside the caller's call.
    queueMicrotask(() => this.handler.closed(this, err));
  }
}
