// The queue API's ZMTP side: a ROUTER that takes one request per message, answers each with one
// reply, and keeps each peer's replies in the order its requests came, so a DEALER can pipeline
// (spec/queue-api.md §2). Around the synchronous QueueApi it adds the codec, authentication and,
// in durable mode, the wait for the journal: a reply that acknowledges a change goes out only once
// the change is on disk.

import { Buffer } from "node:buffer";
import { createLogger, type Logger } from "../log/logger.js";
import { WarnLimiter } from "../log/warn-limiter.js";
import { displayId } from "../log/display-id.js";
import { Router } from "../socket/router.js";
import { DEFAULT_QUEUE_API_ADDRESS } from "./address.js";
import { QueueApi, errorReply } from "./api.js";
import { type AuthRequest, type TokenVerifier, staticTokens } from "./auth.js";
import { CodecError, type Format, decodeFrame, encodeValue, negotiateAccept, sniffFormat } from "./codec.js";
import { type ApiReply, type ApiRequest, parseEnvelope } from "./envelope.js";
import { ApiError, TITLE, unavailable } from "./errors.js";
import { Journal } from "./journal.js";
import type { CapacityOptions } from "./limits.js";
import { type StoreRecord, isStoreRecord } from "./records.js";
import { QueueStore } from "./store.js";

export { DEFAULT_QUEUE_API_ADDRESS };

export interface QueueServerOptions extends CapacityOptions {
  /** Where the ROUTER binds. Default tcp://127.0.0.1:47295. */
  endpoint?: string;
  /** Durable mode: keep a journal in this directory. Default: memory only. */
  dataDir?: string;
  /** With dataDir: fsync each batch of journal writes (default true). */
  fsync?: boolean;
  /** With dataDir: compact the journal once it is at least this big (bytes; default 64 MiB) and
   * more than twice the size a snapshot would take. */
  compactBytes?: number;
  /** Tokens accepted in X-Auth-Token; empty or absent (and no verifier) = open. */
  authTokens?: string[];
  /** A custom verifier; overrides authTokens. */
  verifier?: TokenVerifier;
  /** Largest request accepted, bytes. Bigger ones cost the sender its connection (libzmq's
   * maxMessageSize rule), so this sits well above the 256 KiB post limit, which gets a 400. */
  maxRequestBytes?: number;
  /** Replies queued per peer that does not read; beyond it that peer's replies are dropped. */
  sendHighWaterMark?: number;
  /** Clock for the store (ms since the epoch); tests inject one. */
  now?: () => number;
  logger?: Logger;
}

/** Requests taken but not yet answered, over all peers, before the server stops reading more. */
const MAX_INFLIGHT = 10_000;

export interface QueueServerCounters {
  requests: number;
  /** Requests answered with a 4xx or 5xx. */
  errors: number;
  /** Replies that could not be sent (peer gone, or not reading). */
  unsent: number;
}

interface Pending {
  done: boolean;
  frames?: Buffer[];
}

export class QueueServer {
  readonly store: QueueStore;
  readonly api: QueueApi;
  readonly counters: QueueServerCounters = { requests: 0, errors: 0, unsent: 0 };
  private readonly log: Logger;
  private readonly warnings: WarnLimiter;
  private readonly router: Router;
  private readonly verifier: TokenVerifier | undefined;
  private journal: Journal | undefined;
  private pendingWrite: Promise<void> | undefined;
  private compacting = false;
  private storageFailed = false;
  /** Per peer, resolves once its latest request is applied (only while one waits for a verifier). */
  private readonly gates = new Map<string, Promise<void>>();
  /** Per peer, replies that wait: for the journal, a verifier, or an earlier reply (at most
   * MAX_INFLIGHT in all: beyond it the read loop pauses). */
  private readonly queues = new Map<string, Pending[]>();
  private running = false;
  private stopping: Promise<void> | undefined;
  /** Requests taken whose reply is not sent yet because it waits (journal, verifier, order). */
  private inflight = 0;
  /** Set while the read loop pauses because too many requests are in flight. */
  private resumeReading: (() => void) | undefined;
  /** The newest journal append and whether it has settled: what a reply that changed nothing
   * must still wait for, so that it never reports a change that is not on disk yet. */
  private lastAppend: Promise<void> | undefined;
  private lastAppendSettled = true;
  private _endpoint = "";

  constructor(private readonly options: QueueServerOptions = {}) {
    this.log = options.logger ?? createLogger({ component: "queue-api", level: "warn" });
    this.warnings = new WarnLimiter(this.log);
    this.store = new QueueStore(options);
    this.api = new QueueApi(this.store, { healthy: () => !this.storageFailed && !(this.journal?.failed ?? false) });
    this.verifier = options.verifier ?? (options.authTokens && options.authTokens.length > 0 ? staticTokens(options.authTokens) : undefined);
    this.router = new Router({
      mandatory: true,
      handover: true,
      // A peer that stops reading loses its own replies, nobody else's.
      sendTimeout: 0,
      sendHighWaterMark: options.sendHighWaterMark ?? 10_000,
      receiveHighWaterMark: 10_000,
      maxMessageSize: options.maxRequestBytes ?? 4 * 1024 * 1024,
      linger: 2000,
    });
  }

  /** Where the ROUTER listens (after start(); port 0 resolved). */
  get endpoint(): string {
    return this._endpoint;
  }

  /** Whether changes go to a journal (--data-dir). */
  get durable(): boolean {
    return this.options.dataDir !== undefined;
  }

  /** Whether X-Auth-Token is checked. */
  get authenticated(): boolean {
    return this.verifier !== undefined;
  }

  /** Open the journal (durable mode), replay it, bind, and start answering. */
  async start(): Promise<void> {
    if (this.options.dataDir !== undefined) await this.openJournal(this.options.dataDir);
    try {
      await this.router.bind(this.options.endpoint ?? DEFAULT_QUEUE_API_ADDRESS);
    } catch (err) {
      await this.journal?.close();
      throw err;
    }
    this._endpoint = this.router.lastEndpoint ?? "";
    this.running = true;
    void this.serve();
  }

  /** Stop taking requests, let queued replies go out (linger), and close the journal. */
  stop(): Promise<void> {
    this.stopping ??= this.shutdown();
    return this.stopping;
  }

  private async shutdown(): Promise<void> {
    // Requests that arrive from here on get 503; the ones waiting for the journal or a verifier are
    // answered (for up to a second) before the socket closes and gets `linger` to send them.
    const j = this.journal;
    await j?.close().catch((err: unknown) => this.log.error("closing the journal failed", { error: err }));
    this.journal = undefined;
    const deadline = Date.now() + 1000;
    while (this.inflight > 0 && Date.now() < deadline) await new Promise((r) => setTimeout(r, 10));
    await new Promise((r) => setImmediate(r));
    this.running = false;
    this.router.close();
    this.resumeReading?.();
  }

  private async openJournal(dir: string): Promise<void> {
    const { journal, records, tornBytes } = await Journal.open({ dir, fsync: this.options.fsync ?? true, compactMinBytes: this.options.compactBytes });
    let applied = 0;
    try {
      for (const r of records) {
        if (!isStoreRecord(r)) throw new Error(`record ${applied + 1} in ${dir} is not a queue store record`);
        this.store.apply(r);
        applied++;
      }
    } catch (err) {
      await journal.close();
      throw err;
    }
    if (tornBytes > 0) this.log.warn("journal had a torn tail (a write cut short by a crash); dropped it", { dir, tornBytes });
    this.journal = journal;
    this.store.sink = (r) => this.persist(r);
    const c = this.store.counters;
    this.log.info("journal replayed", { dir, records: applied, queues: c.queues, messages: c.messages });
    this.maybeCompact();
  }

  private persist(r: StoreRecord): void {
    const j = this.journal;
    if (!j) return;
    const p = j.append(r);
    this.pendingWrite = p;
    this.lastAppend = p;
    this.lastAppendSettled = false;
    const settle = () => {
      if (this.lastAppend === p) this.lastAppendSettled = true;
    };
    p.then(settle, settle);
    this.maybeCompact();
  }

  private maybeCompact(): void {
    const j = this.journal;
    // What a snapshot would take, roughly: the bodies plus ~100 bytes of framing and fields for
    // each queue, message and claim.
    const c = this.store.counters;
    if (!j || this.compacting || !j.shouldCompact(c.bytes + 100 * (c.queues + c.messages + c.claims))) return;
    this.compacting = true;
    const started = Date.now();
    j.compact(this.store.snapshot())
      .then(() => this.log.info("journal compacted", { ms: Date.now() - started, bytes: j.size }))
      .catch((err: unknown) => {
        this.storageFailed = true;
        this.log.error("journal compaction failed", { error: err });
      })
      .finally(() => (this.compacting = false));
  }

  private async serve(): Promise<void> {
    for (;;) {
      // Back-pressure: with this many replies waiting (a slow disk or verifier), stop reading, so
      // the ROUTER's high-water mark and then TCP hold the senders back instead of our memory.
      if (this.inflight >= MAX_INFLIGHT) {
        await new Promise<void>((r) => (this.resumeReading = r));
        this.resumeReading = undefined;
        if (!this.running) return;
      }
      let msg: Buffer[];
      try {
        msg = await this.router.receive();
      } catch {
        return; // closed
      }
      try {
        this.take(msg);
      } catch (err) {
        // A bug of ours must not stop the service: say so loudly, keep serving.
        this.log.error("internal error handling a request", { error: err, stack: (err as Error).stack });
      }
    }
  }

  /** One request in: split the envelope, decode, answer (now or when durable/authenticated). */
  private take(msg: Buffer[]): void {
    this.counters.requests++;
    const peer = msg[0]!;
    const delimiter = msg.findIndex((f, i) => i > 0 && f.length === 0);
    const envelope = delimiter > 0 ? msg.slice(0, delimiter + 1) : [peer];
    const payload = msg.slice(envelope.length);
    let format: Format = "msgpack";
    let requestId: string | undefined;
    let reply: ApiReply | Promise<ApiReply>;
    try {
      if (payload.length !== 1) {
        const guess = (payload.length > 0 && sniffFormat(payload[0]!)) || "msgpack";
        throw new CodecError(`A request is exactly one frame after the envelope; got ${payload.length}.`, guess);
      }
      const decoded = decodeFrame(payload[0]!);
      format = decoded.format;
      const req = parseEnvelope(decoded.value, decoded.format);
      requestId = req.headers.get("x-request-id");
      const accept = negotiateAccept(req.headers.get("accept"));
      if (accept === undefined) {
        format = "msgpack";
        throw new ApiError(406, TITLE.notAcceptable, "This API answers in application/x-msgpack or application/json.");
      }
      format = accept;
      reply = this.answer(req, peer);
    } catch (err) {
      if (err instanceof ApiError) {
        // An undecodable frame is answered in the codec its first bytes suggest.
        if (err instanceof CodecError) format = err.format;
        if (err.status === 400) this.warnings.warn(`bad:${err.description.slice(0, 40)}`, "bad queue API request", { peer: displayId(peer), error: err.description });
        reply = errorReply(err);
      } else {
        // A bug of ours: the caller still gets an answer instead of waiting for its timeout.
        this.log.error("internal error handling a request", { error: err, stack: (err as Error).stack });
        reply = internalError();
      }
    }
    this.reply(peer, envelope, reply, format, requestId);
  }

  /**
   * Authentication, then the API; a change waits for the journal before it is acknowledged.
   * A peer's requests are applied in the order they came: while one waits for an async verifier,
   * the ones behind it wait too (their verifications run meanwhile), but nobody waits for another
   * request's journal write, so a pipelining peer still gets group commits.
   */
  private answer(req: ApiRequest, peer: Buffer): ApiReply | Promise<ApiReply> {
    // Most of the time no peer waits for anything: skip the routing-id string then.
    const gate = this.gates.size > 0 ? this.gates.get(peer.toString("latin1")) : undefined;
    let verdict: boolean | Promise<boolean> = true;
    if (this.verifier) {
      const auth: AuthRequest = { token: req.headers.get("x-auth-token"), project: req.headers.get("x-project-id"), peer: displayId(peer) };
      try {
        verdict = this.verifier(auth);
      } catch (err) {
        verdict = Promise.reject(err);
      }
    }
    if (!gate && !(verdict instanceof Promise)) {
      if (!verdict) return denied();
      return this.finish(this.apply(req));
    }
    const stage = Promise.all([gate, verdict]).then(
      ([, ok]) => (ok ? this.applySafely(req) : { reply: denied() }),
      (err: unknown) => ({ reply: this.verifierFailed(err) }),
    );
    const next = stage.then(
      () => undefined,
      () => undefined,
    );
    const key = peer.toString("latin1");
    this.gates.set(key, next);
    void next.then(() => {
      if (this.gates.get(key) === next) this.gates.delete(key);
    });
    return stage.then((applied) => this.finish(applied));
  }

  /** apply(), with a bug of ours answered as a 500 (the synchronous path gets that from take()). */
  private applySafely(req: ApiRequest): { reply: ApiReply; durable?: Promise<void> } {
    try {
      return this.apply(req);
    } catch (err) {
      this.log.error("internal error handling a request", { error: err, stack: (err as Error).stack });
      return { reply: internalError() };
    }
  }

  /** Apply one request now; `durable` is the journal write a change must wait for. */
  private apply(req: ApiRequest): { reply: ApiReply; durable?: Promise<void> } {
    if (this.stopping) return { reply: errorReply(unavailable("The broker is stopping.")) };
    if (this.storageFailed && req.action !== "GET" && req.action !== "HEAD") {
      return { reply: errorReply(unavailable("Storage has failed (see the broker's log); changes are refused until it restarts.")) };
    }
    this.pendingWrite = undefined;
    const reply = this.api.handle(req);
    let durable = this.pendingWrite as Promise<void> | undefined;
    this.pendingWrite = undefined;
    // A reply that changed nothing may still report another peer's change ("already deleted",
    // "already exists", a message just posted): it waits for the journal to have that too.
    if (!durable && !this.lastAppendSettled) durable = this.lastAppend;
    return { reply, durable };
  }

  private finish({ reply, durable }: { reply: ApiReply; durable?: Promise<void> }): ApiReply | Promise<ApiReply> {
    if (!durable) return reply;
    return durable.then(
      () => reply,
      (err: unknown) => {
        this.storageFailed = true;
        this.log.error("journal write failed: the change is not durable", { error: err });
        return errorReply(unavailable("The change could not be written to disk; it may be lost on restart."));
      },
    );
  }

  private verifierFailed(err: unknown): ApiReply {
    this.log.error("the token verifier failed", { error: err });
    return errorReply(unavailable("Authentication is unavailable."));
  }

  /** Send now if nothing of this peer's is waiting, else after the ones before it. */
  private reply(peer: Buffer, envelope: Buffer[], reply: ApiReply | Promise<ApiReply>, format: Format, requestId: string | undefined): void {
    if (!(reply instanceof Promise) && this.queues.size === 0) {
      this.send([...envelope, this.encode(reply, format, requestId)]);
      return;
    }
    const key = peer.toString("latin1");
    let q = this.queues.get(key);
    if (!(reply instanceof Promise) && !q) {
      this.send([...envelope, this.encode(reply, format, requestId)]);
      return;
    }
    if (!q) this.queues.set(key, (q = []));
    const slot: Pending = { done: false };
    q.push(slot);
    this.inflight++;
    const settle = (r: ApiReply): void => {
      slot.done = true;
      slot.frames = [...envelope, this.encode(r, format, requestId)];
      this.flush(key);
    };
    if (reply instanceof Promise) {
      reply.then(settle, (err: unknown) => {
        this.log.error("internal error answering a request", { error: err });
        settle(internalError());
      });
    } else settle(reply);
  }

  private flush(key: string): void {
    const q = this.queues.get(key);
    if (!q) return;
    while (q.length > 0 && q[0]!.done) {
      this.send(q.shift()!.frames!);
      this.inflight--;
    }
    if (q.length === 0) this.queues.delete(key);
    if (this.resumeReading && this.inflight < MAX_INFLIGHT / 2) this.resumeReading();
  }

  private encode(reply: ApiReply, format: Format, requestId: string | undefined): Buffer {
    if (reply.status >= 400) this.counters.errors++;
    const headers: Record<string, string> = {
      "Content-Type": format === "json" ? "application/json" : "application/x-msgpack",
      ...reply.headers,
    };
    if (requestId !== undefined) headers["X-Request-ID"] = requestId;
    const bytes = encodeValue({ status: reply.status, headers, body: reply.body ?? null }, format);
    return Buffer.from(bytes.buffer, bytes.byteOffset, bytes.byteLength);
  }

  private send(frames: Buffer[]): void {
    if (!this.running) {
      this.counters.unsent++;
      return;
    }
    this.router.send(frames).catch((err: { code?: string }) => {
      this.counters.unsent++;
      this.warnings.warn(`unsent:${err.code}`, "a queue API reply could not be sent", { peer: displayId(frames[0]!), code: err.code });
    });
  }
}

function internalError(): ApiReply {
  return errorReply(new ApiError(500, "Internal error", "The broker failed to answer this request; see its log."));
}

function denied(): ApiReply {
  return errorReply(new ApiError(401, TITLE.unauthorized, "A valid X-Auth-Token header is required."));
}
