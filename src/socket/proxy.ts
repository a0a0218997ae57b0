// Proxy: forwards messages between a frontend and a backend socket in both directions (each
// direction only where the source can receive and the target can send), optionally copying every
// message to a capture socket first, like zmq_proxy. Backpressure is end to end: a direction takes
// its next message only once the previous one was accepted by the target (and the capture).

import type { Buffer } from "node:buffer";
import { SocketError } from "./errors.js";
import type { Socket } from "./socket.js";

export interface ProxyOptions {
  /** Receives a copy of every forwarded message (e.g. a Publisher or Push for logging/monitoring). */
  capture?: Socket | undefined;
}

/** Socket types that cannot receive / cannot send. */
const SEND_ONLY = new Set(["PUB", "PUSH"]);
const RECEIVE_ONLY = new Set(["SUB", "PULL"]);

export class Proxy<F extends Socket = Socket, B extends Socket = Socket> {
  readonly frontEnd: F;
  readonly backEnd: B;
  readonly capture: Socket | undefined;
  /** Messages the target refused (e.g. ROUTER `mandatory` with an unknown id); they are dropped. */
  dropped = 0;

  private readonly abort = new AbortController();
  private paused: { promise: Promise<void>; resolve: () => void } | undefined;
  private running: Promise<void> | undefined;

  constructor(frontEnd: F, backEnd: B, options?: ProxyOptions) {
    if ((frontEnd as Socket) === backEnd) throw new SocketError("EINVAL", "the frontend and backend must be different sockets");
    this.frontEnd = frontEnd;
    this.backEnd = backEnd;
    this.capture = options?.capture;
  }

  /** Forwards until terminate() or until either socket closes. Calling it twice returns the same run. */
  run(): Promise<void> {
    if (this.running) return this.running;
    const loops: Promise<void>[] = [];
    if (canForward(this.frontEnd, this.backEnd)) loops.push(this.forward(this.frontEnd, this.backEnd));
    if (canForward(this.backEnd, this.frontEnd)) loops.push(this.forward(this.backEnd, this.frontEnd));
    if (loops.length === 0) {
      return Promise.reject(new SocketError("EINVAL", `nothing to forward between ${this.frontEnd.type} and ${this.backEnd.type}`));
    }
    // One direction ending (its socket closed) ends the other too.
    const stop = () => this.abort.abort();
    this.running = Promise.all(loops.map((l) => l.finally(stop))).then(() => {});
    return this.running;
  }

  /** Stops taking messages (those in flight still complete); resume() continues. */
  pause(): void {
    if (this.paused) return;
    let resolve!: () => void;
    const promise = new Promise<void>((r) => (resolve = r));
    this.paused = { promise, resolve };
  }

  resume(): void {
    const p = this.paused;
    this.paused = undefined;
    p?.resolve();
  }

  /** Ends run(); the sockets stay open (close them yourself). */
  terminate(): void {
    this.abort.abort();
    this.resume();
  }

  get terminated(): boolean {
    return this.abort.signal.aborted;
  }

  private async forward(from: Socket, to: Socket): Promise<void> {
    const signal = this.abort.signal;
    while (!signal.aborted) {
      if (this.paused) {
        await this.paused.promise;
        continue;
      }
      let msg: Buffer[];
      try {
        msg = await from.receive({ signal });
      } catch (err) {
        if (isEnd(err, from)) return;
        throw err;
      }
      try {
        const capture = this.capture;
        if (capture && !capture.closed) await capture.send(msg, { signal }).catch(() => {}); // never stops forwarding
        await to.send(msg, { signal });
      } catch (err) {
        if (isEnd(err, to) || signal.aborted) return;
        this.dropped++; // refused by the target (EHOSTUNREACH, EAGAIN with a timeout): drop it
      }
    }
  }
}

function canForward(from: Socket, to: Socket): boolean {
  return !SEND_ONLY.has(from.type) && !RECEIVE_ONLY.has(to.type);
}

/** The direction is over: aborted, or the socket closed. */
function isEnd(err: unknown, sock: Socket): boolean {
  const code = (err as { code?: string }).code;
  return code === "ABORT_ERR" || code === "EBADF" || sock.closed;
}
