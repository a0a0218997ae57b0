// One network connection running one ZMTP session. This is where bytes meet the wire: chunks from
// the socket go into the session, and the session's staged output is flushed once per turn of the
// event loop (or as soon as 64 KiB are staged), so many small messages cost one write.

import { Buffer } from "node:buffer";
import type { Socket as NetSocket } from "node:net";
import { setImmediate } from "node:timers";
import {
  Session,
  ZmtpError,
  type AuthRequest,
  type AuthVerdict,
  type Command,
  type PeerInfo,
  type SessionOptions,
} from "../zmtp/index.js";
import type { Link } from "./link.js";

/** Flush at once when this much is staged, rather than waiting for the end of the turn. */
const FLUSH_THRESHOLD = 64 * 1024;

const now = (): number => performance.now();
const allocBuffer = (n: number): Uint8Array => Buffer.allocUnsafe(n);

/** What a link reports to its owner (the socket). Shared by every transport. */
export interface ConnectionHandler {
  ready(conn: Link, peer: PeerInfo): void;
  message(conn: Link, frames: Buffer[]): void;
  command(conn: Link, cmd: Command): void;
  /** Room to write again after `blocked` was set. */
  drain(conn: Link): void;
  /** The connection is gone. `error` says why (undefined: closed cleanly by either side). */
  closed(conn: Link, error: ZmtpError | Error | undefined): void;
  /** Admit this peer? Asked only for sessions started with `authenticate`. A hook that throws or
   * rejects refuses the peer with status 500; a missing hook refuses every peer likewise. */
  authenticate?(conn: Link, req: AuthRequest): AuthVerdict | Promise<AuthVerdict>;
}

export class Connection implements Link {
  readonly session: Session;
  readonly address: string;
  /** The OS write buffer is full: stop staging new messages until drain(). */
  blocked = false;
  /** Whatever the owner wants to find again from this connection (the socket's pipe). */
  owner: unknown;
  /** The session failed or the socket closed. */
  done = false;

  private readonly sock: NetSocket;
  private readonly handler: ConnectionHandler;
  private flushScheduled = false;
  private timer: ReturnType<typeof setTimeout> | undefined;
  private timerAt = Infinity;
  private error: ZmtpError | Error | undefined;
  private paused = false;

  constructor(sock: NetSocket, address: string, options: SessionOptions, handler: ConnectionHandler) {
    this.sock = sock;
    this.address = address;
    this.handler = handler;
    this.session = new Session({ ...options, alloc: allocBuffer }, {
      ready: (peer) => handler.ready(this, peer),
      message: (frames) => handler.message(this, frames as Buffer[]),
      command: (cmd) => handler.command(this, cmd),
      error: (err) => this.fail(err),
      reschedule: () => this.arm(),
      authenticate: (req) => this.authenticate(req),
    });
    this.session.writer.onPending = this.scheduleFlush;
    if ("setNoDelay" in sock && typeof sock.setNoDelay === "function") sock.setNoDelay(true);
    sock.on("data", (chunk: Buffer) => this.session.input(chunk, now()));
    sock.on("drain", () => {
      this.blocked = false;
      if (!this.done) this.handler.drain(this);
    });
    sock.on("error", (err) => {
      if (!this.error) this.error = err;
    });
    sock.on("close", () => this.onClose());
    this.session.start(now());
    this.arm();
  }

  get ready(): boolean {
    return this.session.state === "ready" && !this.done;
  }

  get peer(): PeerInfo | undefined {
    return this.session.peer;
  }

  get closing(): boolean {
    return this.done || this.session.state === "closed";
  }

  get remoteAddress(): string | undefined {
    return this.sock.remoteAddress;
  }

  /** Stages a message encoded once for many connections (PUB fan-out). */
  readonly sendEncoded = (bytes: Uint8Array): void => {
    const writer = this.session.writer;
    writer.encoded(bytes);
    if (writer.pending >= FLUSH_THRESHOLD) this.flush();
  };

  /** Stages one message; flushes early if a lot is staged. */
  send(frames: readonly Uint8Array[], start = 0): void {
    const writer = this.session.writer;
    writer.message(frames, start);
    if (writer.pending >= FLUSH_THRESHOLD) this.flush();
  }

  sendCommand(name: string, data?: Uint8Array): void {
    this.session.sendCommand(name, data);
  }

  /** Stops reading from the peer (receive queue full); TCP then pushes back on the sender. */
  pause(): void {
    if (!this.paused) {
      this.paused = true;
      this.sock.pause();
    }
  }

  resume(): void {
    if (this.paused) {
      this.paused = false;
      this.sock.resume();
    }
  }

  /** Bytes staged or in the OS socket buffer not yet handed to the kernel. */
  get unsent(): number {
    return this.session.writer.pending + (this.sock.writableLength ?? 0);
  }

  /** Flushes what is staged, then closes our side once everything has been written. */
  end(): void {
    if (this.done) return;
    this.flush();
    this.done = true;
    this.session.close();
    this.sock.end();
  }

  /** Closes at once, dropping anything not yet written. */
  destroy(): void {
    this.done = true;
    this.session.close();
    this.sock.destroy();
  }

  flush = (): void => {
    this.flushScheduled = false;
    const chunks = this.session.writer.take();
    if (chunks.length === 0 || this.sock.destroyed) return;
    let ok: boolean;
    if (chunks.length === 1) {
      ok = this.sock.write(chunks[0]!);
    } else {
      this.sock.cork();
      ok = true;
      for (const c of chunks) ok = this.sock.write(c);
      this.sock.uncork();
    }
    if (!ok) this.blocked = true;
  };

  private readonly scheduleFlush = (): void => {
    if (!this.flushScheduled) {
      this.flushScheduled = true;
      setImmediate(this.flush);
    }
  };

  /** Keeps one timer at the session's next deadline (handshake, heartbeat). */
  private arm(): void {
    if (this.done) return;
    const t = now();
    const next = this.session.poll(t);
    if (next === this.timerAt) return;
    if (this.timer) clearTimeout(this.timer);
    this.timer = undefined;
    this.timerAt = next;
    if (next === Infinity) return;
    this.timer = setTimeout(this.onTimer, Math.max(0, Math.ceil(next - t)));
    this.timer.unref?.();
  }

  private readonly onTimer = (): void => {
    this.timer = undefined;
    this.timerAt = Infinity;
    this.arm();
  };

  /** Puts the session's question to the owner and hands the answer back, now or when it settles. */
  private authenticate(req: AuthRequest): void {
    const settle = (v: AuthVerdict): void => {
      if (this.done) return; // closed meanwhile; the session would ignore it anyway
      this.session.authenticated(v);
      this.arm(); // staged READY/ERROR is flushed through writer.onPending
    };
    const failed = (err: unknown): void =>
      settle({
        allow: false,
        status: 500,
        reason: `the authenticate hook failed: ${err instanceof Error ? err.message : String(err)}`,
      });
    if (!this.handler.authenticate) return failed(new Error("no authenticate hook"));
    let v: AuthVerdict | Promise<AuthVerdict>;
    try {
      v = this.handler.authenticate(this, req);
    } catch (err) {
      return failed(err);
    }
    if (v !== null && typeof v === "object" && typeof (v as { then?: unknown }).then === "function") {
      (v as Promise<AuthVerdict>).then(settle, failed);
    } else {
      settle(v as AuthVerdict);
    }
  }

  private fail(err: ZmtpError): void {
    if (!this.error) this.error = err;
    // Send what the session staged for the peer (an ERROR command), then close.
    this.flush();
    this.done = true;
    if (err.code === "ETIMEDOUT") {
      // The peer is silent or frozen: waiting for its FIN would only delay the reconnect.
      this.sock.destroy();
      return;
    }
    this.sock.end();
    // A peer that never reads must not keep us half-open.
    setTimeout(() => this.sock.destroy(), 1000).unref?.();
  }

  private onClose(): void {
    this.done = true;
    this.session.close();
    if (this.timer) clearTimeout(this.timer);
    this.timer = undefined;
    this.handler.closed(this, this.error);
  }
}
