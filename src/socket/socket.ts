// The Socket base: everything socket types share. Options as properties, bind/connect, one pipe per
// peer, reconnect with backoff, send/receive promises (several may be pending; they are served in
// order), async iteration, linger on close, and the events observer. A concrete type only says how
// outgoing messages pick a pipe (_xsend) and how incoming ones are presented (_xrecv).

import { Buffer } from "node:buffer";
import type { Socket as NetSocket } from "node:net";
import { Connection, type ConnectionHandler } from "../transport/connection.js";
import { EndpointError, parseEndpoint } from "../transport/endpoint.js";
import { dialInproc, listenInproc, whenInprocBound, type InprocOffer } from "../transport/inproc.js";
import type { Link } from "../transport/link.js";
import { dial, listen, type Listener } from "../transport/net.js";
import { ZmtpError, type Command, type PeerInfo, type SessionOptions, type SocketType } from "../zmtp/index.js";
import { SocketError, closedError } from "./errors.js";
import { toFrame, toFrames, type Message } from "./message.js";
import { Observer, type EventType, type SocketEvent } from "./observer.js";
import { DEFAULTS, reconnectDelay } from "./options.js";
import { sendOutgoing, type Outgoing } from "./outgoing.js";
import { Pipe } from "./pipe.js";
import { Queue } from "./queue.js";
import { authRequest, checkSecurity, sessionSecurity, type Authenticator } from "./security.js";

interface SendWaiter {
  msg: Buffer[];
  resolve: () => void;
  reject: (e: Error) => void;
  timer: ReturnType<typeof setTimeout> | undefined;
  cleanup: (() => void) | undefined;
}

interface ReceiveWaiter {
  resolve: (m: Buffer[]) => void;
  reject: (e: Error) => void;
  timer: ReturnType<typeof setTimeout> | undefined;
  cleanup: (() => void) | undefined;
}

export interface WaitOptions {
  /** Abort the wait; the promise rejects with code ABORT_ERR. */
  signal?: AbortSignal;
}

const RESOLVED: Promise<void> = Promise.resolve();

export abstract class Socket implements AsyncIterable<Buffer[]> {
  sendHighWaterMark = DEFAULTS.sendHighWaterMark;
  receiveHighWaterMark = DEFAULTS.receiveHighWaterMark;
  sendTimeout = DEFAULTS.sendTimeout;
  receiveTimeout = DEFAULTS.receiveTimeout;
  linger = DEFAULTS.linger;
  reconnectInterval = DEFAULTS.reconnectInterval;
  reconnectMaxInterval = DEFAULTS.reconnectMaxInterval;
  connectTimeout = DEFAULTS.connectTimeout;
  handshakeInterval = DEFAULTS.handshakeInterval;
  heartbeatInterval = DEFAULTS.heartbeatInterval;
  heartbeatTimeout = DEFAULTS.heartbeatTimeout;
  heartbeatTimeToLive = DEFAULTS.heartbeatTimeToLive;
  maxMessageSize = DEFAULTS.maxMessageSize;
  immediate = DEFAULTS.immediate;
  backlog = DEFAULTS.backlog;
  plainServer = DEFAULTS.plainServer;
  plainUsername: string | undefined = undefined;
  plainPassword: string | undefined = undefined;
  authenticate: Authenticator | undefined = undefined;

  readonly type: SocketType;
  /** Our identity as ROUTER peers see it. Only types that have one (DEALER, ROUTER) make it an option. */
  declare routingId?: string | Buffer | undefined;

  protected readonly _pipes = new Set<Pipe>();
  private readonly _connects = new Map<string, Pipe>();
  private readonly _listeners = new Map<string, Listener>();
  private readonly _inReady = new Queue<Pipe>();
  private readonly _recvWaiters = new Queue<ReceiveWaiter>();
  private readonly _sendWaiters = new Queue<SendWaiter>();
  private _observer: Observer | undefined;
  /** What the transport calls back; kept off the public surface of the socket. */
  private readonly _handler: ConnectionHandler = {
    ready: (c, p) => this._onReady(c, p),
    message: (c, f) => this._onMessage(c, f),
    command: (c, cmd) => this._onCommand(c, cmd),
    drain: (c) => this._onDrain(c),
    closed: (c, e) => this._onClosed(c, e),
    authenticate: (c, req) => this.authenticate ? this.authenticate(authRequest(c, req)) : false,
  };
  private _closed = false;
  private _lastEndpoint: string | undefined;
  private _pumping = false;

  protected constructor(type: SocketType) {
    this.type = type;
  }

  /** Applies constructor options; called by each concrete class once its own fields exist. */
  protected _applyOptions(options: object | undefined): void {
    if (!options) return;
    for (const [key, value] of Object.entries(options)) {
      if (value === undefined) continue;
      if (key.startsWith("_") || !Object.hasOwn(this, key) || typeof (this as Record<string, unknown>)[key] === "function") {
        throw new SocketError("EINVAL", `unknown option ${JSON.stringify(key)} for ${this.type} socket`);
      }
      (this as Record<string, unknown>)[key] = value;
    }
  }

  // ---- strategy hooks -------------------------------------------------------------------------

  /** Queues or writes one outgoing message. true: done (sent, queued or dropped by policy);
   * false: no room, wait. May throw a SocketError (e.g. EHOSTUNREACH). */
  protected abstract _xsend(msg: Buffer[]): boolean;

  /** A pipe was created (connect() or an accepted connection), before its handshake. */
  protected _pipeCreated(_pipe: Pipe): void {}

  /** Throws EINVAL for option values that cannot work; called by bind() and connect(). */
  protected _checkOptions(): void {
    checkSecurity(this);
    if (this.routingId === undefined) return;
    const id = toFrame(this.routingId);
    if (id.length === 0 || id.length > 255 || id[0] === 0) {
      throw new SocketError("EINVAL", "routingId must be 1-255 bytes and must not start with a zero byte");
    }
  }

  /** The pipe's handshake completed (again, after a reconnect). Return false, or a reason, to
   * refuse it: the connection is closed and the reason reported with its `disconnect` event. */
  protected _pipeAttached(_pipe: Pipe): boolean | string {
    return true;
  }

  /** The pipe's connection is gone (it may come back if the pipe is connect-side). */
  protected _pipeDetached(_pipe: Pipe): void {}

  /** The pipe is gone for good. */
  protected _pipeRemoved(_pipe: Pipe): void {}

  /** Turns an incoming message into what receive() returns (ROUTER prefixes the routing id). */
  protected _xrecv(_pipe: Pipe, frames: Buffer[]): Buffer[] | undefined {
    return frames;
  }

  /** Commands after the handshake (SUBSCRIBE/CANCEL for pub/sub types); others are ignored. */
  protected _xcommand(_pipe: Pipe, _cmd: Command): void {}

  /** Options for a new connection's session. */
  protected _sessionOptions(pipe?: Pipe): SessionOptions {
    return {
      ...sessionSecurity(this, pipe !== undefined && !pipe.connectSide),
      socketType: this.type,
      maxMessageSize: this.maxMessageSize,
      handshakeInterval: this.handshakeInterval,
      heartbeatInterval: this.heartbeatInterval,
      heartbeatTimeout: this.heartbeatTimeout,
      heartbeatTimeToLive: this.heartbeatTimeToLive,
      identity: this.routingId === undefined ? undefined : toFrame(this.routingId),
    };
  }

  // ---- helpers for strategies -----------------------------------------------------------------

  /** `conflate` (an option of DEALER, PUSH, PULL, PUB and SUB): each pipe holds only its newest
   * message each way, so there is always room and nothing waits. */
  protected get _conflating(): boolean {
    return (this as { conflate?: unknown }).conflate === true;
  }

  /** Room in this pipe's outgoing queue? */
  protected _hasRoom(pipe: Pipe): boolean {
    const hwm = this.sendHighWaterMark;
    return hwm <= 0 || pipe.out.length < hwm || this._conflating;
  }

  /** Writes a message to a pipe now if it can take it, else queues it (the caller checked room). */
  protected _write(pipe: Pipe, msg: Buffer[], start = 0): void {
    if (pipe.out.length === 0 && pipe.writable) {
      pipe.conn!.send(msg, start);
    } else {
      this._enqueue(pipe, start === 0 ? msg : msg.slice(start));
    }
  }

  /** Queues a message for a pipe that cannot take it now; under conflate it replaces the last. */
  protected _enqueue(pipe: Pipe, msg: Outgoing): void {
    if (this._conflating) pipe.out.drain();
    pipe.out.push(msg);
  }

  // ---- public API -----------------------------------------------------------------------------

  get closed(): boolean {
    return this._closed;
  }

  /** A receive() would resolve at once. */
  get readable(): boolean {
    return this._inReady.length > 0;
  }

  /** Whether a send() would not wait right now. (Approximate for ROUTER: it never waits unless mandatory.) */
  get writable(): boolean {
    if (this._closed || this._sendWaiters.length > 0) return false;
    for (const p of this._pipes) if (this._hasRoom(p) && (p.attached || (p.connectSide && !this.immediate))) return true;
    return false;
  }

  /** The last endpoint bound, with the actual port for tcp://host:0. */
  get lastEndpoint(): string | undefined {
    return this._lastEndpoint;
  }

  get events(): Observer {
    if (!this._observer) {
      this._observer = new Observer();
      if (this._closed) this._observer.end();
    }
    return this._observer;
  }

  protected _emit(type: EventType, address?: string, extra?: Partial<SocketEvent>): void {
    const o = this._observer;
    if (o) o.emit({ type, ...(address !== undefined ? { address } : {}), ...extra });
  }

  async bind(address: string): Promise<void> {
    if (this._closed) throw closedError();
    this._checkOptions();
    const ep = this._parse(address, true);
    // tcp://host:0 (or :*) asks for a fresh ephemeral port each time, so it may be bound again.
    const ephemeral = ep.transport === "tcp" && ep.port === 0;
    if (!ephemeral && this._listeners.has(address)) throw new SocketError("EADDRINUSE", `already bound to ${address}`);
    let listener: Listener;
    try {
      if (ep.transport === "inproc") {
        listener = listenInproc(ep.name, address, (offer) => this._acceptInproc(offer, address));
      } else {
        listener = await listen(ep, this.backlog, (sock) => this._accept(sock, listener.address));
      }
    } catch (err) {
      const e = err as NodeJS.ErrnoException;
      this._emit("bind:error", address, { error: e });
      throw new SocketError(e.code ?? "EINVAL", `cannot bind to ${address}: ${e.message}`);
    }
    if (this._closed) {
      await listener.close();
      throw closedError();
    }
    this._listeners.set(address, listener);
    if (listener.address !== address) this._listeners.set(listener.address, listener);
    this._lastEndpoint = listener.address;
    this._emit("bind", listener.address);
  }

  async unbind(address: string): Promise<void> {
    const listener = this._listeners.get(address);
    if (!listener) throw new SocketError("ENOENT", `not bound to ${address}`);
    for (const [k, l] of this._listeners) if (l === listener) this._listeners.delete(k);
    for (const p of this._pipes) if (!p.connectSide && p.boundAddress === listener.address) this._closePipe(p, true);
    await listener.close();
  }

  connect(address: string): void {
    this._connect(address);
  }

  protected _connect(address: string): Pipe {
    if (this._closed) throw closedError();
    this._checkOptions();
    const ep = this._parse(address, false);
    if (this._connects.has(address)) throw new SocketError("EINVAL", `already connected to ${address}`);
    const pipe = new Pipe(ep, undefined);
    this._connects.set(address, pipe);
    this._pipes.add(pipe);
    this._pipeCreated(pipe);
    this._dial(pipe);
    this._pumpSends(); // a send waiting for a pipe may go into this one (it queues while connecting)
    return pipe;
  }

  disconnect(address: string): void {
    const pipe = this._connects.get(address);
    if (!pipe) throw new SocketError("ENOENT", `not connected to ${address}`);
    this._closePipe(pipe, true);
  }

  send(msg: Message, options?: WaitOptions): Promise<void> {
    if (this._closed) return Promise.reject(closedError());
    let frames: Buffer[];
    try {
      frames = toFrames(msg);
      if (this._sendWaiters.length === 0 && this._xsend(frames)) return RESOLVED;
    } catch (err) {
      return Promise.reject(err);
    }
    if (this.sendTimeout === 0) {
      return Promise.reject(new SocketError("EAGAIN", "Socket is busy writing; no peer has room for the message"));
    }
    return new Promise<void>((resolve, reject) => {
      const w: SendWaiter = { msg: frames, resolve, reject, timer: undefined, cleanup: undefined };
      this._sendWaiters.push(w);
      if (this.sendTimeout > 0) {
        w.timer = setTimeout(() => {
          this._sendWaiters.remove((x) => x === w);
          w.cleanup?.();
          reject(new SocketError("EAGAIN", `send timed out after ${this.sendTimeout} ms: no peer has room`));
          this._pumpSends(); // the next waiter may fit
        }, this.sendTimeout);
      }
      const signal = options?.signal;
      if (signal) {
        const onAbort = () => {
          if (!this._sendWaiters.remove((x) => x === w)) return;
          if (w.timer) clearTimeout(w.timer);
          reject(new SocketError("ABORT_ERR", "send aborted"));
          this._pumpSends();
        };
        if (signal.aborted) return onAbort();
        signal.addEventListener("abort", onAbort, { once: true });
        w.cleanup = () => signal.removeEventListener("abort", onAbort);
      }
    });
  }

  receive(options?: WaitOptions): Promise<Buffer[]> {
    const m = this._take();
    if (m) return Promise.resolve(m);
    if (this._closed) return Promise.reject(closedError());
    if (this.receiveTimeout === 0) return Promise.reject(new SocketError("EAGAIN", "no message available"));
    return new Promise<Buffer[]>((resolve, reject) => {
      const w: ReceiveWaiter = { resolve, reject, timer: undefined, cleanup: undefined };
      this._recvWaiters.push(w);
      if (this.receiveTimeout > 0) {
        w.timer = setTimeout(() => {
          this._recvWaiters.remove((x) => x === w);
          w.cleanup?.();
          reject(new SocketError("EAGAIN", `receive timed out after ${this.receiveTimeout} ms`));
        }, this.receiveTimeout);
      }
      const signal = options?.signal;
      if (signal) {
        const onAbort = () => {
          if (!this._recvWaiters.remove((x) => x === w)) return;
          if (w.timer) clearTimeout(w.timer);
          reject(new SocketError("ABORT_ERR", "receive aborted"));
        };
        if (signal.aborted) return onAbort();
        signal.addEventListener("abort", onAbort, { once: true });
        w.cleanup = () => signal.removeEventListener("abort", onAbort);
      }
    });
  }

  [Symbol.asyncIterator](): AsyncIterator<Buffer[]> {
    return {
      next: () =>
        this.receive().then(
          (value) => ({ value, done: false }),
          (err) => {
            if (this._closed) return { value: undefined, done: true } as IteratorResult<Buffer[]>;
            throw err;
          },
        ),
      return: () => Promise.resolve({ value: undefined, done: true } as IteratorResult<Buffer[]>),
    };
  }

  /**
   * Closes the socket: listeners stop at once, pending send()/receive() calls reject with EBADF,
   * and messages already queued keep being delivered for up to `linger` ms.
   */
  close(): void {
    if (this._closed) return;
    this._closed = true;
    for (const w of this._recvWaiters.drain()) this._settle(w, closedError());
    for (const w of this._sendWaiters.drain()) this._settle(w, closedError());
    for (const l of new Set(this._listeners.values())) void l.close();
    this._listeners.clear();
    for (const p of [...this._pipes]) this._closePipe(p, false);
    this._emit("close");
    this._emit("end");
    this._observer?.end();
  }

  async [Symbol.asyncDispose](): Promise<void> {
    this.close();
  }

  // ---- connection handler (called by transport) ----------------------------------------------

  private _onReady(conn: Link, peer: PeerInfo): void {
    const pipe = conn.owner as Pipe;
    pipe.peer = peer;
    pipe.retries = 0;
    this._emit("handshake", pipe.address);
    if (pipe.removed) return this._lingerFlush(pipe);
    const verdict = this._pipeAttached(pipe);
    if (verdict !== true) {
      const why = typeof verdict === "string" ? verdict : `the ${this.type} socket refused this peer`;
      pipe.refusal = new SocketError("ECONNREFUSED", why);
      conn.destroy();
      return;
    }
    pipe.attached = true;
    this._flushPipe(pipe);
  }

  private _onMessage(conn: Link, frames: Buffer[]): void {
    const pipe = conn.owner as Pipe;
    if (this._closed) return;
    const msg = this._xrecv(pipe, frames);
    if (msg) this._deliver(pipe, msg);
  }

  /** Hands a message to the application as coming from `pipe`: to a waiting receive(), else into
   * the pipe's queue. XPUB also uses it for subscriptions that arrive as commands, and for the
   * unsubscribes of a peer that left (its pipe may have no connection any more). */
  protected _deliver(pipe: Pipe, msg: Buffer[]): void {
    if (this._closed) return;
    const w = this._recvWaiters.shift();
    if (w) {
      if (w.timer) clearTimeout(w.timer);
      w.cleanup?.();
      w.resolve(msg);
      return;
    }
    if (this._conflating) pipe.inq.drain(); // only the newest is kept; never paused
    pipe.inq.push(msg);
    if (!pipe.inReady) {
      pipe.inReady = true;
      this._inReady.push(pipe);
    }
    const hwm = this.receiveHighWaterMark;
    if (hwm > 0 && pipe.inq.length >= hwm && !pipe.paused && pipe.conn && !this._conflating) {
      pipe.paused = true;
      pipe.conn.pause();
    }
  }

  private _onCommand(conn: Link, cmd: Command): void {
    this._xcommand(conn.owner as Pipe, cmd);
  }

  private _onDrain(conn: Link): void {
    const pipe = conn.owner as Pipe;
    if (pipe.removed) return this._lingerFlush(pipe);
    this._flushPipe(pipe);
  }

  private _onClosed(conn: Link, error: ZmtpError | Error | undefined): void {
    const pipe = conn.owner as Pipe;
    if (pipe.conn !== conn) return;
    pipe.conn = null;
    const address = pipe.address;
    // A failure before the handshake completed is a handshake error; after it, a disconnect.
    if (conn.peer === undefined) {
      if (error instanceof ZmtpError) {
        const type =
          error.code === "EACCES" ? "handshake:error:auth" : error.code === "ETIMEDOUT" ? "handshake:error:other" : "handshake:error:protocol";
        this._emit(type, address, { error });
      }
    } else {
      const why = pipe.refusal ?? error;
      pipe.refusal = undefined;
      const extra: Partial<SocketEvent> = {};
      if (why) extra.error = why;
      if (pipe.routingId) extra.routingId = pipe.routingId;
      if (pipe.replaced) extra.replaced = true;
      this._emit("disconnect", address, extra);
    }
    if (pipe.attached) {
      pipe.attached = false;
      this._pipeDetached(pipe);
    }
    pipe.peer = undefined;
    if (pipe.paused) pipe.paused = false;
    const permanent = error instanceof ZmtpError && !error.reconnect;
    if (pipe.connectSide && !permanent && !pipe.removed) this._scheduleReconnect(pipe);
    else if (pipe.connectSide && pipe.removed && !permanent && pipe.out.length > 0 && this.linger !== 0) {
      this._scheduleReconnect(pipe); // still lingering: try to deliver what is queued
    } else this._removePipe(pipe);
    // A waiting send may have been waiting for this peer (ROUTER mandatory): let it fail or go on.
    this._pumpSends();
  }

  // ---- internals ------------------------------------------------------------------------------

  private _parse(address: string, forBind: boolean) {
    try {
      return parseEndpoint(address, forBind);
    } catch (err) {
      if (err instanceof EndpointError) throw new SocketError("EINVAL", err.message);
      throw err;
    }
  }

  private _accept(sock: NetSocket, boundAddress: string): void {
    if (this._closed) {
      sock.destroy();
      return;
    }
    const pipe = new Pipe(undefined, boundAddress);
    this._pipes.add(pipe);
    this._emit("accept", boundAddress);
    this._pipeCreated(pipe);
    this._startConnection(pipe, sock, boundAddress);
  }

  private _acceptInproc(offer: InprocOffer, boundAddress: string): void {
    if (this._closed) return; // not taken: the dialer sees a refused connection
    const pipe = new Pipe(undefined, boundAddress);
    this._pipes.add(pipe);
    this._emit("accept", boundAddress);
    this._pipeCreated(pipe);
    const link = offer.accept(this._sessionOptions(), this._handler);
    link.owner = pipe;
    pipe.conn = link;
  }

  private _startConnection(pipe: Pipe, sock: NetSocket, address: string): void {
    const conn = new Connection(sock, address, this._sessionOptions(pipe), this._handler);
    conn.owner = pipe;
    pipe.conn = conn;
  }

  private _dial(pipe: Pipe): void {
    const ep = pipe.endpoint!;
    if (ep.transport === "inproc") {
      const link = dialInproc(ep.name, ep.address, this._sessionOptions(), this._handler);
      if (!link) {
        // Nothing bound there yet: connect-before-bind is normal for inproc; wait for the bind.
        if (pipe.removed && (pipe.out.length === 0 || this.linger === 0)) return this._removePipe(pipe);
        this._emit("connect:delay", ep.address);
        pipe.cancelWait = whenInprocBound(ep.name, () => {
          pipe.cancelWait = undefined;
          if (!this._pipes.has(pipe)) return;
          this._dial(pipe);
        });
        return;
      }
      link.owner = pipe;
      pipe.conn = link;
      this._emit("connect", ep.address);
      return;
    }
    const sock = dial(ep, this.connectTimeout);
    this._emit("connect:delay", ep.address);
    let connected = false;
    sock.once("connect", () => {
      connected = true;
      if (pipe.removed && (pipe.out.length === 0 || this.linger === 0)) {
        sock.destroy();
        return this._removePipe(pipe);
      }
      this._emit("connect", ep.address);
      this._startConnection(pipe, sock, ep.address);
    });
    sock.once("error", () => {}); // reported through close
    sock.once("close", () => {
      if (connected) return; // the Connection reports its own close
      if (pipe.removed && (pipe.out.length === 0 || this.linger === 0)) return this._removePipe(pipe);
      this._scheduleReconnect(pipe);
    });
  }

  private _scheduleReconnect(pipe: Pipe): void {
    if (this.reconnectInterval < 0 || (pipe.removed && this.linger === 0)) return this._removePipe(pipe);
    const delay = reconnectDelay(this.reconnectInterval, this.reconnectMaxInterval, pipe.retries++);
    this._emit("connect:retry", pipe.address, { interval: delay });
    pipe.reconnectTimer = setTimeout(() => {
      pipe.reconnectTimer = undefined;
      this._dial(pipe);
    }, delay);
  }

  /** Moves queued messages into the connection while it has room, then lets waiting sends in. */
  private _flushPipe(pipe: Pipe): void {
    const conn = pipe.conn;
    if (conn && conn.ready) {
      while (pipe.out.length > 0 && !conn.blocked) sendOutgoing(conn, pipe.out.shift()!);
    }
    this._pumpSends();
  }

  /** Retries waiting sends in order until one does not fit. */
  protected _pumpSends(): void {
    if (this._pumping) return;
    this._pumping = true;
    try {
      let w: SendWaiter | undefined;
      while ((w = this._sendWaiters.peek())) {
        let ok: boolean;
        try {
          ok = this._xsend(w.msg);
        } catch (err) {
          this._sendWaiters.shift();
          this._settle(w, err as Error);
          continue;
        }
        if (!ok) break;
        this._sendWaiters.shift();
        this._settle(w);
      }
    } finally {
      this._pumping = false;
    }
  }

  private _settle(w: SendWaiter | ReceiveWaiter, err?: Error): void {
    if (w.timer) clearTimeout(w.timer);
    w.cleanup?.();
    if (err) w.reject(err);
    else (w as SendWaiter).resolve();
  }

  private _take(): Buffer[] | undefined {
    const pipe = this._inReady.shift();
    if (!pipe) return undefined;
    const msg = pipe.inq.shift()!;
    if (pipe.inq.length > 0) this._inReady.push(pipe);
    else pipe.inReady = false;
    const hwm = this.receiveHighWaterMark;
    if (pipe.paused && (hwm <= 0 || pipe.inq.length < hwm)) {
      pipe.paused = false;
      pipe.conn?.resume();
    }
    return msg;
  }

  /** Drops what has been received from `pipe` and not yet read (REQ abandoning a request). */
  protected _purgeInbound(pipe: Pipe): void {
    if (pipe.inq.length === 0) return;
    pipe.inq.drain();
    if (pipe.inReady) {
      pipe.inReady = false;
      this._inReady.remove((p) => p === pipe);
    }
    if (pipe.paused) {
      pipe.paused = false;
      pipe.conn?.resume();
    }
  }

  /**
   * Takes a pipe out of service. With `now` (disconnect/unbind) it goes at once like libzmq;
   * otherwise (close) its queued messages linger.
   */
  private _closePipe(pipe: Pipe, now: boolean): void {
    if (pipe.removed) return;
    pipe.removed = true;
    if (pipe.endpoint) this._connects.delete(pipe.endpoint.address);
    if (pipe.attached) {
      pipe.attached = false;
      this._pipeDetached(pipe);
    }
    if (now || this.linger === 0) {
      pipe.out.drain();
      pipe.stopRetry();
      if (pipe.conn) pipe.conn.destroy();
      else this._removePipe(pipe);
      return;
    }
    if (this.linger > 0) {
      const t = setTimeout(() => {
        pipe.out.drain();
        pipe.stopRetry();
        if (pipe.conn) pipe.conn.destroy();
        else this._removePipe(pipe);
      }, this.linger);
      t.unref?.(); // lingering never keeps a process alive on its own; the open connection does
    }
    if (pipe.conn) return this._lingerFlush(pipe);
    if (pipe.out.length === 0) {
      pipe.stopRetry();
      this._removePipe(pipe);
    }
    // else: a reconnect is pending; _onReady() will flush and end it
  }

  /** For a removed pipe: write what is queued, and end the connection once it is all out. */
  private _lingerFlush(pipe: Pipe): void {
    const conn = pipe.conn;
    if (!conn) return;
    if (this.linger === 0) return conn.destroy();
    if (!conn.ready) {
      // Handshake still running: worth waiting for only if there is something to deliver.
      if (conn.closing || pipe.out.length === 0) conn.destroy();
      return; // else _onReady() calls back here
    }
    while (pipe.out.length > 0 && !conn.blocked) sendOutgoing(conn, pipe.out.shift()!);
    if (pipe.out.length === 0) conn.end();
  }

  private _removePipe(pipe: Pipe): void {
    if (!this._pipes.delete(pipe)) return;
    pipe.removed = true;
    pipe.stopRetry();
    if (pipe.endpoint && this._connects.get(pipe.endpoint.address) === pipe) this._connects.delete(pipe.endpoint.address);
    pipe.out.drain();
    this._pipeRemoved(pipe);
    // Messages already received from this peer stay readable (as with libzmq).
    this._pumpSends(); // a send waiting for this peer (ROUTER mandatory) now fails
  }
}
