// A scripted raw ZMTP peer over node:net, for tests that must control (or break) the bytes our
// sockets see: a listener that counts and hands out accepted connections, a dialer, and a
// connection wrapper that reads exact byte counts and whole frames with bounded waits.
// Encoders come from src/zmtp for convenience; tests assert raw bytes where it matters.

import { Buffer } from "node:buffer";
import * as net from "node:net";
import type { EventType, Socket, SocketEvent } from "../../src/index.js";
import {
  COMMAND,
  LONG,
  MORE,
  encodeCommand,
  encodeFrame,
  encodeGreeting,
  encodeMetadata,
  type Property,
} from "../../src/zmtp/index.js";

export const DEFAULT_WAIT = 3000;

/** Resolves after `ms`; only for negative assertions ("nothing happens for a while"). */
export const sleep = (ms: number): Promise<void> => new Promise((r) => setTimeout(r, ms));

/** Rejects with `what` if `p` has not settled after `ms`. */
export function within<T>(p: Promise<T>, ms: number, what: string): Promise<T> {
  let timer: ReturnType<typeof setTimeout>;
  const timeout = new Promise<never>((_, reject) => {
    timer = setTimeout(() => reject(new Error(`timed out after ${ms} ms waiting for ${what}`)), ms);
  });
  return Promise.race([p, timeout]).finally(() => clearTimeout(timer));
}

/** Polls `cond` every few ms until it is true; for states that raise no event. */
export async function until(cond: () => boolean, what: string, ms = DEFAULT_WAIT): Promise<void> {
  const end = Date.now() + ms;
  while (!cond()) {
    if (Date.now() > end) throw new Error(`timed out after ${ms} ms waiting for ${what}`);
    await sleep(5);
  }
}

/** Whether `p` is still pending once pending I/O callbacks of this turn have run. */
export async function isPending(p: Promise<unknown>): Promise<boolean> {
  let settled = false;
  p.then(
    () => (settled = true),
    () => (settled = true),
  );
  await new Promise((r) => setImmediate(r));
  return !settled;
}

// ---- byte builders ----------------------------------------------------------------------------

export const greeting = (minor = 1, mechanism = "NULL"): Buffer => Buffer.from(encodeGreeting(mechanism, false, minor));

export function readyCommand(socketType: string, identity?: string | Buffer, extra: Property[] = []): Buffer {
  const props: Property[] = [["Socket-Type", Buffer.from(socketType)]];
  if (identity !== undefined) props.push(["Identity", Buffer.from(identity)]);
  props.push(...extra);
  return Buffer.from(encodeFrame(COMMAND, encodeCommand("READY", encodeMetadata(props))));
}

export const commandFrame = (name: string, data: Uint8Array = new Uint8Array(0)): Buffer =>
  Buffer.from(encodeFrame(COMMAND, encodeCommand(name, data)));

/** A whole message as frames on the wire. */
export function messageBytes(frames: readonly (string | Uint8Array)[]): Buffer {
  return Buffer.concat(
    frames.map((f, i) => {
      const body = typeof f === "string" ? Buffer.from(f) : f;
      return Buffer.from(encodeFrame(i < frames.length - 1 ? MORE : 0, body));
    }),
  );
}

export interface Frame {
  flags: number;
  body: Buffer;
}

// ---- connections ------------------------------------------------------------------------------

export class FakeConn {
  readonly sock: net.Socket;
  /** Every byte received so far (not consumed by reads). */
  private buf: Buffer = Buffer.alloc(0);
  /** Total bytes ever received. */
  received = 0;
  ended = false;
  closed = false;
  private readonly closedPromise: Promise<void>;
  private readonly endedPromise: Promise<void>;
  private wake: (() => void) | undefined;

  constructor(sock: net.Socket) {
    this.sock = sock;
    sock.setNoDelay(true);
    sock.on("data", (chunk: Buffer) => {
      this.buf = this.buf.length === 0 ? chunk : Buffer.concat([this.buf, chunk]);
      this.received += chunk.length;
      this.poke();
    });
    sock.on("error", () => {});
    this.endedPromise = new Promise((r) =>
      sock.once("end", () => {
        this.ended = true;
        this.poke();
        r();
      }),
    );
    this.closedPromise = new Promise((r) =>
      sock.once("close", () => {
        this.closed = true;
        this.poke();
        r();
      }),
    );
  }

  private poke(): void {
    const w = this.wake;
    this.wake = undefined;
    w?.();
  }

  private async waitFor(cond: () => boolean, what: string, ms: number): Promise<void> {
    const end = Date.now() + ms;
    while (!cond()) {
      if (this.closed || this.ended) throw new Error(`connection ended while waiting for ${what}`);
      const left = end - Date.now();
      if (left <= 0) throw new Error(`timed out after ${ms} ms waiting for ${what}`);
      await new Promise<void>((resolve) => {
        const timer = setTimeout(resolve, left);
        this.wake = () => {
          clearTimeout(timer);
          resolve();
        };
      });
    }
  }

  /** Bytes received and not yet read. */
  get available(): number {
    return this.buf.length;
  }

  /** Waits until `total` bytes have been received in all (counting bytes already read). */
  async waitReceived(total: number, ms = DEFAULT_WAIT): Promise<void> {
    await this.waitFor(() => this.received >= total, `${total} bytes received in all`, ms);
  }

  /** Reads exactly n bytes. */
  async read(n: number, ms = DEFAULT_WAIT): Promise<Buffer> {
    await this.waitFor(() => this.buf.length >= n, `${n} bytes`, ms);
    const out = this.buf.subarray(0, n);
    this.buf = this.buf.subarray(n);
    return Buffer.from(out);
  }

  async readFrame(ms = DEFAULT_WAIT): Promise<Frame> {
    const [flags] = await this.read(1, ms);
    let size: number;
    if (flags! & LONG) size = Number((await this.read(8, ms)).readBigUInt64BE(0));
    else size = (await this.read(1, ms))[0]!;
    return { flags: flags!, body: await this.read(size, ms) };
  }

  /** Reads the next message, skipping commands (or handing them to `onCommand`). */
  async readMessage(ms = DEFAULT_WAIT, onCommand?: (f: Frame) => void): Promise<Buffer[]> {
    const frames: Buffer[] = [];
    for (;;) {
      const f = await this.readFrame(ms);
      if (f.flags & COMMAND) {
        onCommand?.(f);
        continue;
      }
      frames.push(f.body);
      if (!(f.flags & MORE)) return frames;
    }
  }

  /** Reads the peer's 64-octet greeting and its READY command; returns the READY frame bytes. */
  async readHandshake(ms = DEFAULT_WAIT): Promise<{ greeting: Buffer; ready: Frame }> {
    const g = await this.read(64, ms);
    const ready = await this.readFrame(ms);
    return { greeting: g, ready };
  }

  /** Plays a whole NULL handshake as `socketType`: sends greeting + READY, reads the peer's. */
  async handshake(socketType: string, opts: { identity?: string | Buffer; minor?: number; ms?: number } = {}) {
    this.write(Buffer.concat([greeting(opts.minor ?? 1), readyCommand(socketType, opts.identity)]));
    return this.readHandshake(opts.ms);
  }

  write(bytes: Uint8Array): void {
    if (!this.sock.destroyed) this.sock.write(bytes);
  }

  send(frames: readonly (string | Uint8Array)[]): void {
    this.write(messageBytes(frames));
  }

  /** Resolves when the other side has closed (FIN received or socket closed). */
  waitEnd(ms = DEFAULT_WAIT): Promise<void> {
    return within(Promise.race([this.endedPromise, this.closedPromise]), ms, "the connection to end");
  }

  waitClosed(ms = DEFAULT_WAIT): Promise<void> {
    return within(this.closedPromise, ms, "the connection to close");
  }

  destroy(): void {
    this.sock.destroy();
  }
}

/** A raw listener on 127.0.0.1:0 that records every accepted connection. */
export class FakeListener {
  readonly conns: FakeConn[] = [];
  private readonly server: net.Server;
  private waiters: (() => void)[] = [];
  port = 0;

  private constructor() {
    this.server = net.createServer((sock) => {
      this.conns.push(new FakeConn(sock));
      const ws = this.waiters;
      this.waiters = [];
      for (const w of ws) w();
    });
  }

  static async create(): Promise<FakeListener> {
    const l = new FakeListener();
    await new Promise<void>((resolve, reject) => {
      l.server.once("error", reject);
      l.server.listen({ host: "127.0.0.1", port: 0 }, resolve);
    });
    l.port = (l.server.address() as net.AddressInfo).port;
    return l;
  }

  get address(): string {
    return `tcp://127.0.0.1:${this.port}`;
  }

  get count(): number {
    return this.conns.length;
  }

  /** Waits for the n-th accepted connection (1-based). */
  async connection(n = 1, ms = DEFAULT_WAIT): Promise<FakeConn> {
    const end = Date.now() + ms;
    while (this.conns.length < n) {
      const left = end - Date.now();
      if (left <= 0) throw new Error(`timed out after ${ms} ms waiting for connection #${n} (have ${this.conns.length})`);
      await new Promise<void>((resolve) => {
        const timer = setTimeout(resolve, left);
        this.waiters.push(() => {
          clearTimeout(timer);
          resolve();
        });
      });
    }
    return this.conns[n - 1]!;
  }

  async close(): Promise<void> {
    for (const c of this.conns) c.destroy();
    await new Promise<void>((resolve) => this.server.close(() => resolve()));
  }
}

/** Dials one of our bound sockets (tcp://127.0.0.1:port) as a raw peer. */
export function dialFake(address: string, ms = DEFAULT_WAIT): Promise<FakeConn> {
  const m = /^tcp:\/\/([^:]+):(\d+)$/.exec(address);
  if (!m) throw new Error(`dialFake needs a tcp://host:port address, got ${address}`);
  return within(
    new Promise<FakeConn>((resolve, reject) => {
      const sock = net.createConnection({ host: m[1]!, port: Number(m[2]) });
      sock.once("error", reject);
      sock.once("connect", () => {
        sock.off("error", reject);
        resolve(new FakeConn(sock));
      });
    }),
    ms,
    `a connection to ${address}`,
  );
}

/** A tcp port on 127.0.0.1 that nothing listens on (it was free a moment ago). */
export async function closedPort(): Promise<number> {
  const server = net.createServer();
  await new Promise<void>((resolve) => server.listen({ host: "127.0.0.1", port: 0 }, resolve));
  const port = (server.address() as net.AddressInfo).port;
  await new Promise<void>((resolve) => server.close(() => resolve()));
  return port;
}

// ---- test scaffolding -------------------------------------------------------------------------

interface Teardown {
  teardown(fn: () => unknown): void;
}

/** Sockets, fake listeners and fake connections made by a test, all closed in its teardown. */
export function scope(t: Teardown) {
  const sockets: Socket[] = [];
  const listeners: FakeListener[] = [];
  const conns: FakeConn[] = [];
  t.teardown(async () => {
    for (const s of sockets) {
      s.linger = 0;
      s.close();
    }
    for (const c of conns) c.destroy();
    for (const l of listeners) await l.close();
  });
  return {
    sock<S extends Socket>(s: S): S {
      sockets.push(s);
      return s;
    },
    async listener(): Promise<FakeListener> {
      const l = await FakeListener.create();
      listeners.push(l);
      return l;
    },
    async dial(address: string): Promise<FakeConn> {
      const c = await dialFake(address);
      conns.push(c);
      return c;
    },
  };
}

const EVENT_TYPES: EventType[] = [
  "accept", "bind", "connect", "connect:delay", "connect:retry", "disconnect", "handshake",
  "handshake:error:protocol", "handshake:error:auth", "handshake:error:other", "close", "end",
];

/** Records a socket's events (emitter style) and lets a test await the n-th event of a type. */
export function watch(s: Socket) {
  const seen: SocketEvent[] = [];
  const waiters: { type: EventType; n: number; resolve: (e: SocketEvent) => void }[] = [];
  const count = (type: EventType) => seen.filter((e) => e.type === type).length;
  for (const type of EVENT_TYPES) {
    s.events.on(type, (e) => {
      seen.push(e);
      for (const w of [...waiters]) {
        if (w.type === e.type && count(w.type) >= w.n) {
          waiters.splice(waiters.indexOf(w), 1);
          w.resolve(e);
        }
      }
    });
  }
  return {
    seen,
    count,
    types: () => seen.map((e) => e.type),
    /** The n-th event of this type (1-based), already seen or still to come. */
    wait(type: EventType, n = 1, ms = DEFAULT_WAIT): Promise<SocketEvent> {
      const have = seen.filter((e) => e.type === type);
      if (have.length >= n) return Promise.resolve(have[n - 1]!);
      return within(new Promise<SocketEvent>((resolve) => waiters.push({ type, n, resolve })), ms, `event ${type} #${n}`);
    },
  };
}
