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
//
// The DEALER, registering, HEARTBEATs and liveness are the ServiceLink's (emqp-service/), shared
// with the scheduler; this file is what a worker does with the jobs.

import { EventEmitter } from "node:events";
import {
  DEFAULT_ADDRESSES,
  DEFAULT_QUEUE,
  DEFAULT_QUEUE_WEIGHT,
  HEARTBEAT_INTERVAL_MS,
  HEARTBEAT_LIVENESS,
  HEARTBEAT_TIMEOUT_MS,
  encode,
  formatResult,
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
import { ServiceLink } from "../emqp-service/service-link.js";
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
  /** The DEALER to the broker: INFORM/ACK, HEARTBEATs, liveness, re-registering. */
  private readonly link: ServiceLink;

  private state: State = "idle";
  private readonly running = new Set<Task>();
  private readonly waiting: Task[] = [];
  private readonly stats = { received: 0, completed: 0, failed: 0, overdue: 0, dropped: 0, registrations: 0 };
  private stopping: Promise<void> | undefined;
  private idle: (() => void) | undefined;

  constructor(options: WorkerOptions = {}) {
    super();
    this.address = options.address ?? DEFAULT_ADDRESSES.backend;
    if (typeof this.address !== "string" || this.address === "") throw new WorkerError("EINVAL", "address must be an endpoint such as tcp://127.0.0.1:47290");
    this.queues = checkQueues(options.queues);
    this.concurrency = positive(options.concurrency, DEFAULT_CONCURRENCY, "concurrency", true);
    this.timeout = positive(options.timeout, DEFAULT_JOB_TIMEOUT, "timeout", false);
    const heartbeatInterval = positive(options.heartbeatInterval, HEARTBEAT_INTERVAL_MS, "heartbeatInterval", false);
    const heartbeatTimeout = positive(options.heartbeatTimeout, HEARTBEAT_TIMEOUT_MS, "heartbeatTimeout", false);
    const heartbeatLiveness = positive(options.heartbeatLiveness, HEARTBEAT_LIVENESS, "heartbeatLiveness", true);
    const informInterval = positive(options.informInterval, HEARTBEAT_TIMEOUT_MS, "informInterval", false);
    const linger = options.linger ?? 2000;
    if (!Number.isFinite(linger) || linger < 0) throw new WorkerError("EINVAL", "linger must be >= 0 ms");
    this.log = options.logger ?? silentLogger;
    for (const [name, fn] of Object.entries(options.handlers ?? {})) this.registry.add(name, fn);
    this.link = new ServiceLink(
      { address: this.address, clientType: "worker", queues: this.queues, heartbeatInterval, heartbeatTimeout, heartbeatLiveness, informInterval, linger, logger: this.log },
      {
        registered: () => this.onRegistered(),
        command: (cmd) => this.onCommand(cmd),
        dropped: (reason, message, level) => this.drop(reason, message, level),
        reconnect: (reason) => this.emit("reconnect", { reason, routingId: this.link.routingId }),
      },
    );
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
    return this.link.routingId;
  }

  /** Whether the broker has ACKed our current INFORM. */
  get registered(): boolean {
    return this.link.registered;
  }

  get counters(): WorkerCounters {
    return { ...this.stats, running: this.running.size, waiting: this.waiting.length };
  }

  /** Connects and INFORMs; resolves at the first ACK (the worker keeps trying until then). */
  start(): Promise<void> {
    if (this.state !== "idle") return Promise.reject(new WorkerError("EINVAL", `start() on a ${this.state} worker`));
    let registered: Promise<void>;
    try {
      registered = this.link.open();
    } catch (err) {
      this.state = "stopped";
      return Promise.reject(err);
    }
    this.state = "running";
    this.log.info("connecting", { address: this.address, queues: JSON.stringify(this.queues), concurrency: this.concurrency, routingId: this.link.routingId });
    return registered;
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

  // ---- messages from the broker ---------------------------------------------------------------

  private drop(reason: string, message: string, level: "warn" | "debug" = "warn"): void {
    this.stats.dropped++;
    this.log[level](`dropped a message from the broker: ${message}`, { reason });
    this.emit("dropped", { reason, message });
  }

  /** Commands past the link's ACK/HEARTBEAT/KBYE bookkeeping. */
  private onCommand(cmd: Command): void {
    switch (cmd.command) {
      case "REQUEST":
        return this.onRequest(cmd);
      default:
        return this.drop("unexpected-command", `${cmd.command === "OTHER" ? cmd.name : cmd.command} is not for a worker`);
    }
  }

  /** The broker ACKed our INFORM: offer every free slot. */
  private onRegistered(): void {
    this.stats.registrations++;
    const free = Math.max(0, this.concurrency - this.running.size - this.stats.overdue - this.waiting.length);
    for (let i = 0; i < free; i++) this.ready();
    const routingId = this.link.routingId;
    this.log.info("registered with the broker", { address: this.address, routingId, ready: free });
    this.emit("registered", { routingId, ready: free });
  }

  private ready(): void {
    this.link.send(encode({ command: "READY", msgid: newMsgid() }));
  }

  private onRequest(cmd: Extract<Command, { command: "REQUEST" }>): void {
    if (this.state === "stopping" && this.running.size + this.stats.overdue < this.concurrency) {
      // Sent against a READY we offered before our KBYE crossed it: the broker counts it as ours,
      // so run it (the drain waits for it) rather than leave it to fail when we disconnect.
    } else if (this.state !== "running") {
      return this.drop("stopping", `REQUEST ${cmd.msgid} after KBYE with no free slot: not run`);
    }
    if (!this.link.registered) {
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
    if (replyRequested) this.link.send(encode({ command: "REPLY", msgid: newMsgid(), body: [json, msgid] }));
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
    if (this.link.registered) this.ready();
  }

  // ---- stopping -------------------------------------------------------------------------------

  private async drain(timeout: number): Promise<void> {
    const was = this.state;
    this.state = "stopping";
    // HEARTBEATs go on while stopping: the broker keeps a worker that said KBYE until its running
    // jobs are answered, and a silent one is taken for dead (its guaranteed jobs would run twice).
    // A start() still waiting for the ACK rejects.
    this.link.drain(new WorkerError("ECLOSED", "stop() was called before the broker ACKed the worker"));
    if (was === "running") {
      this.link.send(encode({ command: "KBYE", msgid: newMsgid() }));
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
    this.link.close(); // lingers up to `linger` ms so the last REPLYs and the KBYE go out
    this.log.info("stopped");
    this.emit("stopped");
  }
}
