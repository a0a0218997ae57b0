// One small interface over "a socket of type X" for the interop table (table.test.ts), with two
// implementations: an emq socket in this process, and a libzmq socket in a peer.py child (one
// process per socket). A scenario is written once against Driver and run for every pairing of
// implementations and bind/connect roles.
//
// emq classes are looked up by name at run time, so the table compiles and runs before every socket
// type exists; opening a missing one fails with "emq has no class X yet".

import { Buffer } from "node:buffer";
import * as emq from "../../src/index.js";
import { Peer, type PeerOptions, type PeerType } from "./peer.js";

export type SockType = PeerType;
export type Impl = "emq" | "libzmq";
export type Frame = string | Buffer;
export type Where = { bind: string } | { connect: string };

/** The emq class for each socket type (zeromq.js v6 names). */
export const EMQ_CLASS: Record<SockType, string> = {
  REQ: "Request",
  REP: "Reply",
  DEALER: "Dealer",
  ROUTER: "Router",
  PUB: "Publisher",
  SUB: "Subscriber",
  XPUB: "XPublisher",
  XSUB: "XSubscriber",
  PUSH: "Push",
  PULL: "Pull",
  PAIR: "Pair",
};

/** Options a table row may set, in emq's names; each driver maps them to its own. */
export interface SideOptions {
  sendHighWaterMark?: number;
  receiveHighWaterMark?: number;
  /** Default 0 here (both sides), so teardown never waits. */
  linger?: number;
  routingId?: string;
  /** ROUTER; default false on both sides (peer.py's own default is on). */
  mandatory?: boolean;
  verbosity?: null | "allSubs" | "allSubsUnsubs";
  immediate?: boolean;
  reconnectInterval?: number;
  /** ROUTER connect(): the name we give the peer, so we can send to it first. */
  connectRoutingId?: string;
}

export interface FillOptions {
  /** Bytes of the filler frame between the prefix and the counter. */
  size: number;
  /** Stop after this many messages. */
  max: number;
  /** A send that waits this long for room counts as blocked (and is abandoned, not sent). */
  stall: number;
}

export interface FillResult {
  sent: number;
  blocked: boolean;
  ms: number;
}

/** An error from a driver, with the socket's error code (EHOSTUNREACH, EAGAIN...) when there is one. */
export class DriverError extends Error {
  constructor(
    message: string,
    readonly code: string | undefined,
  ) {
    super(message);
  }
}

export interface Driver {
  readonly impl: Impl;
  readonly type: SockType;
  /** The bound endpoint (real port) or the address connected to. */
  readonly endpoint: string;
  /** Sends one message; rejects with the socket's code, or EAGAIN after `ms` without room. */
  send(frames: readonly Frame[], ms?: number): Promise<void>;
  /** The next message; rejects if none arrives within `ms`. */
  recv(ms?: number): Promise<Buffer[]>;
  /** The next message, or undefined if none arrives within `ms`. */
  tryRecv(ms: number): Promise<Buffer[] | undefined>;
  /** SUB only. */
  subscribe(topic: Frame): Promise<void>;
  unsubscribe(topic: Frame): Promise<void>;
  /** Sends prefix + [filler] + [counter "%08d"] for counter 0.. until `max` or one send stalls. */
  fill(prefix: readonly Frame[], opts: FillOptions): Promise<FillResult>;
  /** Receives until nothing arrives for `quiet` ms (or `max` messages): each message's last frame as text. */
  drain(quiet: number, max?: number): Promise<string[]>;
  /** Closes the socket as an application would (linger applies). */
  close(): Promise<void>;
  /** Releases everything now (teardown; idempotent). */
  stop(): Promise<void>;
}

export const WAIT = 10_000; // generous: 2 cores shared with other test runs

const toFrame = (f: Frame): Buffer => (typeof f === "string" ? Buffer.from(f, "latin1") : f);
const counter = (i: number): Buffer => Buffer.from(String(i).padStart(8, "0"), "latin1");
const code = (err: unknown): string | undefined => (err as { code?: unknown })?.code as string | undefined;

export function open(impl: Impl, type: SockType, where: Where, opts: SideOptions = {}): Promise<Driver> {
  return impl === "emq" ? EmqDriver.open(type, where, opts) : ZmqDriver.open(type, where, opts);
}

// ---- emq, in this process ----------------------------------------------------------------------

/** What the table uses of an emq socket beyond the Socket base (present only on some types). */
type EmqSocket = emq.Socket & {
  connect(address: string, options?: { routingId?: string }): void;
  subscribe?: (...topics: Buffer[]) => void;
  unsubscribe?: (...topics: Buffer[]) => void;
};

class EmqDriver implements Driver {
  readonly impl = "emq" as const;

  private constructor(
    readonly type: SockType,
    readonly sock: EmqSocket,
    readonly endpoint: string,
  ) {}

  static async open(type: SockType, where: Where, o: SideOptions): Promise<EmqDriver> {
    const name = EMQ_CLASS[type];
    const Ctor = (emq as Record<string, unknown>)[name];
    if (typeof Ctor !== "function") throw new Error(`emq has no class ${name} yet (src/index.ts does not export it)`);
    const options: Record<string, unknown> = { linger: o.linger ?? 0 };
    if (o.sendHighWaterMark !== undefined) options.sendHighWaterMark = o.sendHighWaterMark;
    if (o.receiveHighWaterMark !== undefined) options.receiveHighWaterMark = o.receiveHighWaterMark;
    if (o.routingId !== undefined) options.routingId = o.routingId;
    if (o.mandatory !== undefined) options.mandatory = o.mandatory;
    if (o.verbosity !== undefined) options.verbosity = o.verbosity;
    if (o.immediate !== undefined) options.immediate = o.immediate;
    if (o.reconnectInterval !== undefined) options.reconnectInterval = o.reconnectInterval;
    const sock = new (Ctor as new (options: object) => EmqSocket)(options);
    try {
      if ("bind" in where) {
        await sock.bind(where.bind);
        return new EmqDriver(type, sock, sock.lastEndpoint!);
      }
      if (o.connectRoutingId !== undefined) sock.connect(where.connect, { routingId: o.connectRoutingId });
      else sock.connect(where.connect);
      return new EmqDriver(type, sock, where.connect);
    } catch (err) {
      sock.close();
      throw err;
    }
  }

  async send(frames: readonly Frame[], ms = WAIT): Promise<void> {
    try {
      await this.sock.send(frames.map(toFrame), { signal: AbortSignal.timeout(ms) });
    } catch (err) {
      if (code(err) === "ABORT_ERR") throw new DriverError(`emq ${this.type} send waited ${ms} ms for room`, "EAGAIN");
      throw new DriverError(`emq ${this.type} send failed: ${(err as Error).message}`, code(err));
    }
  }

  async tryRecv(ms: number): Promise<Buffer[] | undefined> {
    try {
      return await this.sock.receive({ signal: AbortSignal.timeout(ms) });
    } catch (err) {
      if (code(err) === "ABORT_ERR") return undefined;
      throw new DriverError(`emq ${this.type} receive failed: ${(err as Error).message}`, code(err));
    }
  }

  async recv(ms = WAIT): Promise<Buffer[]> {
    const m = await this.tryRecv(ms);
    if (!m) throw new DriverError(`emq ${this.type}: no message within ${ms} ms`, "ETIMEDOUT");
    return m;
  }

  async subscribe(topic: Frame): Promise<void> {
    if (!this.sock.subscribe) throw new Error(`emq ${EMQ_CLASS[this.type]} has no subscribe()`);
    this.sock.subscribe(toFrame(topic));
  }

  async unsubscribe(topic: Frame): Promise<void> {
    if (!this.sock.unsubscribe) throw new Error(`emq ${EMQ_CLASS[this.type]} has no unsubscribe()`);
    this.sock.unsubscribe(toFrame(topic));
  }

  async fill(prefix: readonly Frame[], o: FillOptions): Promise<FillResult> {
    const head = prefix.map(toFrame);
    const body = o.size > 0 ? [Buffer.alloc(o.size)] : [];
    const t0 = Date.now();
    let sent = 0;
    let blocked = false;
    for (; sent < o.max; sent++) {
      // Let the event loop turn now and then, so what stops us is the peer and not our own batching.
      if (sent % 16 === 0) await new Promise((r) => setImmediate(r));
      try {
        await this.sock.send([...head, ...body, counter(sent)], { signal: AbortSignal.timeout(o.stall) });
      } catch (err) {
        if (code(err) !== "ABORT_ERR") throw new DriverError(`emq ${this.type} send ${sent} failed: ${(err as Error).message}`, code(err));
        blocked = true; // aborted: that message is not sent
        break;
      }
    }
    return { sent, blocked, ms: Date.now() - t0 };
  }

  async drain(quiet: number, max = Infinity): Promise<string[]> {
    const tails: string[] = [];
    while (tails.length < max) {
      const m = await this.tryRecv(quiet);
      if (!m) break;
      tails.push(m[m.length - 1]!.toString("latin1"));
    }
    return tails;
  }

  async close(): Promise<void> {
    this.sock.close();
  }

  async stop(): Promise<void> {
    this.sock.close();
  }
}

// ---- libzmq, in a peer.py child -----------------------------------------------------------------

class ZmqDriver implements Driver {
  readonly impl = "libzmq" as const;

  private constructor(
    readonly type: SockType,
    readonly peer: Peer,
  ) {}

  get endpoint(): string {
    return this.peer.endpoint;
  }

  static async open(type: SockType, where: Where, o: SideOptions): Promise<ZmqDriver> {
    const opts: PeerOptions = { type, lazy: true, linger: o.linger ?? 0, ...where };
    if (o.sendHighWaterMark !== undefined) opts.sndhwm = o.sendHighWaterMark;
    if (o.receiveHighWaterMark !== undefined) opts.rcvhwm = o.receiveHighWaterMark;
    if (o.routingId !== undefined) opts.identity = o.routingId;
    if (type === "ROUTER") opts.routerMandatory = o.mandatory ?? false;
    if (o.verbosity === "allSubs") opts.xpubVerbose = true;
    if (o.verbosity === "allSubsUnsubs") opts.xpubVerboser = true;
    if (o.immediate) opts.immediate = true;
    if (o.reconnectInterval !== undefined) opts.reconnectIvl = o.reconnectInterval;
    if (o.connectRoutingId !== undefined) opts.connectRoutingId = o.connectRoutingId;
    return new ZmqDriver(type, await Peer.start(opts));
  }

  private async ok(req: Record<string, unknown>, ms = WAIT): Promise<Record<string, unknown>> {
    const r = await this.peer.request(req, ms + WAIT);
    if (r.error !== undefined) {
      throw new DriverError(`libzmq ${this.type} ${String(req.op)} failed: ${r.error}`, typeof r.code === "string" ? r.code : undefined);
    }
    return r;
  }

  async send(frames: readonly Frame[], ms = WAIT): Promise<void> {
    await this.ok({ op: "send", frames: frames.map((f) => toFrame(f).toString("hex")), timeout: ms }, ms);
  }

  async tryRecv(ms: number): Promise<Buffer[] | undefined> {
    const r = await this.peer.request({ op: "recv", timeout: ms }, ms + WAIT);
    if (r.error === "timeout") return undefined;
    if (r.error !== undefined) throw new DriverError(`libzmq ${this.type} recv failed: ${r.error}`, undefined);
    return (r.frames as string[]).map((h) => Buffer.from(h, "hex"));
  }

  async recv(ms = WAIT): Promise<Buffer[]> {
    const m = await this.tryRecv(ms);
    if (!m) throw new DriverError(`libzmq ${this.type}: no message within ${ms} ms`, "ETIMEDOUT");
    return m;
  }

  async subscribe(topic: Frame): Promise<void> {
    await this.ok({ op: "subscribe", topic: toFrame(topic).toString("hex") });
  }

  async unsubscribe(topic: Frame): Promise<void> {
    await this.ok({ op: "unsubscribe", topic: toFrame(topic).toString("hex") });
  }

  async fill(prefix: readonly Frame[], o: FillOptions): Promise<FillResult> {
    const req = { op: "fill", prefix: prefix.map((f) => toFrame(f).toString("hex")), size: o.size, max: o.max, stall: o.stall };
    const r = await this.ok(req, o.stall + 30_000);
    return { sent: r.sent as number, blocked: r.blocked as boolean, ms: r.ms as number };
  }

  async drain(quiet: number, max?: number): Promise<string[]> {
    const r = await this.ok({ op: "drain", quiet, timeout: 30_000, ...(max !== undefined ? { max } : {}) }, 30_000 + quiet);
    return (r.tails as string[]).map((h) => Buffer.from(h, "hex").toString("latin1"));
  }

  async close(): Promise<void> {
    await this.ok({ op: "close" });
  }

  async stop(): Promise<void> {
    await this.peer.stop();
  }
}
