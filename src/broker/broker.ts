// The eMQP broker: clients and schedulers on the frontend ROUTER, workers on the backend ROUTER,
// admin tools on a third. Wire-compatible with EventMQ's router (spec/emqp.md), and fixing what it
// leaves broken: results reach the client, every accepted request gets a receipt, a full buffer is
// an error reply rather than silence, `guarantee` re-queues jobs whose worker died, `retry-count`
// re-runs failed jobs, `timeout` is enforced, DISCONNECT drains instead of dropping, and no input
// (binary routing ids included) can crash it.

import { Buffer, isUtf8 } from "node:buffer";
import { performance } from "node:perf_hooks";
import {
  DEFAULT_ADDRESSES,
  DEFAULT_QUEUE,
  DEFAULT_QUEUE_WEIGHT,
  EmqpError,
  HEARTBEAT_INTERVAL_MS,
  HEARTBEAT_TIMEOUT_MS,
  PROTOCOL,
  decode,
  formatHeaders,
  formatResult,
  heartbeatTime,
  newMsgid,
  parseHeaders,
  parseJob,
  parseResult,
  type Command,
  type JobFailure,
  type QueueWeights,
} from "../emqp/index.js";
import { createLogger, type Logger } from "../log/logger.js";
import { WarnLimiter } from "../log/warn-limiter.js";
import { Router } from "../socket/router.js";
import type { SocketEvent } from "../socket/observer.js";
import { Deque } from "./deque.js";
import type { JobRecord, SchedulerRecord, WorkerRecord } from "./records.js";
import { displayId } from "../log/display-id.js";
import { adminStatus, adminSchedulers, adminWorkers } from "./status.js";
import { WeightedQueues } from "./weighted.js";

export interface BrokerOptions {
  /** Clients and schedulers. Default tcp://127.0.0.1:47291. */
  frontend?: string;
  /** Workers. Default tcp://127.0.0.1:47290. */
  backend?: string;
  /** Admin tools (STATUS, ROUTER_SHOW_WORKERS, ...); "" to disable. Default tcp://127.0.0.1:47293. */
  admin?: string;
  /** Queues assumed for a worker whose INFORM names none. Default [[10, "default"]]. */
  defaultQueues?: QueueWeights;
  /** Jobs buffered per queue while no worker has a free slot; beyond it requests are refused
   * with EQUEUEFULL. Default 10000 (EventMQ's HWM). */
  maxBuffered?: number;
  /** ms between HEARTBEATs to each worker and scheduler. Default 3000. */
  heartbeatInterval?: number;
  /** ms of silence after which a worker or scheduler is dropped. Default 5000. */
  heartbeatTimeout?: number;
  /** ms added to a job's timeout:N before the broker fails it itself. Default 2000. */
  timeoutGrace?: number;
  /** ms a draining broker (DISCONNECT, stop({ drain: true })) waits for its jobs. Default 30000. */
  drainTimeout?: number;
  /** Messages queued per peer before sends to it fail (a peer that does not read loses its own
   * receipts and results, nobody else's). Default 100000. */
  sendHighWaterMark?: number;
  /** Finished jobs remembered (with their results) so a re-sent request is not run again. Default 10000. */
  recentJobs?: number;
  logger?: Logger;
}

export type BrokerState = "new" | "running" | "draining" | "stopped";

export interface BrokerCounters {
  accepted: number;
  rejected: number;
  dispatched: number;
  completed: number;
  failed: number;
  retried: number;
  requeued: number;
  dropped: number;
}

const EMPTY = Buffer.alloc(0);
/** How every successful result begins (Python's json.dumps and ours): no need to parse those. */
const VALUE_PREFIX = Buffer.from('{"value": ');
const VERSION = Buffer.from(PROTOCOL);
const CMD = {
  REQUEST: Buffer.from("REQUEST"),
  REPLY: Buffer.from("REPLY"),
  ACK: Buffer.from("ACK"),
  HEARTBEAT: Buffer.from("HEARTBEAT"),
  KBYE: Buffer.from("KBYE"),
};
const keyOf = (id: Buffer): string => id.toString("latin1");
/** ms a worker that said KBYE may stay silent while it finishes its jobs (EventMQ's workers stop
 * heartbeating then; its default job timeout is 300 s). */
const LEAVING_SILENCE = 310_000;
/** ms between KBYEs to the same unregistered worker. */
const KBYE_EVERY = 30_000;
/** setTimeout's longest delay. */
const MAX_DELAY = 2 ** 31 - 1;
const txt = (s: string): Buffer => Buffer.from(s, "utf8");

export class Broker {
  readonly options: Required<Omit<BrokerOptions, "logger">>;
  readonly counters: BrokerCounters = { accepted: 0, rejected: 0, dispatched: 0, completed: 0, failed: 0, retried: 0, requeued: 0, dropped: 0 };
  /** Where each socket actually listens (after bind; port 0 resolved). */
  readonly endpoints: { frontend?: string; backend?: string; admin?: string } = {};

  private readonly log: Logger;
  /** Refusals and malformed input: one line per kind and second, not one per message. */
  private readonly warnings: WarnLimiter;
  private readonly frontend: Router;
  private readonly backend: Router;
  private readonly adminSock: Router | undefined;
  private _state: BrokerState = "new";
  private readonly started = performance.now();

  private readonly workers = new Map<string, WorkerRecord>();
  private readonly schedulers = new Map<string, SchedulerRecord>();
  private schedulerTurn = 0;
  private readonly weighted = new WeightedQueues();
  private readonly waiting = new Map<string, Deque<JobRecord>>();
  /** Jobs buffered or running, by msgid. */
  private readonly jobs = new Map<string, JobRecord>();
  /** Finished jobs by msgid: whose, and the result (null when the client did not ask for it). */
  private readonly recent = new Map<string, { client: Buffer; result: Buffer | null }>();
  /** Keys of `recent` in the order they were added (a ring of recentJobs slots): evicting the
   * oldest with recent.keys().next() would walk every entry deleted before it (V8 keeps them at
   * the front of the Map's table until it rehashes), ~15 us per job once the cache is full. */
  private readonly recentOrder: (string | undefined)[] = [];
  private recentNext = 0;
  private readonly processedByQueue = new Map<string, number>();
  /** When each unregistered backend peer was last sent a KBYE. */
  private readonly kbyeSent = new Map<string, number>();

  private heartbeatTimer: ReturnType<typeof setInterval> | undefined;
  private sweepTimer: ReturnType<typeof setInterval> | undefined;
  private drainTimer: ReturnType<typeof setTimeout> | undefined;
  private stopping: Promise<void> | undefined;
  private resolveStopped!: () => void;
  /** Resolves once the broker has stopped (after stop(), or a DISCONNECT and its drain). */
  readonly stopped: Promise<void> = new Promise((r) => (this.resolveStopped = r));

  constructor(options: BrokerOptions = {}) {
    this.options = {
      frontend: options.frontend ?? DEFAULT_ADDRESSES.frontend,
      backend: options.backend ?? DEFAULT_ADDRESSES.backend,
      admin: options.admin ?? DEFAULT_ADDRESSES.admin,
      defaultQueues: options.defaultQueues ?? [[DEFAULT_QUEUE_WEIGHT, DEFAULT_QUEUE]],
      maxBuffered: options.maxBuffered ?? 10_000,
      heartbeatInterval: options.heartbeatInterval ?? HEARTBEAT_INTERVAL_MS,
      heartbeatTimeout: options.heartbeatTimeout ?? HEARTBEAT_TIMEOUT_MS,
      timeoutGrace: options.timeoutGrace ?? 2000,
      drainTimeout: options.drainTimeout ?? 30_000,
      recentJobs: options.recentJobs ?? 10_000,
      sendHighWaterMark: options.sendHighWaterMark ?? 100_000,
    };
    this.log = options.logger ?? createLogger({ component: "broker", level: "warn" });
    this.warnings = new WarnLimiter(this.log);
    // Mandatory: a send to a peer that left fails (so a job is never silently lost on a dead
    // worker) and a full peer makes the send wait instead of dropping a result.
    // Handover: a peer that reconnects keeps its routing id (ours all do), and must not be
    // refused while the broker has not yet noticed that its old connection is dead.
    // sendTimeout 0: a peer whose queue is full (it does not read: EventMQ's client never does)
    // fails its own send at once instead of queueing every later send, to everyone, behind it.
    const opts = { mandatory: true, handover: true, sendTimeout: 0, sendHighWaterMark: this.options.sendHighWaterMark, receiveHighWaterMark: 10_000, linger: 2000, routingId: newMsgid() };
    this.frontend = new Router(opts);
    this.backend = new Router(opts);
    this.adminSock = this.options.admin === "" ? undefined : new Router(opts);
  }

  get state(): BrokerState {
    return this._state;
  }

  /** Binds the sockets and starts serving. Rejects (and closes everything) if an address is taken. */
  async start(): Promise<void> {
    if (this._state !== "new") throw new Error(`broker already ${this._state}`);
    this._state = "running";
    try {
      await this.frontend.bind(this.options.frontend);
      this.endpoints.frontend = this.frontend.lastEndpoint;
      await this.backend.bind(this.options.backend);
      this.endpoints.backend = this.backend.lastEndpoint;
      if (this.adminSock) {
        await this.adminSock.bind(this.options.admin);
        this.endpoints.admin = this.adminSock.lastEndpoint;
      }
    } catch (err) {
      this._state = "stopped";
      this.closeSockets();
      this.resolveStopped();
      throw err;
    }
    this.backend.events.on("disconnect", (ev: SocketEvent) => this.onBackendDisconnect(ev));
    this.frontend.events.on("disconnect", (ev: SocketEvent) => this.onFrontendDisconnect(ev));
    void this.serve(this.frontend, (m) => this.onFrontend(m));
    void this.serve(this.backend, (m) => this.onBackend(m));
    if (this.adminSock) void this.serve(this.adminSock, (m) => this.onAdmin(m));
    this.heartbeatTimer = setInterval(() => this.sendHeartbeats(), this.options.heartbeatInterval);
    this.sweepTimer = setInterval(() => this.sweep(), Math.min(1000, this.options.heartbeatTimeout / 2));
    this.log.info("listening", { frontend: this.endpoints.frontend, backend: this.endpoints.backend, admin: this.endpoints.admin ?? "off" });
  }

  /**
   * Stops the broker. With `drain`, it first stops accepting requests and keeps dispatching what
   * it holds until nothing is buffered or running (or drainTimeout passes); without, at once.
   * Workers and schedulers get KBYE either way.
   */
  stop(options: { drain?: boolean } = {}): Promise<void> {
    if (this._state === "new") {
      this._state = "stopped";
      this.closeSockets();
      this.resolveStopped();
    }
    if (this._state === "stopped") return this.stopped;
    if (options.drain) this.beginDrain("stop");
    else void this.finish("stopped");
    return this.stopped;
  }

  // ---- receiving ----------------------------------------------------------------------------------

  private async serve(sock: Router, handle: (msg: Buffer[]) => void): Promise<void> {
    for (;;) {
      let msg: Buffer[];
      try {
        msg = await sock.receive();
      } catch {
        return; // closed
      }
      try {
        handle(msg);
      } catch (err) {
        // A bug of ours must not take the broker down with it: say so loudly, keep serving.
        this.log.error("internal error handling a message", { error: err, stack: (err as Error).stack });
      }
    }
  }

  /** Decodes a ROUTER message; logs and returns undefined for a malformed one. */
  private parse(msg: Buffer[], socket: string): Command | undefined {
    try {
      return decode(msg, 1);
    } catch (err) {
      if (!(err instanceof EmqpError)) throw err;
      this.counters.dropped++;
      this.warnings.warn(`malformed:${socket}:${err.reason}`, "dropped a malformed message", { socket, peer: displayId(msg[0] ?? EMPTY), reason: err.reason, error: err.message });
      return undefined;
    }
  }

  private drop(socket: string, peer: Buffer, why: string, fields: Record<string, unknown> = {}): void {
    this.counters.dropped++;
    this.warnings.warn(`drop:${socket}:${why}`, `dropped: ${why}`, { socket, peer: displayId(peer), ...fields });
  }

  // ---- frontend: clients and schedulers -----------------------------------------------------------

  private onFrontend(msg: Buffer[]): void {
    const cmd = this.parse(msg, "frontend");
    if (!cmd) return;
    const id = msg[0]!;
    const sched = this.schedulers.get(keyOf(id));
    if (sched) sched.lastSeen = performance.now();
    switch (cmd.command) {
      case "REQUEST":
        return this.onRequest(id, cmd, msg);
      case "INFORM":
        if (cmd.clientType !== "scheduler") return this.drop("frontend", id, "a worker INFORM on the frontend (workers connect to the backend)");
        return this.registerScheduler(id, cmd.msgid);
      case "HEARTBEAT":
        return; // liveness already noted (only schedulers are tracked)
      case "KBYE":
        if (sched) this.removeScheduler(sched, "KBYE");
        return;
      case "SCHEDULE":
      case "UNSCHEDULE":
        return this.onSchedule(id, cmd, msg);
      case "DISCONNECT":
        this.log.warn("DISCONNECT on the frontend: draining, then stopping", { peer: displayId(id) });
        return this.beginDrain("DISCONNECT");
      case "REPLY":
        return; // a scheduler's answer to our receipt: nothing to do
      default:
        return this.drop("frontend", id, `unexpected ${cmd.command === "OTHER" ? cmd.name : cmd.command}`);
    }
  }

  private onRequest(client: Buffer, cmd: Extract<Command, { command: "REQUEST" }>, msg: Buffer[]): void {
    const idFrame = msg[4]!; // the client's msgid, sent back as it came
    // A request we already hold or just finished (re-sent after a reconnect): never run it twice.
    // A job is known by its msgid alone (workers answer with nothing else), so another client's
    // live job with the same msgid is a conflict, refused rather than mixed up.
    const live = this.jobs.get(cmd.msgid);
    if (live) {
      if (live.client.equals(client)) return this.sendReceipt(client, idFrame);
      return this.refuse(client, idFrame, "EDUPLICATE", `msgid ${JSON.stringify(cmd.msgid)} is already used by another client's job`);
    }
    const done = this.recent.get(cmd.msgid);
    if (done !== undefined && done.client.equals(client)) {
      this.sendReceipt(client, idFrame);
      if (done.result) this.sendResult(client, idFrame, done.result);
      return;
    }
    if (this._state !== "running") return this.refuse(client, idFrame, "ESHUTDOWN", "the broker is shutting down and accepts no new jobs");
    let headers;
    try {
      headers = parseHeaders(cmd.headers);
      parseJob(cmd.job);
      // EventMQ's peers decode every frame as UTF-8 and die on anything else: never pass one on.
      if (cmd.extra?.some((f) => !isUtf8(f))) throw new EmqpError("not-utf8", "REQUEST frames after the job must be UTF-8 text");
    } catch (err) {
      if (!(err instanceof EmqpError)) throw err;
      this.log.warn("refused a request", { peer: displayId(client), msgid: cmd.msgid, reason: err.reason, error: err.message });
      return this.refuse(client, idFrame, "EBADJOB", err.message);
    }
    const queue = this.weighted.has(cmd.queue) || this.waiting.has(cmd.queue) ? cmd.queue : DEFAULT_QUEUE;
    if (queue !== cmd.queue) this.log.debug("unknown queue: using default", { queue: cmd.queue });
    // Workers always get reply-requested, so the broker learns every job's outcome.
    const body = msg.slice(5);
    if (!headers.replyRequested) body[1] = txt(formatHeaders({ ...headers, replyRequested: true }));
    const job: JobRecord = {
      msgid: cmd.msgid,
      idFrame,
      client,
      queue,
      headers,
      body,
      retriesLeft: Math.max(0, headers.retryCount ?? 0),
      attempts: 0,
      accepted: performance.now(),
      worker: undefined,
      timer: undefined,
    };
    const w = this.weighted.pick(queue);
    if (!w) {
      let q = this.waiting.get(queue);
      if (q && q.length >= this.options.maxBuffered) {
        this.warnings.warn(`full:${queue}`, "queue full: requests refused", { queue, buffered: q.length });
        return this.refuse(client, idFrame, "EQUEUEFULL", `queue ${JSON.stringify(queue)} already buffers ${q.length} jobs`);
      }
      if (!q) this.waiting.set(queue, (q = new Deque()));
      q.push(job);
    }
    this.jobs.set(cmd.msgid, job);
    this.counters.accepted++;
    this.sendReceipt(client, idFrame);
    if (w) this.dispatch(job, w);
  }

  /** A request that will not run: an error result instead of a receipt. */
  private refuse(client: Buffer, idFrame: Buffer, code: string, message: string): void {
    this.counters.rejected++;
    this.sendResult(client, idFrame, txt(formatResult({ ok: false, error: { code, message } })));
  }

  // ---- backend: workers ----------------------------------------------------------------------

  private onBackend(msg: Buffer[]): void {
    const cmd = this.parse(msg, "backend");
    if (!cmd) return;
    const id = msg[0]!;
    const key = keyOf(id);
    const worker = this.workers.get(key);
    if (cmd.command === "INFORM") {
      if (cmd.clientType !== "worker") return this.drop("backend", id, "a scheduler INFORM on the backend (schedulers connect to the frontend)");
      return this.registerWorker(id, cmd.msgid, cmd.queues);
    }
    if (!worker) {
      // After a broker restart or a timeout: tell it we do not know it (ours re-INFORM at once).
      // At most once per peer per KBYE_EVERY: EventMQ's jobmanager ignores KBYE but counts any
      // message as a sign of life, so answering each of its HEARTBEATs would keep it from ever
      // noticing (after 15 s of silence) that it must INFORM again.
      if (cmd.command !== "KBYE" && cmd.command !== "DISCONNECT") this.kbyeStranger(id, key, cmd.command);
      return;
    }
    worker.lastSeen = performance.now();
    switch (cmd.command) {
      case "READY":
        return this.onReady(worker);
      case "REPLY":
        return this.onWorkerReply(worker, cmd.body, msg);
      case "HEARTBEAT":
        return;
      case "KBYE":
      case "DISCONNECT":
        return this.workerLeaving(worker, cmd.command);
      default:
        return this.drop("backend", id, `unexpected ${cmd.command === "OTHER" ? cmd.name : cmd.command} from a worker`);
    }
  }

  private kbyeStranger(id: Buffer, key: string, command: string): void {
    const now = performance.now();
    const last = this.kbyeSent.get(key);
    if (last !== undefined && now - last < KBYE_EVERY) return;
    this.kbyeSent.set(key, now);
    if (this.kbyeSent.size > 10_000) this.kbyeSent.delete(this.kbyeSent.keys().next().value!);
    this.log.info("message from an unregistered worker: sent KBYE", { peer: displayId(id), command });
    this.send(this.backend, [id, EMPTY, VERSION, CMD.KBYE, txt(newMsgid())]);
  }

  private registerWorker(id: Buffer, informId: string, queues: QueueWeights | undefined): void {
    const key = keyOf(id);
    const old = this.workers.get(key);
    if (old) this.removeWorker(old, "re-INFORM"); // its slots and jobs start over
    this.kbyeSent.delete(key);
    const w: WorkerRecord = {
      id,
      key,
      name: displayId(id),
      queues: queues && queues.length > 0 ? queues : this.options.defaultQueues,
      slots: 0,
      lastSeen: performance.now(),
      running: new Map(),
      processed: 0,
      leaving: false,
      stale: new Map(),
    };
    this.workers.set(key, w);
    this.weighted.add(w);
    this.send(this.backend, [id, EMPTY, VERSION, CMD.ACK, txt(newMsgid()), txt(informId)]);
    this.log.info("worker registered", { worker: w.name, queues: JSON.stringify(w.queues) });
  }

  /** KBYE (EventMQ's stop order: KBYE first, then the running jobs finish): no new jobs, but its
   * running ones are still its own until they answer or it disconnects. */
  private workerLeaving(w: WorkerRecord, why: string): void {
    if (w.running.size === 0) return this.removeWorker(w, why);
    if (w.leaving) return;
    w.leaving = true;
    w.slots = 0;
    this.weighted.remove(w);
    this.log.info("worker leaving: waiting for its running jobs", { worker: w.name, why, running: w.running.size });
  }

  private onReady(w: WorkerRecord): void {
    if (w.leaving) return;
    // The oldest buffered job of the first of its queues (in its INFORM order) that has one.
    for (const [, queue] of w.queues) {
      const q = this.waiting.get(queue);
      if (!q) continue;
      const job = q.shift()!;
      if (q.length === 0) this.waiting.delete(queue);
      w.slots++; // dispatch() takes it back
      this.dispatch(job, w);
      this.maybeFinishDrain();
      return;
    }
    w.slots++;
  }

  private dispatch(job: JobRecord, w: WorkerRecord): void {
    w.slots--;
    job.worker = w;
    job.attempts++;
    w.running.set(job.msgid, job);
    this.counters.dispatched++;
    w.processed++;
    this.processedByQueue.set(job.queue, (this.processedByQueue.get(job.queue) ?? 0) + 1);
    const t = job.headers.timeout;
    if (t !== undefined && t > 0) {
      // setTimeout fires at once for delays past 2^31-1 ms: cap (about 24.8 days), as the worker does.
      job.timer = setTimeout(() => this.onJobTimeout(job, w), Math.min(t * 1000 + this.options.timeoutGrace, MAX_DELAY));
    }
    this.backend.send([w.id, EMPTY, VERSION, CMD.REQUEST, job.idFrame, ...job.body]).catch((err: { code?: string }) => {
      // The worker left between its READY and now: it is gone. This job never reached it, so
      // it is handed on whatever its headers; the worker's other jobs are lost like any others.
      if (job.worker === w) {
        this.log.warn("worker unreachable: job handed on", { worker: w.name, msgid: job.msgid, code: err.code });
        this.detach(job);
        this.removeWorker(w, "unreachable");
        this.counters.requeued++;
        this.enqueue(job, true);
      }
    });
  }

  private onWorkerReply(w: WorkerRecord, body: string[], msg: Buffer[]): void {
    // EventMQ order: [result_json, job_msgid].
    if (body.length < 2) return this.drop("backend", w.id, "a worker REPLY needs [result, msgid]");
    const msgid = body[1]!;
    const stale = w.stale.get(msgid);
    if (stale !== undefined) {
      // The answer to an attempt the broker already timed out, even if a retry of the same job
      // now runs on this worker: not that retry's result.
      if (stale <= 1) w.stale.delete(msgid);
      else w.stale.set(msgid, stale - 1);
      this.log.debug("result of a timed-out attempt ignored", { worker: w.name, msgid });
      return;
    }
    const job = w.running.get(msgid);
    if (!job) {
      this.log.debug("late or unknown result ignored", { worker: w.name, msgid });
      return;
    }
    this.detach(job);
    if (w.leaving && w.running.size === 0) this.removeWorker(w, "left after its last job");
    const frame = msg[5]!; // forwarded to the client as it came
    // Every success EventMQ's workers and ours write starts this way; anything else is read.
    if (frame.length > VALUE_PREFIX.length && frame.subarray(0, VALUE_PREFIX.length).equals(VALUE_PREFIX)) return this.complete(job, frame, true);
    let outcome;
    try {
      outcome = parseResult(body[0]!);
    } catch (err) {
      outcome = { ok: false as const, error: { code: "EBADRESULT", message: `the worker sent an unreadable result: ${(err as Error).message}` } };
    }
    if (outcome.ok) return this.complete(job, frame, true);
    this.failed(job, outcome.error);
  }

  private onJobTimeout(job: JobRecord, w: WorkerRecord): void {
    job.timer = undefined;
    if (job.worker !== w) return;
    this.detach(job);
    if (w.stale.size < 10_000) w.stale.set(job.msgid, (w.stale.get(job.msgid) ?? 0) + 1);
    if (w.leaving && w.running.size === 0) this.removeWorker(w, "left after its last job");
    this.failed(job, { code: "ETIMEDOUT", message: `no result within timeout:${job.headers.timeout} (worker ${w.name})` });
  }

  /** Takes a job off its worker (the worker's slot comes back with its own READY). */
  private detach(job: JobRecord): void {
    job.worker?.running.delete(job.msgid);
    job.worker = undefined;
    if (job.timer) clearTimeout(job.timer);
    job.timer = undefined;
  }

  private failed(job: JobRecord, error: JobFailure): void {
    if (job.retriesLeft > 0 && this._state !== "stopped") {
      job.retriesLeft--;
      this.counters.retried++;
      this.log.info("job failed: retrying", { msgid: job.msgid, code: error.code, retriesLeft: job.retriesLeft });
      return this.enqueue(job, false);
    }
    this.complete(job, txt(formatResult({ ok: false, error })), false);
  }

  private complete(job: JobRecord, result: Buffer, ok: boolean): void {
    this.jobs.delete(job.msgid);
    if (ok) this.counters.completed++;
    else this.counters.failed++;
    const wanted = job.headers.replyRequested === true;
    this.remember(job, wanted ? result : null);
    if (wanted) this.sendResult(job.client, job.idFrame, result);
    this.maybeFinishDrain();
  }

  /** Back into its queue: at the front after a lost worker, at the back for a retry. */
  private enqueue(job: JobRecord, front: boolean): void {
    const w = this.weighted.pick(job.queue);
    if (w) return this.dispatch(job, w);
    let q = this.waiting.get(job.queue);
    if (!q) this.waiting.set(job.queue, (q = new Deque()));
    if (front) q.unshift(job);
    else q.push(job);
  }

  private remember(job: JobRecord, result: Buffer | null): void {
    const cap = this.options.recentJobs;
    if (cap <= 0) return;
    const key = job.msgid;
    if (!this.recent.has(key)) {
      const old = this.recentOrder[this.recentNext];
      if (old !== undefined) this.recent.delete(old);
      this.recentOrder[this.recentNext] = key;
      this.recentNext = this.recentNext + 1 === cap ? 0 : this.recentNext + 1;
    }
    this.recent.set(key, { client: job.client, result });
  }

  /** A worker is gone: its jobs go back to the front of their queues (guarantee) or fail. */
  private removeWorker(w: WorkerRecord, why: string): void {
    if (this.workers.get(w.key) !== w) return;
    this.workers.delete(w.key);
    this.weighted.remove(w);
    const jobs = [...w.running.values()];
    w.running.clear();
    this.log.info("worker removed", { worker: w.name, why, running: jobs.length });
    for (const job of jobs.reverse()) {
      this.detach(job);
      if (job.headers.guarantee) {
        this.counters.requeued++;
        this.enqueue(job, true);
      } else {
        this.complete(job, txt(formatResult({ ok: false, error: { code: "EWORKERLOST", message: `worker ${w.name} went away (${why}) while running the job` } })), false);
      }
    }
    this.maybeFinishDrain();
  }

  private onBackendDisconnect(ev: SocketEvent): void {
    if (!ev.routingId || ev.replaced) return; // replaced: the same peer, reconnected
    const w = this.workers.get(keyOf(ev.routingId));
    if (w) this.removeWorker(w, "disconnected");
  }

  private onFrontendDisconnect(ev: SocketEvent): void {
    if (!ev.routingId || ev.replaced) return; // replaced: the same peer, reconnected
    const s = this.schedulers.get(keyOf(ev.routingId));
    if (s) this.removeScheduler(s, "disconnected");
  }

  // ---- schedulers ------------------------------------------------------------------------------

  private registerScheduler(id: Buffer, informId: string): void {
    const key = keyOf(id);
    const s: SchedulerRecord = { id, key, name: displayId(id), lastSeen: performance.now() };
    this.schedulers.set(key, s);
    this.send(this.frontend, [id, EMPTY, VERSION, CMD.ACK, txt(newMsgid()), txt(informId)]);
    this.log.info("scheduler registered", { scheduler: s.name });
  }

  private removeScheduler(s: SchedulerRecord, why: string): void {
    if (this.schedulers.delete(s.key)) this.log.info("scheduler removed", { scheduler: s.name, why });
  }

  private onSchedule(client: Buffer, cmd: Extract<Command, { command: "SCHEDULE" | "UNSCHEDULE" }>, msg: Buffer[]): void {
    const all = [...this.schedulers.values()];
    const frames = msg.slice(1, 10); // the 9 frames decode() checked (the original msgid included)
    if (all.length === 0) {
      this.log.warn(`${cmd.command} with no scheduler connected`, { peer: displayId(client) });
      return this.refuse(client, msg[4]!, "ENOSCHEDULER", `no scheduler is connected to take the ${cmd.command}`);
    }
    if (cmd.command === "UNSCHEDULE") {
      for (const s of all) this.send(this.frontend, [s.id, ...frames]);
    } else {
      const s = all[this.schedulerTurn++ % all.length]!;
      this.send(this.frontend, [s.id, ...frames]);
    }
    this.sendReceipt(client, msg[4]!);
  }

  // ---- admin ------------------------------------------------------------------------------------

  private onAdmin(msg: Buffer[]): void {
    const cmd = this.parse(msg, "admin");
    if (!cmd) return;
    const id = msg[0]!;
    let json: unknown;
    switch (cmd.command) {
      case "STATUS":
        json = adminStatus(this.statusInput());
        break;
      case "ROUTER_SHOW_WORKERS":
        json = adminWorkers(this.workers.values(), this.weighted);
        break;
      case "ROUTER_SHOW_SCHEDULERS":
        json = adminSchedulers(this.schedulers.values());
        break;
      case "DISCONNECT":
        this.send(this.adminSock!, [id, EMPTY, VERSION, CMD.ACK, txt(newMsgid()), txt(cmd.msgid)]);
        this.log.warn("DISCONNECT from admin: draining, then stopping", { peer: displayId(id) });
        this.beginDrain("admin DISCONNECT");
        return;
      default:
        // EventMQ answers nothing else (emq-cli sends HELLO on connect).
        this.log.debug("admin command ignored", { command: cmd.command === "OTHER" ? cmd.name : cmd.command });
        return;
    }
    this.send(this.adminSock!, [id, EMPTY, VERSION, CMD.REPLY, txt(newMsgid()), txt(JSON.stringify(json)), txt(cmd.msgid)]);
  }

  private statusInput() {
    return {
      now: performance.now(),
      started: this.started,
      state: this._state,
      jobs: this.jobs.values(),
      waiting: this.waiting,
      processedByQueue: this.processedByQueue,
      workers: this.workers.values(),
      schedulers: this.schedulers.size,
      counters: this.counters,
    };
  }

  // ---- sending ----------------------------------------------------------------------------------

  private send(sock: Router, frames: Buffer[]): void {
    sock.send(frames).catch((err: { code?: string }) => {
      this.log.debug("send failed", { peer: displayId(frames[0]!), code: err.code });
    });
  }

  private sendReceipt(client: Buffer, idFrame: Buffer): void {
    this.send(this.frontend, [client, EMPTY, VERSION, CMD.REPLY, txt(newMsgid()), idFrame]);
  }

  private sendResult(client: Buffer, idFrame: Buffer, result: Buffer): void {
    this.send(this.frontend, [client, EMPTY, VERSION, CMD.REPLY, txt(newMsgid()), idFrame, result]);
  }

  private sendHeartbeats(): void {
    const t = txt(heartbeatTime());
    for (const w of this.workers.values()) this.send(this.backend, [w.id, EMPTY, VERSION, CMD.HEARTBEAT, txt(newMsgid()), t]);
    for (const s of this.schedulers.values()) this.send(this.frontend, [s.id, EMPTY, VERSION, CMD.HEARTBEAT, txt(newMsgid()), t]);
  }

  /** Drops workers and schedulers silent for longer than heartbeatTimeout. */
  private sweep(): void {
    const limit = performance.now() - this.options.heartbeatTimeout;
    const leavingLimit = performance.now() - Math.max(this.options.heartbeatTimeout, LEAVING_SILENCE);
    for (const w of [...this.workers.values()]) if (w.lastSeen < (w.leaving ? leavingLimit : limit)) this.removeWorker(w, "silent");
    for (const s of [...this.schedulers.values()]) if (s.lastSeen < limit) this.removeScheduler(s, "silent");
  }

  // ---- stopping ---------------------------------------------------------------------------------

  private beginDrain(why: string): void {
    if (this._state !== "running") return;
    this._state = "draining";
    this.log.info("draining", { why, buffered: this.bufferedCount(), running: this.jobs.size - this.bufferedCount() });
    this.drainTimer = setTimeout(() => void this.finish("drain timeout"), this.options.drainTimeout);
    this.maybeFinishDrain();
  }

  private bufferedCount(): number {
    let n = 0;
    for (const q of this.waiting.values()) n += q.length;
    return n;
  }

  private maybeFinishDrain(): void {
    if (this._state === "draining" && this.jobs.size === 0) void this.finish("drained");
  }

  private finish(why: string): Promise<void> {
    if (this.stopping) return this.stopping;
    this._state = "stopped";
    if (this.drainTimer) clearTimeout(this.drainTimer);
    this.stopping = (async () => {
      // Whatever is left will not run: tell the clients who wait for a result.
      for (const job of [...this.jobs.values()]) {
        this.detach(job);
        this.complete(job, txt(formatResult({ ok: false, error: { code: "ESHUTDOWN", message: `the broker stopped (${why}) before the job finished` } })), false);
      }
      this.waiting.clear();
      const kbye = () => [EMPTY, VERSION, CMD.KBYE, txt(newMsgid())];
      for (const w of this.workers.values()) this.send(this.backend, [w.id, ...kbye()]);
      for (const s of this.schedulers.values()) this.send(this.frontend, [s.id, ...kbye()]);
      this.workers.clear();
      this.schedulers.clear();
      this.closeSockets();
      this.log.info("stopped", { why });
      this.resolveStopped();
    })();
    return this.stopping;
  }

  private closeSockets(): void {
    if (this.heartbeatTimer) clearInterval(this.heartbeatTimer);
    if (this.sweepTimer) clearInterval(this.sweepTimer);
    this.frontend.close();
    this.backend.close();
    this.adminSock?.close();
  }
}
