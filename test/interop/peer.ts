// Drives test/interop/peer.py (a libzmq socket of any type through pyzmq) from tests: start it, wait
// for its endpoint, and script it over JSON lines (send, recv, monitor events, bursts). Every
// child is killed when the test process exits, whatever happens; stop() ends one politely.

import { Buffer } from "node:buffer";
import { spawn, spawnSync, type ChildProcessWithoutNullStreams } from "node:child_process";
import * as net from "node:net";
import { createInterface } from "node:readline";
import { fileURLToPath } from "node:url";
import type { EventType, Socket, SocketEvent } from "../../src/index.js";

/** Debian's python3 has pyzmq (libzmq 4.3.4); the python3 first on PATH may not. */
export const PYTHON = "/usr/bin/python3";
const SCRIPT = fileURLToPath(new URL("./peer.py", import.meta.url));

/** Whether `/usr/bin/python3 -c "import zmq"` works; if not, why. */
export function pyzmqStatus(): { ok: true; version: string } | { ok: false; reason: string } {
  const r = spawnSync(PYTHON, ["-c", "import zmq; print(zmq.zmq_version())"], { encoding: "utf8", timeout: 20_000 });
  if (r.error) return { ok: false, reason: `${PYTHON}: ${r.error.message}` };
  if (r.status !== 0) return { ok: false, reason: `${PYTHON} -c "import zmq" failed: ${r.stderr.trim().split("\n").pop()}` };
  return { ok: true, version: r.stdout.trim() };
}

/**
 * The pyzmq check every interop test file starts with: notes the libzmq version, fails the file
 * under CI=true when pyzmq is missing (CI must never skip interop), and returns the reason to skip
 * tests with, or false when pyzmq is there.
 */
export function requirePyzmq(t: { fail(msg: string): unknown; comment(msg: string): unknown }): string | false {
  const py = pyzmqStatus();
  if (py.ok) {
    t.comment(`libzmq ${py.version} via ${PYTHON} + pyzmq`);
    return false;
  }
  if (process.env.CI === "true") t.fail(`pyzmq missing in CI: apt-get install -y python3-zmq (${py.reason})`);
  else t.comment(`skipping libzmq interop: pyzmq not installed: ${py.reason}`);
  return `pyzmq not installed: ${py.reason}`;
}

/** Per-test resources for interop tests: emq sockets closed and libzmq peers stopped in teardown. */
export function peerScope(t: { teardown(fn: () => unknown): void }) {
  const socks: Socket[] = [];
  const peers: Peer[] = [];
  t.teardown(async () => {
    for (const s of socks) s.close();
    await Promise.all(peers.map((p) => p.stop()));
  });
  return {
    sock<S extends Socket>(s: S): S {
      socks.push(s);
      return s;
    },
    async peer(opts: PeerOptions): Promise<Peer> {
      const p = await Peer.start(opts);
      peers.push(p);
      return p;
    },
  };
}

/** The libzmq socket types peer.py can be. */
export type PeerType = "REQ" | "REP" | "DEALER" | "ROUTER" | "PUB" | "SUB" | "XPUB" | "XSUB" | "PUSH" | "PULL" | "PAIR";

export interface PeerOptions {
  type: PeerType;
  bind?: string;
  connect?: string;
  identity?: string;
  mode?: "echo" | "script";
  hbIvl?: number;
  hbTimeout?: number;
  hbTtl?: number;
  reconnectIvl?: number;
  /** Read the socket only for a pending recv/drain, so unread messages stay in libzmq (backpressure). */
  lazy?: boolean;
  sndhwm?: number;
  rcvhwm?: number;
  /** ZMQ_LINGER ms; peer.py's default is 0. */
  linger?: number;
  /** ZMQ_ROUTER_MANDATORY; peer.py's default is on. */
  routerMandatory?: boolean;
  /** ZMQ_CONNECT_ROUTING_ID for the connect (ROUTER). */
  connectRoutingId?: string;
  xpubVerbose?: boolean;
  xpubVerboser?: boolean;
  immediate?: boolean;
  /** ZMQ_SUBSCRIBE topics set before bind/connect (SUB). */
  subscribe?: string[];
  /** PLAIN server with a ZAP handler (pyzmq ThreadAuthenticator) that allows exactly these "user:pass". */
  plainServer?: boolean;
  zapUsers?: string[];
  /** PLAIN client credentials. */
  plainUsername?: string;
  plainPassword?: string;
}

/** One decision of the peer's ZAP handler. */
export interface ZapDecision {
  allowed: boolean;
  username: string | null;
  text: string;
}

type Reply = Record<string, unknown> & { error?: string };

interface Waiter {
  resolve: (r: Reply) => void;
  reject: (e: Error) => void;
  dead: boolean;
}

const live = new Set<ChildProcessWithoutNullStreams>();
process.on("exit", () => {
  for (const c of live) c.kill("SIGKILL");
});

/** Rejects with `what` if `p` has not settled after `ms`. */
export function within<T>(p: Promise<T>, ms: number, what: string): Promise<T> {
  let timer: ReturnType<typeof setTimeout>;
  const timeout = new Promise<never>((_, reject) => {
    timer = setTimeout(() => reject(new Error(`timed out after ${ms} ms waiting for ${what}`)), ms);
  });
  return Promise.race([p, timeout]).finally(() => clearTimeout(timer));
}

/** Resolves after `ms`; only where time itself is what is tested (idle periods). */
export const sleep = (ms: number): Promise<void> => new Promise((r) => setTimeout(r, ms));

export class Peer {
  readonly child: ChildProcessWithoutNullStreams;
  /** The endpoint bound (real port) or connected to. */
  endpoint = "";
  /** Resolves when the process has exited. */
  readonly exited: Promise<{ code: number | null; signal: NodeJS.Signals | null }>;
  private stderr = "";
  private readonly waiters: Waiter[] = [];
  private onReady: ((line: Reply) => void) | undefined;
  private exitInfo: string | undefined;

  private constructor(opts: PeerOptions) {
    const args = [SCRIPT, "--type", opts.type];
    if (opts.bind !== undefined) args.push("--bind", opts.bind);
    if (opts.connect !== undefined) args.push("--connect", opts.connect);
    if (opts.identity !== undefined) args.push("--identity", opts.identity);
    if (opts.mode !== undefined) args.push("--mode", opts.mode);
    if (opts.hbIvl !== undefined) args.push("--hb-ivl", String(opts.hbIvl));
    if (opts.hbTimeout !== undefined) args.push("--hb-timeout", String(opts.hbTimeout));
    if (opts.hbTtl !== undefined) args.push("--hb-ttl", String(opts.hbTtl));
    if (opts.reconnectIvl !== undefined) args.push("--reconnect-ivl", String(opts.reconnectIvl));
    if (opts.lazy) args.push("--lazy");
    if (opts.sndhwm !== undefined) args.push("--sndhwm", String(opts.sndhwm));
    if (opts.rcvhwm !== undefined) args.push("--rcvhwm", String(opts.rcvhwm));
    if (opts.linger !== undefined) args.push("--linger", String(opts.linger));
    if (opts.routerMandatory !== undefined) args.push("--router-mandatory", opts.routerMandatory ? "1" : "0");
    if (opts.connectRoutingId !== undefined) args.push("--connect-routing-id", opts.connectRoutingId);
    if (opts.xpubVerbose) args.push("--xpub-verbose");
    if (opts.xpubVerboser) args.push("--xpub-verboser");
    if (opts.immediate) args.push("--immediate");
    for (const topic of opts.subscribe ?? []) args.push("--subscribe", topic);
    if (opts.plainServer) args.push("--plain-server");
    for (const u of opts.zapUsers ?? []) args.push("--zap-user", u);
    if (opts.plainUsername !== undefined) args.push("--plain-username", opts.plainUsername);
    if (opts.plainPassword !== undefined) args.push("--plain-password", opts.plainPassword);
    this.child = spawn(PYTHON, ["-u", ...args], { stdio: ["pipe", "pipe", "pipe"] });
    live.add(this.child);
    this.child.stdin.on("error", () => {}); // EPIPE after the peer died: reported through exit
    this.child.stderr.setEncoding("utf8");
    this.child.stderr.on("data", (s: string) => {
      this.stderr = (this.stderr + s).slice(-4000);
    });
    const lines = createInterface({ input: this.child.stdout, crlfDelay: Infinity });
    lines.on("line", (line) => this.onLine(line));
    this.exited = new Promise((resolve) => {
      this.child.once("exit", (code, signal) => {
        live.delete(this.child);
        this.exitInfo = `peer exited (code ${code}, signal ${signal})${this.stderr ? `; stderr: ${this.stderr.trim()}` : ""}`;
        const err = new Error(this.exitInfo);
        this.onReady?.({ error: this.exitInfo });
        for (const w of this.waiters.splice(0)) w.reject(err);
        resolve({ code, signal });
      });
    });
  }

  /** Starts a peer and waits for its first line (the endpoint). */
  static async start(opts: PeerOptions, ms = 15_000): Promise<Peer> {
    const p = new Peer(opts);
    const ready = new Promise<Reply>((resolve) => (p.onReady = resolve));
    let first: Reply;
    try {
      first = await within(ready, ms, `libzmq peer ${JSON.stringify(opts)} to start`);
    } catch (err) {
      p.kill("SIGKILL");
      throw err;
    }
    if (first.error !== undefined || typeof first.endpoint !== "string") {
      p.kill("SIGKILL");
      throw new Error(`libzmq peer ${JSON.stringify(opts)} did not start: ${first.error ?? JSON.stringify(first)}`);
    }
    p.endpoint = first.endpoint;
    return p;
  }

  private onLine(line: string): void {
    let msg: Reply;
    try {
      msg = JSON.parse(line) as Reply;
    } catch {
      msg = { error: `bad line from peer: ${line.slice(0, 200)}` };
    }
    if (this.onReady) {
      const f = this.onReady;
      this.onReady = undefined;
      return f(msg);
    }
    const w = this.waiters.shift();
    if (w && !w.dead) w.resolve(msg);
  }

  /** One request, one reply line (replies come in request order). */
  request(req: Record<string, unknown>, ms = 10_000): Promise<Reply> {
    if (this.exitInfo) return Promise.reject(new Error(this.exitInfo));
    const w: Waiter = { resolve: () => {}, reject: () => {}, dead: false };
    const p = new Promise<Reply>((resolve, reject) => {
      w.resolve = resolve;
      w.reject = reject;
    });
    this.waiters.push(w);
    this.child.stdin.write(JSON.stringify(req) + "\n");
    // On timeout the waiter stays queued (marked dead) so later replies still line up.
    return within(p, ms, `libzmq peer reply to ${String(req.op)}`).catch((err: Error) => {
      w.dead = true;
      throw err;
    });
  }

  private async ok(req: Record<string, unknown>, ms?: number): Promise<Reply> {
    const r = await this.request(req, ms);
    if (r.error !== undefined) throw new Error(`libzmq peer ${String(req.op)} failed: ${r.error} ${JSON.stringify(r)}`);
    return r;
  }

  async send(frames: readonly Buffer[]): Promise<void> {
    await this.ok({ op: "send", frames: frames.map((f) => f.toString("hex")) });
  }

  /** Sends if libzmq will take the message: resolves to the error code (e.g. EAGAIN when the
   * socket has no pipe to queue on, as after a refused handshake) instead of failing. */
  async trySend(frames: readonly Buffer[]): Promise<string | undefined> {
    const r = await this.request({ op: "send", frames: frames.map((f) => f.toString("hex")) });
    return r.error === undefined ? undefined : String(r.code ?? r.error);
  }

  async recv(ms = 5000): Promise<Buffer[]> {
    const r = await this.ok({ op: "recv", timeout: ms }, ms + 10_000);
    return (r.frames as string[]).map((h) => Buffer.from(h, "hex"));
  }

  /** libzmq monitor events since the last call (names like HANDSHAKE_SUCCEEDED, DISCONNECTED). */
  async events(): Promise<string[]> {
    return (await this.ok({ op: "events" })).events as string[];
  }

  /** The ZAP handler's decisions since the last call (--plain-server only). */
  async zap(): Promise<ZapDecision[]> {
    return (await this.ok({ op: "zap" })).zap as ZapDecision[];
  }

  /** The peer sends n counted messages (window unanswered at most) and checks the n replies' order. */
  async burst(n: number, window: number, prefix: Buffer[] = [], ms = 20_000): Promise<void> {
    await this.ok({ op: "burst", n, window, prefix: prefix.map((f) => f.toString("hex")), timeout: ms }, ms + 10_000);
  }

  kill(signal: NodeJS.Signals): void {
    if (this.exitInfo === undefined) this.child.kill(signal);
  }

  /** Ends the peer: closes stdin (it exits on EOF), SIGKILL if it has not gone within 2 s. */
  async stop(): Promise<void> {
    if (this.exitInfo !== undefined) return;
    this.child.kill("SIGCONT"); // in case a test left it stopped
    this.child.stdin.end();
    try {
      await within(this.exited, 2000, "peer exit");
    } catch {
      this.child.kill("SIGKILL");
      await within(this.exited, 5000, "peer exit after SIGKILL");
    }
  }
}

/** A port that was free a moment ago on 127.0.0.1. */
export function freePort(): Promise<number> {
  return new Promise((resolve, reject) => {
    const srv = net.createServer();
    srv.once("error", reject);
    srv.listen(0, "127.0.0.1", () => {
      const port = (srv.address() as net.AddressInfo).port;
      srv.close(() => resolve(port));
    });
  });
}

/**
 * Records a socket's events of the given types (emitter style, so nothing queues elsewhere) and
 * lets a test wait for the next one of a type.
 */
export class EventLog {
  readonly seen: SocketEvent[] = [];
  private readonly waiters: { type: EventType; resolve: (e: SocketEvent) => void }[] = [];

  constructor(sock: Socket, types: EventType[] = ["connect", "accept", "handshake", "disconnect", "connect:retry"]) {
    for (const type of types) {
      sock.events.on(type, (ev) => {
        this.seen.push(ev);
        const i = this.waiters.findIndex((w) => w.type === ev.type);
        if (i >= 0) this.waiters.splice(i, 1)[0]!.resolve(ev);
      });
    }
  }

  count(type: EventType): number {
    return this.seen.filter((e) => e.type === type).length;
  }

  /** The next event of `type` from now on. */
  next(type: EventType, ms: number): Promise<SocketEvent> {
    const w = { type, resolve: (_: SocketEvent) => {} };
    const p = new Promise<SocketEvent>((resolve) => {
      w.resolve = resolve;
      this.waiters.push(w);
    });
    return within(p, ms, `a "${type}" event`).finally(() => {
      const i = this.waiters.indexOf(w);
      if (i >= 0) this.waiters.splice(i, 1);
    });
  }
}
