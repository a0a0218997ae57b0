// The eMQP worker (EventMQ's "jobmanager"): a DEALER on the broker's backend that registers with
// INFORM, offers one READY per free slot once the ACK comes, runs each REQUEST's handler, answers
// with REPLY [result_json, job_msgid] when the REQUEST has `reply-requested`, and then offers the
// slot again with READY (spec/emqp.md §3.2, §6; docs: the design's "Worker" section).
//
// Staying registered:
// - HEARTBEAT every heartbeatInterval (3 s) while registered; the broker forgets a peer silent 5 s.
// - Any message from the broker counts as a sign of life. heartbeatLiveness (3) windows of
//   heartbeatTimeout (5 s) in a row without one: the broker is lost, and a new DEALER with a new
//   routing id INFORMs again (as EventMQ's jobmanager does; a new id also gets past a broker that
//   still holds the old one).
// - The connection came back (a `handshake` after a `disconnect`), or the broker says KBYE (which,
//   from our broker, also means "I don't know you"): INFORM again at once, same routing id.
// - No ACK yet: INFORM again every informInterval (5 s) while connected.
// After every ACK, READY goes out for each slot that is free then; a job that finishes while we
// are not registered sends no READY (its slot is offered after the next ACK), so the broker never
// holds more offers than we have slots.
//
// Malformed messages from the broker are logged with their reason and dropped; nothing the broker
// sends can crash the worker.

import { EventEmitter } from "node:events";
import type { Buffer } from "node:buffer";
import { Dealer } from "../socket/dealer.js";
import {
  DEFAULT_ADDRESSES,
  DEFAULT_QUEUE,
  DEFAULT_QUEUE_WEIGHT,
  EmqpError,
  HEARTBEAT_INTERVAL_MS,
  HEARTBEAT_LIVENESS,
  HEARTBEAT_TIMEOUT_MS,
  decode,
  encode,
  formatResult,
  heartbeatTime,
  newMsgid,
  parseHeaders,
  parseJob,
  type Command,
  type Headers,
  type Job,
  type JobFailure,
  type JobResult,
  type QueueWeights,
} from "../emqp/index.js";
import { silentLogger, type Logger } from "../log/logger.js";
import { WorkerError } from "./errors.js";
import { HandlerRegistry, candidateNames, type Handler } from "./handlers.js";
import { runJob, type JobRun } from "./run-job.js";

/** EventMQ's GLOBAL_TIMEOUT: seconds a job may run when its REQUEST has no timeout:N. */
export const DEFAULT_JOB_TIMEOUT = 300;
/** EventMQ's CONCURRENT_JOBS. */
export const DEFAULT_CONCURRENCY = 4;

export interface WorkerOptions {
  /** The broker's backend. Default tcp://127.0.0.1:47290. */
  address?: string;
  /** [weight, queue] pairs sent in INFORM; default [[10, "default"]]. */
  queues?: QueueWeights;
  /** Jobs run at once (slots). Default 4. */
  concurrency?: number;
  /** Seconds a job may run when its REQUEST has no timeout:N header. Default 300. */
  timeout?: number;
  /** ms between our HEARTBEATs. Default 3000. */
  heartbeatInterval?: number;
  /** ms of one liveness window; see heartbeatLiveness. Default 5000. */
  heartbeatTimeout?: number;
  /** Windows in a row without a message from the broker before it counts as lost. Default 3. */
  heartbeatLiveness?: number;
  /** ms between INFORMs while no ACK has come. Default 5000. */
  informInterval?: number;
  /** ms that stop() lets the last REPLYs and the KBYE reach the broker. Default 2000. */
  linger?: number;
  /** Handlers by name (same as calling handle() for each). */
  handlers?: Record<string, Handler>;
  logger?: Logger;
}

export interface StopOptions {
  /** ms to wait for running jobs; then their signals abort and they are reported as failed
   * (ESHUTDOWN). Default 0: wait for them (each is bounded by its own timeout). */
  timeout?: number;
}

export interface WorkerCounters {
  /** REQUESTs received. */
  received: number;
  /** Handlers running now. */
  running: number;
  /** Jobs waiting for a slot (only when the broker sent more than we offered). */
  waiting: number;
  /** Jobs whose result was a value. */
  completed: number;
  /** Jobs whose result was an error (failed, timed out, no handler, bad job). */
  failed: number;
  /** Handlers that ran past their timeout and have not returned yet. */
  overdue: number;
  /** Malformed or unexpected messages from the broker that were dropped. */
  dropped: number;
  /** ACKs received (1 + re-registrations). */
  registrations: number;
}

export interface WorkerEvents {
  /** An ACK arrived: `ready` READYs went out. */
  registered: [info: { routingId: string; ready: number }];
  /** A handler started. */
  job: [info: { msgid: string; queue: string; handler: string }];
  /** A job's outcome was decided (and sent, if the REQUEST asked for it). */
  result: [info: { msgid: string; ok: boolean; result: string; replied: boolean }];
  /** The worker is registering again. */
  reconnect: [info: { reason: "liveness" | "reconnected" | "kbye"; routingId: string }];
  /** A message from the broker was dropped, and why. */
  dropped: [info: { reason: string; message: string }];
  stopped: [];
}

type State = "idle" | "running" | "stopping" | "stopped";

interface Task {
  msgid: string;
  queue: string;
  headers: Headers;
  job: Job;
  handler: { name: string; fn: Handler };
  replyRequested: boolean;
  run?: JobRun;
}

const positive = (v: number | undefined, dflt: number, name: string, integer: boolean): number => {
  if (v === undefined) return dflt;
  if (typeof v !== "number" || !Number.isFinite(v) || v <= 0 || (integer && !Number.isInteger(v))) {
    throw new WorkerError("EINVAL", `${name} must be a positive ${integer ? "integer" : "number"}, got ${String(v)}`);
  }
  return v;
};

function checkQueues(q: QueueWeights | undefined): QueueWeights {
  if (q === undefined) return [[DEFAULT_QUEUE_WEIGHT, DEFAULT_QUEUE]];
  if (!Array.isArray(q) || q.length === 0) throw new WorkerError("EINVAL", "queues must be a non-empty list of [weight, name]");
  for (const e of q) {
    if (!Array.isArray(e) || e.length !== 2 || typeof e[0] !== "number" || !Number.isFinite(e[0]) || typeof e[1] !== "string" || e[1] === "") {
      throw new WorkerError("EINVAL", `queue entry ${JSON.stringify(e)} is not [weight, name]`);
    }
  }
  return q.map(([w, n]) => [w, n]);
}

export class Worker extends EventEmitter<WorkerEvents> {
  readonly address: string;
  readonly queues: QueueWeights;
  readonly concurrency: number;
  /** Seconds, for jobs without timeout:N. */
  readonly timeout: number;

  private readonly registry = new HandlerRegistry();
  private readonly log: Logger;
  private readonly heartbeatInterval: number;
  private readonly heartbeatTimeout: number;
  private readonly heartbeatLiveness: number;
  private readonly informInterval: number;
  private readonly linger: number;

  private state: State = "idle";
  private dealer: Dealer | undefined;
  private _routingId = "";
  private connected = false;
  private _registered = false;
  /** msgids of the INFORMs of the current registration attempt; an ACK must name one. */
  private informs = new Set<string>();
  private lastInform = 0;
  private heard = false;
  private misses = 0;
  private timers: ReturnType<typeof setInterval>[] = [];
  private readonly running = new Set<Task>();
  private readonly waiting: Task[] = [];
  private readonly stats = { received: 0, completed: 0, failed: 0, overdue: 0, dropped: 0, registrations: 0 };
  private started: { resolve: () => void; reject: (e: Error) => void } | undefined;
  private stopping: Promise<void> | undefined;
  private idle: (() => void) | undefined;

  constructor(options: WorkerOptions = {}) {
    super();
    this.address = options.address ?? DEFAULT_ADDRESSES.backend;
    if (typeof this.address !== "string" || this.address === "") throw new WorkerError("EINVAL", "address must be an endpoint such as tcp://127.0.0.1:47290");
    this.queues = checkQueues(options.queues);
    this.concurrency = positive(options.concurrency, DEFAULT_CONCURRENCY, "concurrency", true);
    this.timeout = positive(options.timeout, DEFAULT_JOB_TIMEOUT, "timeout", false);
    this.heartbeatInterval = positive(options.heartbeatInterval, HEARTBEAT_INTERVAL_MS, "heartbeatInterval", false);
    this.heartbeatTimeout = positive(options.heartbeatTimeout, HEARTBEAT_TIMEOUT_MS, "heartbeatTimeout", false);
    this.heartbeatLiveness = positive(options.heartbeatLiveness, HEARTBEAT_LIVENESS, "heartbeatLiveness", true);
    this.informInterval = positive(options.informInterval, HEARTBEAT_TIMEOUT_MS, "informInterval", false);
    this.linger = options.linger ?? 2000;
    if (!Number.isFinite(this.linger) || this.linger < 0) throw new WorkerError("EINVAL", "linger must be >= 0 ms");
    this.log = options.logger ?? silentLogger;
    for (const [name, fn] of Object.entries(options.handlers ?? {})) this.registry.add(name, fn);
  }

  /** Registers a handler (see handlers.ts for how jobs find it). Returns this, for chaining. */
  handle(name: string, fn: Handler): this {
    this.registry.add(name, fn);
    return this;
  }

  get handlerNames(): string[] {
    return this.registry.names;
  }

  /** The DEALER routing id in use (a uuid4; a new one after the broker was lost). "" before start(). */
  get routingId(): string {
    return this._routingId;
  }

  /** Whether the broker has ACKed our current INFORM. */
  get registered(): boolean {
    return this._registered;
  }

  get counters(): WorkerCounters {
    return { ...this.stats, running: this.running.size, waiting: this.waiting.length };
  }

  /** Connects and INFORMs; resolves at the first ACK (the worker keeps trying until then). */
  start(): Promise<void> {
    if (this.state !== "idle") return Promise.reject(new WorkerError("EINVAL", `start() on a ${this.state} worker`));
    const p = new Promise<void>((resolve, reject) => (this.started = { resolve, reject }));
    try {
      this.openDealer();
    } catch (err) {
      this.started = undefined;
      this.state = "stopped";
      return Promise.reject(err);
    }
    this.state = "running";
    this.timers.push(
      setInterval(() => this.heartbeat(), this.heartbeatInterval),
      setInterval(() => this.checkLiveness(), this.heartbeatTimeout),
      setInterval(() => this.reinformIfUnanswered(), Math.max(10, Math.min(this.informInterval, 1000))),
    );
    this.log.info("connecting", { address: this.address, queues: JSON.stringify(this.queues), concurrency: this.concurrency, routingId: this._routingId });
    return p;
  }

  /**
   * Graceful stop: KBYE to the broker, no more jobs, wait for the running ones (their REPLYs go
   * out; no READY), then close. Jobs that were waiting for a slot are dropped (the broker handles
   * the jobs of a worker that said KBYE).
   */
  stop(options: StopOptions = {}): Promise<void> {
    if (this.stopping) return this.stopping;
    this.stopping = this.drain(options.timeout ?? 0);
    return this.stopping;
  }

  // ---- connection and registration ------------------------------------------------------------

  private openDealer(): void {
    const id = newMsgid();
    const dealer = new Dealer({ routingId: id, linger: this.linger });
    let lost = false;
    dealer.events.on("handshake", () => {
      if (dealer !== this.dealer) return;
      this.connected = true;
      if (!lost) {
        // The first connection: the INFORM queued at start goes out now; wait for its ACK from here.
        this.lastInform = performance.now();
        return;
      }
      lost = false;
      if (this.state !== "running") return;
      this.log.info("reconnected to the broker: registering again", { address: this.address });
      this.emit("reconnect", { reason: "reconnected", routingId: this._routingId });
      this.register();
    });
    dealer.events.on("disconnect", (e) => {
      if (dealer !== this.dealer) return;
      lost = true;
      this.connected = false;
      // Whatever the broker knew of us is gone with the connection (ours forgets at once).
      this._registered = false;
      if (this.state === "running") this.log.warn("lost the broker; reconnecting", { address: this.address, error: e.error });
    });
    try {
      dealer.connect(this.address);
    } catch (err) {
      dealer.close();
      throw err; // EINVAL: a bad address
    }
    this.dealer = dealer;
    this._routingId = id;
    this.connected = false;
    this.heard = false;
    this.misses = 0;
    this.register();
    void this.readLoop(dealer);
  }

  /** Starts a registration attempt: one INFORM now, more while no ACK comes. */
  private register(): void {
    this._registered = false;
    this.informs.clear();
    this.inform();
  }

  private inform(): void {
    const msgid = newMsgid();
    this.informs.add(msgid);
    this.lastInform = performance.now();
    this.send(encode({ command: "INFORM", msgid, queues: this.queues, clientType: "worker" }));
  }

  private reinformIfUnanswered(): void {
    if (this.state !== "running" || this._registered || !this.connected) return;
    if (performance.now() - this.lastInform < this.informInterval) return;
    this.log.info("no ACK from the broker yet: INFORM again", { address: this.address });
    this.inform();
  }

  private heartbeat(): void {
    // Also while stopping: the broker keeps a worker that said KBYE until its running jobs are
    // answered, and a silent one is taken for dead (its guaranteed jobs would run twice).
    if ((this.state !== "running" && this.state !== "stopping") || !this._registered || !this.connected) return;
    this.send(encode({ command: "HEARTBEAT", msgid: newMsgid(), time: heartbeatTime() }));
  }

  private checkLiveness(): void {
    if (this.state !== "running") return;
    if (this.heard) {
      this.heard = false;
      this.misses = 0;
      return;
    }
    if (++this.misses < this.heartbeatLiveness) return;
    const silent = this.misses * this.heartbeatTimeout;
    const old = this.dealer!;
    this.log.warn("the broker has been silent: reconnecting with a new routing id", { address: this.address, silentMs: silent, oldRoutingId: this._routingId });
    old.linger = 0;
    old.close();
    this.openDealer();
    this.emit("reconnect", { reason: "liveness", routingId: this._routingId });
  }

  private send(frames: Buffer[]): void {
    const dealer = this.dealer;
    if (!dealer || dealer.closed) return;
    dealer.send(frames).catch((err: Error & { code?: string }) => {
      if (dealer.closed) return; // replaced or stopped: what was queued is given up on purpose
      this.log.warn("could not send to the broker", { address: this.address, error: err });
    });
  }

  private async readLoop(dealer: Dealer): Promise<void> {
    try {
      for await (const msg of dealer) {
        if (dealer !== this.dealer) return;
        this.onMessage(msg);
      }
    } catch (err) {
      if (!dealer.closed) this.log.error("receiving from the broker failed", { error: err as Error });
    }
  }

  // ---- messages from the broker ---------------------------------------------------------------

  private drop(reason: string, message: string, level: "warn" | "debug" = "warn"): void {
    this.stats.dropped++;
    this.log[level](`dropped a message from the broker: ${message}`, { reason });
    this.emit("dropped", { reason, message });
  }

  private onMessage(msg: Buffer[]): void {
    this.heard = true;
    let cmd: Command;
    try {
      cmd = decode(msg);
    } catch (err) {
      if (err instanceof EmqpError) return this.drop(err.reason, err.message);
      return this.drop("bad-message", String(err));
    }
    try {
      this.onCommand(cmd);
    } catch (err) {
      // A bug here must not take the worker down; say what happened and carry on.
      this.log.error("handling a message from the broker failed", { command: cmd.command, error: err as Error });
    }
  }

  private onCommand(cmd: Command): void {
    switch (cmd.command) {
      case "ACK":
        return this.onAck(cmd.acked);
      case "REQUEST":
        return this.onRequest(cmd);
      case "HEARTBEAT":
        return;
      case "KBYE":
        if (this.state !== "running") return;
        // While we wait for an ACK, our INFORM is already on its way (a KBYE then answers
        // something we sent before it): no need for another.
        if (!this._registered) return this.log.debug("KBYE while registering: ignored");
        this.log.info("the broker said KBYE: registering again", { address: this.address });
        this.emit("reconnect", { reason: "kbye", routingId: this._routingId });
        return this.register();
      default:
        return this.drop("unexpected-command", `${cmd.command === "OTHER" ? cmd.name : cmd.command} is not for a worker`);
    }
  }

  private onAck(acked: string): void {
    if (this.state !== "running") return;
    if (this._registered || !this.informs.has(acked)) return this.drop("unexpected-ack", `ACK for an INFORM we are not waiting on (${acked.slice(0, 60)})`, "debug");
    this._registered = true;
    this.informs.clear();
    this.stats.registrations++;
    const free = Math.max(0, this.concurrency - this.running.size - this.stats.overdue - this.waiting.length);
    for (let i = 0; i < free; i++) this.ready();
    this.log.info("registered with the broker", { address: this.address, routingId: this._routingId, ready: free });
    this.emit("registered", { routingId: this._routingId, ready: free });
    if (this.started) {
      this.started.resolve();
      this.started = undefined;
    }
  }

  private ready(): void {
    this.send(encode({ command: "READY", msgid: newMsgid() }));
  }

  private onRequest(cmd: Extract<Command, { command: "REQUEST" }>): void {
    if (this.state === "stopping" && this.running.size + this.stats.overdue < this.concurrency) {
      // Sent against a READY we offered before our KBYE crossed it: the broker counts it as ours,
      // so run it (the drain waits for it) rather than leave it to fail when we disconnect.
    } else if (this.state !== "running") {
      return this.drop("stopping", `REQUEST ${cmd.msgid} after KBYE with no free slot: not run`);
    }
    if (!this._registered) {
      // It was sent to a registration the broker has since dropped (it re-queued or failed it).
      return this.drop("not-registered", `REQUEST ${cmd.msgid} before the broker ACKed us: not run`);
    }
    this.stats.received++;
    let headers: Headers;
    let replyRequested: boolean;
    try {
      headers = parseHeaders(cmd.headers);
      replyRequested = headers.replyRequested === true;
    } catch (err) {
      replyRequested = cmd.headers.split(",").some((h) => h.trim() === "reply-requested");
      return this.refuse(cmd.msgid, replyRequested, { code: "EBADJOB", message: (err as Error).message });
    }
    let job: Job;
    try {
      job = parseJob(cmd.job);
    } catch (err) {
      return this.refuse(cmd.msgid, replyRequested, { code: "EBADJOB", message: (err as Error).message });
    }
    const handler = this.registry.lookup(job);
    if (!handler) {
      const tried = candidateNames(job).map((n) => JSON.stringify(n)).join(", ");
      return this.refuse(cmd.msgid, replyRequested, { code: "ENOHANDLER", message: `no handler for ${tried}` });
    }
    const task: Task = { msgid: cmd.msgid, queue: cmd.queue, headers, job, handler, replyRequested };
    if (this.running.size + this.stats.overdue >= this.concurrency) {
      // More jobs than we offered slots for (a broker that over-counts): it waits its turn.
      this.log.warn("job arrived with every slot busy: it waits", { msgid: cmd.msgid, waiting: this.waiting.length + 1 });
      this.waiting.push(task);
      return;
    }
    this.begin(task);
  }

  /** A job that cannot run: its failure goes back at once, and its slot with it. */
  private refuse(msgid: string, replyRequested: boolean, error: JobFailure): void {
    this.log.warn("job refused", { msgid, code: error.code, error: error.message });
    this.report(msgid, replyRequested, { ok: false, error });
    this.slotFreed();
  }

  private begin(task: Task): void {
    this.running.add(task);
    const { msgid, queue, headers, job } = task;
    const seconds = headers.timeout !== undefined && headers.timeout > 0 ? headers.timeout : this.timeout;
    this.log.debug("job started", { msgid, queue, handler: task.handler.name });
    this.emit("job", { msgid, queue, handler: task.handler.name });
    const run = runJob(task.handler.fn, job.args ?? [], job.kwargs ?? {}, { msgid, queue, headers, job }, seconds);
    task.run = run;
    void run.result.then((result) => {
      this.running.delete(task);
      const overdue = !result.ok && result.error.code === "ETIMEDOUT";
      if (!result.ok) this.log.warn("job failed", { msgid, handler: task.handler.name, code: result.error.code, error: result.error.message });
      this.report(msgid, task.replyRequested, result);
      // A handler past its timeout still runs (JavaScript cannot kill it): its slot is only
      // offered again once it really ends, so `concurrency` bounds what runs at once.
      if (overdue) this.watchOverdue(task, run);
      else this.slotFreed();
    });
  }

  private watchOverdue(task: Task, run: JobRun): void {
    this.stats.overdue++;
    void run.handlerDone.then(() => {
      this.stats.overdue--;
      this.slotFreed();
      this.log.info("a timed-out handler returned at last; its result was dropped", { msgid: task.msgid, handler: task.handler.name });
    });
  }

  /** Counts the outcome and sends REPLY [result_json, job_msgid] when it was asked for. */
  private report(msgid: string, replyRequested: boolean, result: JobResult): void {
    const json = formatResult(result);
    // formatResult turns a value JSON cannot carry into an error result.
    const ok = result.ok && !json.startsWith('{"error"');
    if (ok) this.stats.completed++;
    else this.stats.failed++;
    if (replyRequested) this.send(encode({ command: "REPLY", msgid: newMsgid(), body: [json, msgid] }));
    this.emit("result", { msgid, ok, result: json, replied: replyRequested });
  }

  /** A slot is free: the next waiting job takes it, else the broker is offered it (READY). */
  private slotFreed(): void {
    if (this.state !== "running") {
      if (this.running.size === 0) this.idle?.();
      return;
    }
    const next = this.waiting.shift();
    if (next) return this.begin(next);
    // Not registered: the next ACK offers every free slot, this one included.
    if (this._registered) this.ready();
  }

  // ---- stopping -------------------------------------------------------------------------------

  private async drain(timeout: number): Promise<void> {
    const was = this.state;
    this.state = "stopping";
    const [beat, ...others] = this.timers;
    for (const t of others) clearInterval(t);
    this.timers = beat ? [beat] : [];
    if (this.started) {
      this.started.reject(new WorkerError("ECLOSED", "stop() was called before the broker ACKed the worker"));
      this.started = undefined;
    }
    if (was === "running") {
      this.send(encode({ command: "KBYE", msgid: newMsgid() }));
      this.log.info("stopping: sent KBYE; waiting for running jobs", { running: this.running.size, dropped: this.waiting.length });
    }
    if (this.waiting.length > 0) this.log.warn("jobs that never started are dropped", { count: this.waiting.length });
    this.waiting.length = 0;
    if (this.running.size > 0) {
      const allDone = new Promise<void>((resolve) => (this.idle = resolve));
      let timer: ReturnType<typeof setTimeout> | undefined;
      if (timeout > 0) {
        timer = setTimeout(() => {
          this.log.warn("stop timeout: abandoning running jobs", { running: this.running.size });
          for (const task of [...this.running]) task.run?.cancel({ code: "ESHUTDOWN", message: `the worker stopped after waiting ${timeout} ms for the job` });
        }, timeout);
      }
      await allDone;
      clearTimeout(timer);
    }
    this.state = "stopped";
    for (const t of this.timers) clearInterval(t);
    this.timers = [];
    this.dealer?.close(); // lingers up to `linger` ms so the last REPLYs and the KBYE go out
    this._registered = false;
    this.log.info("stopped");
    this.emit("stopped");
  }
}
