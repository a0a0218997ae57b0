// Socket events, shaped like zeromq.js's Observer: `for await (const ev of sock.events)`,
// `await sock.events.receive()`, or emitter style `sock.events.on("connect", fn)`.
// Events are recorded only once somebody has looked at `sock.events`, and at most MAX_BUFFERED
// wait unread (the oldest are dropped), so an unwatched socket never grows memory.

import type { Buffer } from "node:buffer";
import { Queue } from "./queue.js";
import { SocketError } from "./errors.js";

export type EventType =
  | "accept"
  | "accept:error"
  | "bind"
  | "bind:error"
  | "connect"
  | "connect:delay"
  | "connect:retry"
  | "close"
  | "close:error"
  | "disconnect"
  | "end"
  | "handshake"
  | "handshake:error:protocol"
  | "handshake:error:auth"
  | "handshake:error:other"
  | "unknown";

export interface SocketEvent {
  type: EventType;
  address?: string;
  /** connect:retry: ms until the next attempt. */
  interval?: number;
  /** Error events (and disconnects caused by one): the cause, with a `code`. */
  error?: Error & { code?: string };
  /** ROUTER, on disconnect: the routing id the departed peer had, so an application that tracks
   * peers by id (a broker) can forget it at once instead of waiting for a heartbeat to lapse. */
  routingId?: Buffer;
  /** ROUTER with handover, on disconnect: a newer connection took this routing id over, so the
   * peer itself is still there. */
  replaced?: boolean;
}

const MAX_BUFFERED = 1000;

export class Observer implements AsyncIterable<SocketEvent> {
  private readonly queue = new Queue<SocketEvent>();
  private readonly waiters = new Queue<{ resolve: (e: SocketEvent) => void; reject: (e: Error) => void }>();
  private readonly handlers = new Map<string, Set<(e: SocketEvent) => void>>();
  private ended = false;

  get closed(): boolean {
    return this.ended;
  }

  /** Internal: records an event. */
  emit(ev: SocketEvent): void {
    if (this.ended) return;
    const hs = this.handlers.get(ev.type);
    if (hs) for (const h of hs) h(ev);
    if (this.handlers.size > 0) return; // emitter mode: receive() is not used
    const w = this.waiters.shift();
    if (w) return w.resolve(ev);
    this.queue.push(ev);
    if (this.queue.length > MAX_BUFFERED) this.queue.shift();
  }

  /** Internal: no more events (the socket closed); pending receives end. */
  end(): void {
    this.ended = true;
    for (const w of this.waiters.drain()) w.reject(new SocketError("EBADF", "Socket is closed"));
  }

  receive(): Promise<SocketEvent> {
    const ev = this.queue.shift();
    if (ev) return Promise.resolve(ev);
    if (this.ended) return Promise.reject(new SocketError("EBADF", "Socket is closed"));
    return new Promise((resolve, reject) => this.waiters.push({ resolve, reject }));
  }

  on(type: EventType, fn: (e: SocketEvent) => void): this {
    let hs = this.handlers.get(type);
    if (!hs) this.handlers.set(type, (hs = new Set()));
    hs.add(fn);
    return this;
  }

  off(type: EventType, fn: (e: SocketEvent) => void): this {
    const hs = this.handlers.get(type);
    hs?.delete(fn);
    if (hs && hs.size === 0) this.handlers.delete(type);
    return this;
  }

  [Symbol.asyncIterator](): AsyncIterator<SocketEvent> {
    return {
      next: () =>
        this.receive().then(
          (value) => ({ value, done: false }),
          (err) => {
            if (this.ended) return { value: undefined, done: true } as IteratorResult<SocketEvent>;
            throw err;
          },
        ),
    };
  }
}
