// One ZMTP connection as a sans-I/O state machine: greeting -> handshake -> traffic.
// Bytes go in through input(); frames go out through `writer` (the transport drains it); what
// happens is reported through the handler callbacks. Time is passed in, and poll(now) does what
// is due (PING, timeouts) and returns when it next wants to be polled. With `authenticate`, the
// handshake pauses at the mechanism's decision point until the application answers through
// authenticated(), which may come later (the session stays synchronous; it just waits).

import { ascii } from "./bytes.js";
import { COMMAND, MORE } from "./frame.js";
import { encodeCommand, encodeError, encodePing, encodePong, parseCommand, parsePing, type Command } from "./command.js";
import { FrameDecoder, type Allocator } from "./decoder.js";
import { ZmtpError, protocolError } from "./errors.js";
import { GREETING_SIZE, checkGreetingPrefix, encodeGreeting, parseGreeting } from "./greeting.js";
import type { Metadata, Property } from "./metadata.js";
import { normalizeVerdict, type AuthRequest, type AuthVerdict, type PeerCredentials } from "./mechanism/auth.js";
import type { Mechanism, MechanismContext, MechanismStep } from "./mechanism/mechanism.js";
import { NullMechanism, peerError } from "./mechanism/null.js";
import { compatible, type SocketType } from "./socket-type.js";
import { FrameWriter } from "./writer.js";

export interface SessionOptions {
  socketType: SocketType;
  /** Sent as the Identity property (REQ, DEALER and ROUTER send it, possibly empty, like libzmq). */
  identity?: Uint8Array | undefined;
  mechanism?: Mechanism | undefined;
  /**
   * Ask the application (handler.authenticate, answered by authenticated()) before admitting the
   * peer. NULL: our READY waits for the peer's READY and an allow. PLAIN server: asked after
   * INITIATE; without it any credentials are admitted. With no handler.authenticate, peers are
   * refused (status 500).
   */
  authenticate?: boolean | undefined;
  /** Largest frame accepted; negative or undefined = unlimited. */
  maxMessageSize?: number | undefined;
  /** Greeting + handshake must complete within this many ms; 0 = no limit. Default 30000. */
  handshakeInterval?: number | undefined;
  /** Send a PING every this many ms after the handshake; 0 = off. */
  heartbeatInterval?: number | undefined;
  /** Close if nothing arrives this long after a PING; default = heartbeatInterval. */
  heartbeatTimeout?: number | undefined;
  /** TTL announced in our PINGs (ms, sent in tenths of a second). */
  heartbeatTimeToLive?: number | undefined;
  /** Extra metadata properties (e.g. X-... application metadata). */
  properties?: readonly Property[] | undefined;
  alloc?: Allocator | undefined;
}

export interface PeerInfo {
  socketType: SocketType;
  /** The peer's Identity property (empty if it sent none). */
  identity: Uint8Array;
  /** The greeting's minor version: 0 for ZMTP 3.0 peers, which want message-form subscriptions. */
  minor: number;
  metadata: Metadata;
}

export interface SessionHandler {
  ready(peer: PeerInfo): void;
  message(frames: Uint8Array[]): void;
  /** Commands after the handshake other than PING/PONG/ERROR (SUBSCRIBE, CANCEL, unknown). */
  command?(cmd: Command): void;
  /** The session failed; it is closed. Whatever is staged in `writer` (e.g. an ERROR) should still be sent. */
  error(err: ZmtpError): void;
  /** The session's next deadline moved earlier: poll() it again. */
  reschedule?(): void;
  /** Decide whether to admit the peer (only with SessionOptions.authenticate); answer with
   * session.authenticated(), now or later. Commands from the peer meanwhile are a protocol error. */
  authenticate?(req: AuthRequest): void;
}

export type SessionState = "idle" | "greeting" | "handshake" | "ready" | "closed";

const EMPTY = new Uint8Array(0);

export class Session {
  readonly writer: FrameWriter;
  state: SessionState = "idle";
  peer: PeerInfo | undefined;

  private readonly opts: SessionOptions;
  private readonly handler: SessionHandler;
  private readonly mechanism: Mechanism;
  private readonly decoder: FrameDecoder;
  private readonly ctx: MechanismContext;
  private readonly greeting = new Uint8Array(GREETING_SIZE);
  private greetingLength = 0;
  private parts: Uint8Array[] = [];
  /** What the peer presented while the application decides; undefined when not waiting. */
  private pendingAuth: PeerCredentials | undefined;

  private startedAt = 0;
  private lastRecv = 0;
  private nextPingAt = Infinity;
  private pingSentAt = -1;
  private peerTtl = 0;
  private peerMinor = 0;
  private now = 0;

  constructor(opts: SessionOptions, handler: SessionHandler) {
    this.opts = opts;
    this.handler = handler;
    this.mechanism = opts.mechanism ?? new NullMechanism();
    this.writer = new FrameWriter(opts.alloc);
    const max = opts.maxMessageSize;
    this.decoder = new FrameDecoder(this.onFrame, {
      maxFrameSize: max === undefined || max < 0 ? undefined : max,
      alloc: opts.alloc,
    });
    const metadata: Property[] = [["Socket-Type", ascii(opts.socketType)]];
    if (opts.socketType === "REQ" || opts.socketType === "DEALER" || opts.socketType === "ROUTER") {
      metadata.push(["Identity", opts.identity ?? EMPTY]);
    }
    if (opts.properties) metadata.push(...opts.properties);
    this.ctx = { metadata, authenticate: opts.authenticate === true, send: (cmd) => this.writer.frame(COMMAND, cmd) };
  }

  /** Sends our greeting (all 64 octets at once) and starts the handshake clock. */
  start(now: number): void {
    if (this.state !== "idle") return;
    this.state = "greeting";
    this.startedAt = this.lastRecv = this.now = now;
    this.writer.raw(encodeGreeting(this.mechanism.name, this.mechanism.asServer));
  }

  /** Feeds bytes received from the peer. */
  input(chunk: Uint8Array, now: number): void {
    if (this.state === "closed" || this.state === "idle") return;
    this.lastRecv = this.now = now;
    if (this.state === "greeting") {
      const take = Math.min(GREETING_SIZE - this.greetingLength, chunk.length);
      this.greeting.set(chunk.subarray(0, take), this.greetingLength);
      this.greetingLength += take;
      const early = checkGreetingPrefix(this.greeting, this.greetingLength);
      if (early) return this.fail(early);
      if (this.greetingLength < GREETING_SIZE) return;
      const g = parseGreeting(this.greeting);
      if (g instanceof ZmtpError) return this.fail(g);
      if (g.mechanism !== this.mechanism.name) {
        return this.fail(
          new ZmtpError("ENOCOMPATPROTO", "mechanism-mismatch", `peer uses mechanism ${g.mechanism}, we use ${this.mechanism.name}`),
        );
      }
      const bad = this.mechanism.checkPeer(g);
      if (bad) return this.fail(bad);
      this.peerMinor = g.minor;
      this.state = "handshake";
      this.mechanism.start(this.ctx);
      chunk = chunk.subarray(take);
      if (chunk.length === 0) return;
    }
    const err = this.decoder.push(chunk);
    if (err) this.fail(err); // fail() is idempotent: a frame handler may have failed first
  }

  /** Sends one multipart message; only valid once ready. */
  send(frames: readonly Uint8Array[], start = 0): void {
    this.writer.message(frames, start);
  }

  sendCommand(name: string, data?: Uint8Array): void {
    this.writer.frame(COMMAND, encodeCommand(name, data));
  }

  /** Does what is due at `now`; returns the next time (ms) it wants to be polled, or Infinity. */
  poll(now: number): number {
    this.now = now;
    if (this.state === "closed" || this.state === "idle") return Infinity;
    if (this.state !== "ready") {
      const hi = this.opts.handshakeInterval ?? 30_000;
      if (hi <= 0) return Infinity;
      const deadline = this.startedAt + hi;
      if (now >= deadline) {
        this.fail(new ZmtpError("ETIMEDOUT", "handshake-timeout", `handshake not completed within ${hi} ms`, true));
        return Infinity;
      }
      return deadline;
    }
    let next = Infinity;
    const ivl = this.opts.heartbeatInterval ?? 0;
    if (ivl > 0) {
      if (now >= this.nextPingAt) {
        const ttl = this.opts.heartbeatTimeToLive ?? 0;
        this.writer.frame(COMMAND, encodePing(ttl / 100));
        if (this.pingSentAt < 0 || this.lastRecv >= this.pingSentAt) this.pingSentAt = now;
        this.nextPingAt = now + ivl;
      }
      if (this.pingSentAt >= 0 && this.lastRecv < this.pingSentAt) {
        const timeout = this.opts.heartbeatTimeout || ivl;
        const deadline = this.pingSentAt + timeout;
        if (now >= deadline) {
          this.fail(new ZmtpError("ETIMEDOUT", "heartbeat-timeout", `no traffic from peer for ${timeout} ms after PING`, true));
          return Infinity;
        }
        next = Math.min(next, deadline);
      }
      next = Math.min(next, this.nextPingAt);
    }
    if (this.peerTtl > 0) {
      const deadline = this.lastRecv + this.peerTtl;
      if (now >= deadline) {
        this.fail(new ZmtpError("ETIMEDOUT", "heartbeat-timeout", `peer's heartbeat TTL of ${this.peerTtl} ms expired`, true));
        return Infinity;
      }
      next = Math.min(next, deadline);
    }
    return next;
  }

  /** Whether the handshake is paused for the application's verdict (handler.authenticate). */
  get authenticating(): boolean {
    return this.pendingAuth !== undefined && this.state === "handshake";
  }

  /**
   * The application's answer to handler.authenticate. Allowed: the handshake goes on (and may
   * complete at once). Refused: ERROR "<status>" is staged and the session fails with EACCES.
   * Ignored if no question is pending, e.g. because the session closed meanwhile.
   */
  authenticated(verdict: AuthVerdict): void {
    const pending = this.pendingAuth;
    if (pending === undefined || this.state !== "handshake") return;
    this.pendingAuth = undefined;
    const v = normalizeVerdict(verdict);
    const m = this.mechanism;
    if (!m.onVerdict) {
      return this.fail(protocolError("unexpected-command", `mechanism ${m.name} cannot take an authentication verdict`));
    }
    this.step(m.onVerdict(v, pending, this.ctx));
  }

  /** Closes the session locally; later input is ignored. */
  close(): void {
    this.state = "closed";
    this.decoder.stop();
  }

  private readonly onFrame = (flags: number, body: Uint8Array): void => {
    if (flags & COMMAND) return this.onCommandFrame(body);
    if (this.state !== "ready") {
      return this.fail(protocolError("message-before-handshake", "peer sent a message before the handshake completed"));
    }
    if (flags & MORE) {
      this.parts.push(body);
      return;
    }
    let frames: Uint8Array[];
    if (this.parts.length === 0) {
      frames = [body];
    } else {
      frames = this.parts;
      frames.push(body);
      this.parts = [];
    }
    this.handler.message(frames);
  };

  private onCommandFrame(body: Uint8Array): void {
    const cmd = this.state === "handshake" && this.mechanism.parseCommand ? this.mechanism.parseCommand(body) : parseCommand(body);
    if (cmd instanceof ZmtpError) return this.fail(cmd);
    if (this.state === "handshake") {
      if (this.pendingAuth !== undefined) {
        // The peer must wait for our answer; ERROR is its way of giving up, anything else a violation.
        if (cmd.name === "ERROR") return this.fail(peerError(cmd.data));
        return this.fail(protocolError("unexpected-command", `peer sent ${cmd.name} while its authentication was pending`));
      }
      return this.step(this.mechanism.onCommand(cmd, this.ctx));
    }
    switch (cmd.name) {
      case "PING": {
        const ping = parsePing(cmd.data);
        if (ping instanceof ZmtpError) return this.fail(ping);
        this.writer.frame(COMMAND, encodePong(ping.context));
        const ttl = ping.ttlDeciseconds * 100;
        if (ttl > 0 && this.peerTtl !== ttl) {
          this.peerTtl = ttl;
          this.handler.reschedule?.();
        }
        return;
      }
      case "PONG":
        return; // any frame already counted as life
      case "ERROR":
        return this.fail(peerError(cmd.data));
      default:
        // SUBSCRIBE/CANCEL go to the socket; anything else is ignored, as libzmq does.
        this.handler.command?.(cmd);
    }
  }

  private step(step: MechanismStep): void {
    if (!step) return;
    if ("error" in step) return this.fail(step.error);
    if ("auth" in step) return this.askApplication(step.auth);
    return this.handshakeDone(step.done);
  }

  /** The mechanism wants a verdict: check the peer's metadata first (no point asking about a
   * peer we would refuse anyway), then ask. The answer may come back before this returns. */
  private askApplication(creds: PeerCredentials): void {
    const peerType = this.peerType(creds.metadata);
    if (peerType === undefined) return;
    this.pendingAuth = creds;
    const req: AuthRequest = {
      mechanism: this.mechanism.name,
      identity: creds.metadata.get("identity") ?? EMPTY,
      socketType: peerType,
      metadata: creds.metadata,
      ...(creds.username !== undefined ? { username: creds.username } : {}),
      ...(creds.password !== undefined ? { password: creds.password } : {}),
    };
    if (this.handler.authenticate) this.handler.authenticate(req);
    else this.authenticated({ allow: false, status: 500, reason: "nobody to ask (no authenticate handler)" });
  }

  /** The peer's Socket-Type if present and compatible; otherwise refuses the peer (undefined). */
  private peerType(meta: Metadata): string | undefined {
    const typeBytes = meta.get("socket-type");
    if (!typeBytes) {
      this.refuse(protocolError("socket-type-missing", "peer sent no Socket-Type"), "Missing Socket-Type");
      return undefined;
    }
    const peerType = new TextDecoder("latin1").decode(typeBytes);
    if (!compatible(this.opts.socketType, peerType)) {
      this.refuse(
        new ZmtpError("ENOCOMPATPROTO", "socket-type-mismatch", `${this.opts.socketType} cannot talk to ${peerType}`),
        "Invalid socket type",
      );
      return undefined;
    }
    return peerType;
  }

  private handshakeDone(meta: Metadata): void {
    const peerType = this.peerType(meta);
    if (peerType === undefined) return;
    this.state = "ready";
    this.peer = {
      socketType: peerType as SocketType,
      identity: meta.get("identity") ?? EMPTY,
      minor: this.peerMinor,
      metadata: meta,
    };
    const ivl = this.opts.heartbeatInterval ?? 0;
    if (ivl > 0) this.nextPingAt = this.now + ivl;
    this.handler.ready(this.peer);
    this.handler.reschedule?.();
  }

  /** Tells the peer why with an ERROR command, then fails. */
  private refuse(err: ZmtpError, reason: string): void {
    this.writer.frame(COMMAND, encodeError(reason));
    this.fail(err);
  }

  private fail(err: ZmtpError): void {
    if (this.state === "closed") return;
    this.close();
    this.handler.error(err);
  }
}
