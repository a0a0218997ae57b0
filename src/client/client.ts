// Submits jobs to an eMQP broker's frontend, framed exactly as EventMQ's client frames them:
// `'' eMQP/1.0 REQUEST msgid queue headers job` (spec/emqp.md §3.1), headers in its order, the job
// body in its JSON spelling.
//
// What comes back: `REPLY [msgid]` is the receipt (the broker took the job); `REPLY [msgid,
// result_json]` is the job's outcome, sent by our broker when the REQUEST had `reply-requested`, and
// also, without a receipt, when it refuses a job (EQUEUEFULL, EBADJOB, ESHUTDOWN). EventMQ's Python
// broker sends the receipt only for a job it dispatched at once and never a result, so against it
// request() settles only through its client-side timeout, and send() only when a worker was free.
// Anything else the broker sends is logged and dropped.

import type { Buffer } from "node:buffer";
import {
  DEFAULT_ADDRESSES,
  encode,
  formatHeaders,
  formatJob,
  newMsgid,
  parseResult,
  type Command,
  type Job,
  type JobResult,
} from "../emqp/index.js";
import { silentLogger, type Logger } from "../log/logger.js";
import { EventPublisher } from "../pubsub/publisher.js";
import { Channel } from "./channel.js";
import { EmqClientError, EmqJobError } from "./errors.js";

export interface ClientOptions {
  /** The broker's frontend. Default tcp://127.0.0.1:47291. */
  address?: string;
  logger?: Logger;
  /** Our routing id; default a fresh uuid4 (EventMQ's broker needs UTF-8 routing ids). */
  routingId?: string;
  /** ms a request with `timeout` (seconds) is given beyond that, per attempt, before the client
   * itself gives up with ETIMEDOUT. Default 5000. */
  timeoutGrace?: number;
  /** ms between ZMTP PINGs to the broker, so a broker that vanished without closing the connection
   * is noticed and the pending requests are sent again on the next connection; 0 = off. Default 3000. */
  heartbeatInterval?: number;
  /** Where publish() sends: the pub/sub forwarder's incoming side (emq-pubsub, or emq-broker
   * --pubsub), not the broker. Default tcp://127.0.0.1:47298. */
  pubsubAddress?: string;
}

export interface SendOptions {
  /** Header `guarantee`: the broker puts the job back in its queue if its worker dies. */
  guarantee?: boolean;
  /** Header `retry-count:N`: the broker re-runs a failed job up to N more times. */
  retryCount?: number;
  /** Header `timeout:N`, in seconds: the job counts as failed (ETIMEDOUT) after running this long. */
  timeout?: number;
  /** ms this call waits for its answer before rejecting with ETIMEDOUT (0 = no limit). Default for
   * request(): (retryCount + 1) x (timeout s + timeoutGrace) when `timeout` is given, else no limit;
   * for send(): no limit. */
  wait?: number;
  /** Stops waiting (rejects with ABORT_ERR); the job itself is not cancelled. */
  signal?: AbortSignal;
}

export interface RequestOptions extends SendOptions {
  /** Header `reply-requested` (default true): the broker sends the job's result back. Without it
   * request() resolves with undefined once the receipt arrives. */
  replyRequested?: boolean;
}

/** What a pending call settles on: the result (request), or the receipt (send, or a request
 * without reply-requested). */
type Mode = "result" | "receipt-msgid" | "receipt-undefined";

interface Pending {
  msgid: string;
  queue: string;
  mode: Mode;
  /** The broker's receipt arrived (the job is queued or running). */
  receipted: boolean;
  resolve: (v: unknown) => void;
  reject: (e: Error) => void;
  timer: ReturnType<typeof setTimeout> | undefined;
  cleanup: (() => void) | undefined;
}

export interface ScheduleOptions {
  /** Seconds between runs (a whole number >= 0). Give this or `cron`. */
  interval?: number;
  /** A 5-field cron expression (ranges, steps, lists, month and day names). Give this or `interval`. */
  cron?: string;
  /** Header `nohaste`: no immediate run when the schedule is created. */
  nohaste?: boolean;
  /** Header `run_count:N`: at most N runs in all (the immediate run included), then the schedule ends. */
  runCount?: number;
  /** Header `guarantee` (default true, as EventMQ's client sends it). */
  guarantee?: boolean;
  /** ms to wait for the broker's receipt before rejecting with ETIMEDOUT (0 = no limit). */
  wait?: number;
  signal?: AbortSignal;
}

function checkJob(queue: string, job: Job): void {
  if (typeof queue !== "string" || queue === "") throw new Error("queue must be a non-empty string");
  if (typeof job !== "object" || job === null || typeof job.callable !== "string" || job.callable === "") {
    throw new Error("job must have a non-empty callable name");
  }
}

const isCount = (n: unknown): boolean => n === undefined || (typeof n === "number" && Number.isSafeInteger(n) && n >= 0);

export class Client {
  private readonly channel: Channel;
  private readonly log: Logger;
  private readonly grace: number;
  private readonly waiting = new Map<string, Pending>();
  private _closed = false;
  private publisher: EventPublisher | undefined;
  private readonly pubsubAddress: string | undefined;

  constructor(options: ClientOptions = {}) {
    this.log = (options.logger ?? silentLogger).child("client");
    this.grace = options.timeoutGrace ?? 5000;
    if (!(this.grace >= 0)) throw new EmqClientError("EINVAL", "timeoutGrace must be a number of ms >= 0");
    this.pubsubAddress = options.pubsubAddress;
    this.channel = new Channel({
      address: options.address ?? DEFAULT_ADDRESSES.frontend,
      logger: this.log,
      ...(options.routingId !== undefined ? { routingId: options.routingId } : {}),
      heartbeatInterval: options.heartbeatInterval ?? 3000,
      onCommand: (cmd) => this.onCommand(cmd),
    });
  }

  get address(): string {
    return this.channel.address;
  }

  get routingId(): string {
    return this.channel.routingId;
  }

  /** Whether the connection to the broker is up right now. */
  get connected(): boolean {
    return this.channel.connected;
  }

  /** Calls still waiting for their answer. */
  get pending(): number {
    return this.waiting.size;
  }

  get closed(): boolean {
    return this._closed;
  }

  /**
   * Runs a job and resolves with its result value. Rejects with EmqJobError (its `code` from the
   * broker or worker) when the job failed or was refused, or EmqClientError (ETIMEDOUT, ECLOSED, ...).
   */
  request<T = unknown>(queue: string, job: Job, options: RequestOptions = {}): Promise<T> {
    const replyRequested = options.replyRequested ?? true;
    let wait = options.wait;
    if (wait === undefined && replyRequested && options.timeout !== undefined && options.timeout > 0) {
      // Capped at what a timer can hold (about 24.8 days).
      wait = Math.min(((options.retryCount ?? 0) + 1) * (options.timeout * 1000 + this.grace), 2 ** 31 - 1);
    }
    return this.submit(queue, job, options, replyRequested, replyRequested ? "result" : "receipt-undefined", wait) as Promise<T>;
  }

  /** Fire and forget: resolves with the job's msgid once the broker's receipt arrives; rejects with
   * EmqJobError when the broker refuses the job (EQUEUEFULL, EBADJOB, ESHUTDOWN). */
  send(queue: string, job: Job, options: SendOptions = {}): Promise<string> {
    return this.submit(queue, job, options, false, "receipt-msgid", options.wait) as Promise<string>;
  }

  /**
   * Asks the broker's scheduler to run `job` every `interval` seconds, or on a 5-field `cron`
   * expression (in the scheduler's time zone), framed as EventMQ's client frames SCHEDULE: headers
   * `guarantee` (unless `guarantee: false`), `nohaste`, `run_count:N`; interval as whole seconds,
   * or -1 with the cron string. Unless `nohaste`, the job also runs once at once. Scheduling the same
   * job (callable, path and arguments) again replaces its schedule. Resolves with the SCHEDULE's
   * msgid once the broker has handed it to a scheduler; rejects with EmqJobError ENOSCHEDULER when
   * no scheduler is connected. (Sent again after a reconnect, a SCHEDULE may replace itself, with one
   * more immediate run.)
   */
  schedule(queue: string, job: Job, options: ScheduleOptions): Promise<string> {
    const o = options ?? ({} as ScheduleOptions);
    let frames: Buffer[];
    const msgid = newMsgid();
    try {
      checkJob(queue, job);
      const hasInterval = o.interval !== undefined;
      const hasCron = o.cron !== undefined;
      if (hasInterval === hasCron) throw new Error("give exactly one of interval (seconds) and cron");
      if (hasInterval && !(typeof o.interval === "number" && Number.isSafeInteger(o.interval) && o.interval >= 0)) {
        throw new Error("interval must be a whole number of seconds >= 0");
      }
      if (hasCron && (typeof o.cron !== "string" || o.cron.trim() === "")) throw new Error("cron must be a non-empty cron expression");
      if (o.runCount !== undefined && !(Number.isSafeInteger(o.runCount) && o.runCount >= 1)) throw new Error("runCount must be an integer >= 1");
      if (o.wait !== undefined && !(o.wait >= 0 && o.wait < 2 ** 31)) throw new Error("wait must be a number of ms >= 0");
      const headers = formatHeaders({
        guarantee: o.guarantee ?? true,
        ...(o.nohaste ? { nohaste: true } : {}),
        ...(o.runCount !== undefined ? { runCount: o.runCount } : {}),
      });
      frames = encode({ command: "SCHEDULE", msgid, queue, headers, interval: hasInterval ? o.interval! : -1, job: formatJob(job), cron: hasCron ? o.cron! : "" });
    } catch (err) {
      return Promise.reject(new EmqClientError("EINVAL", (err as Error).message));
    }
    return this.track(msgid, queue, frames, "receipt-msgid", o.wait, o.signal) as Promise<string>;
  }

  /**
   * Removes the schedule of `job` (interval or cron) from every scheduler; only the job (callable,
   * path and arguments) identifies it. Framed as EventMQ's client does: headers `guarantee`,
   * interval -1, cron ''. Resolves with the UNSCHEDULE's msgid once the broker has passed it on;
   * rejects with EmqJobError ENOSCHEDULER when no scheduler is connected. Nobody says whether a
   * schedule was found.
   */
  unschedule(queue: string, job: Job, options: { wait?: number; signal?: AbortSignal } = {}): Promise<string> {
    let frames: Buffer[];
    const msgid = newMsgid();
    try {
      checkJob(queue, job);
      if (options.wait !== undefined && !(options.wait >= 0 && options.wait < 2 ** 31)) throw new Error("wait must be a number of ms >= 0");
      frames = encode({ command: "UNSCHEDULE", msgid, queue, headers: formatHeaders({ guarantee: true }), interval: -1, job: formatJob(job), cron: "" });
    } catch (err) {
      return Promise.reject(new EmqClientError("EINVAL", (err as Error).message));
    }
    return this.track(msgid, queue, frames, "receipt-msgid", options.wait, options.signal) as Promise<string>;
  }

  /** Disconnects; calls still waiting reject with ECLOSED. */
  /** Publishes `[topic, message]` through the pub/sub forwarder (connected on first use). The
   * message goes as it is when a string or bytes, else as JSON (as EventMQ's client does). Resolves
   * with the msgid once handed to the socket; pub/sub has no receipt. */
  publish(topic: string | Uint8Array, message: unknown): Promise<string> {
    if (this._closed) return Promise.reject(new EmqClientError("ECLOSED", "client is closed"));
    this.publisher ??= new EventPublisher(this.pubsubAddress === undefined ? {} : { address: this.pubsubAddress });
    return this.publisher.publish(topic, message);
  }

  close(): void {
    if (this._closed) return;
    this._closed = true;
    this.publisher?.close();
    for (const p of [...this.waiting.values()]) {
      const what = p.mode === "result" ? (p.receipted ? "its result" : "its receipt or result") : "its receipt";
      this.finish(p, new EmqClientError("ECLOSED", `client closed before ${what} arrived (request ${p.msgid}, queue ${JSON.stringify(p.queue)})`, p.msgid));
    }
    this.channel.close();
  }

  async [Symbol.asyncDispose](): Promise<void> {
    this.close();
  }

  // ---- internals ------------------------------------------------------------------------------

  private submit(queue: string, job: Job, options: SendOptions, replyRequested: boolean, mode: Mode, wait: number | undefined): Promise<unknown> {
    if (this._closed) return Promise.reject(new EmqClientError("ECLOSED", "client is closed"));
    let frames: Buffer[];
    const msgid = newMsgid();
    try {
      if (typeof queue !== "string" || queue === "") throw new Error("queue must be a non-empty string");
      if (typeof job !== "object" || job === null || typeof job.callable !== "string" || job.callable === "") {
        throw new Error("job must have a non-empty callable name");
      }
      if (!isCount(options.retryCount)) throw new Error("retryCount must be an integer >= 0");
      if (!isCount(options.timeout)) throw new Error("timeout must be a whole number of seconds >= 0");
      if (wait !== undefined && !(wait >= 0 && wait < 2 ** 31)) throw new Error("wait must be a number of ms >= 0");
      const headers = formatHeaders({
        replyRequested,
        ...(options.guarantee ? { guarantee: true } : {}),
        ...(options.retryCount !== undefined ? { retryCount: options.retryCount } : {}),
        ...(options.timeout !== undefined ? { timeout: options.timeout } : {}),
      });
      frames = encode({ command: "REQUEST", msgid, queue, headers, job: formatJob(job) });
    } catch (err) {
      return Promise.reject(new EmqClientError("EINVAL", (err as Error).message));
    }
    return this.track(msgid, queue, frames, mode, wait, options.signal);
  }

  /** Sends `frames` (message `msgid`) and waits for its answer as `mode` says. */
  private track(msgid: string, queue: string, frames: Buffer[], mode: Mode, wait: number | undefined, signal: AbortSignal | undefined): Promise<unknown> {
    if (signal?.aborted) return Promise.reject(new EmqClientError("ABORT_ERR", "request aborted before it was sent"));
    return new Promise((resolve, reject) => {
      const p: Pending = { msgid, queue, mode, receipted: false, resolve, reject, timer: undefined, cleanup: undefined };
      if (wait !== undefined && wait > 0) {
        p.timer = setTimeout(() => {
          const what = p.mode === "result" ? (p.receipted ? "no result (the receipt came)" : "no receipt and no result") : "no receipt";
          this.finish(p, new EmqClientError("ETIMEDOUT", `${what} from the broker within ${wait} ms (request ${msgid}, queue ${JSON.stringify(queue)})`, msgid));
        }, wait);
      }
      if (signal) {
        const onAbort = () => this.finish(p, new EmqClientError("ABORT_ERR", `stopped waiting for request ${msgid}`, msgid));
        signal.addEventListener("abort", onAbort, { once: true });
        p.cleanup = () => signal.removeEventListener("abort", onAbort);
      }
      this.waiting.set(msgid, p);
      this.channel.send(msgid, frames, true);
    });
  }

  /** Settles a pending call once: with an Error it rejects, else it resolves with `value`. */
  private finish(p: Pending, outcome: Error | { value: unknown }): void {
    if (this.waiting.get(p.msgid) !== p) return;
    this.waiting.delete(p.msgid);
    this.channel.forget(p.msgid);
    if (p.timer) clearTimeout(p.timer);
    p.cleanup?.();
    if (outcome instanceof Error) p.reject(outcome);
    else p.resolve(outcome.value);
  }

  private onCommand(cmd: Command): void {
    if (cmd.command !== "REPLY") {
      // HEARTBEAT, KBYE (EventMQ's broker says goodbye to frontend peers on shutdown), ACK: nothing
      // a client acts on. The connection itself tells us when the broker is gone.
      if (cmd.command === "OTHER") this.log.warn("ignored an unknown command from the broker", { command: cmd.name.slice(0, 40) });
      else this.log.debug("ignored a message from the broker", { command: cmd.command });
      return;
    }
    const [msgid, result] = cmd.body;
    const p = this.waiting.get(msgid!);
    if (!p) {
      // A late answer to a call that timed out or was aborted, or a repeated receipt.
      this.log.debug("answer for no pending request", { msgid: msgid!.slice(0, 80), frames: cmd.body.length });
      return;
    }
    if (result === undefined) return this.onReceipt(p);
    let r: JobResult;
    try {
      r = parseResult(result);
    } catch (err) {
      this.log.warn("unreadable result from the broker", { msgid: p.msgid, error: (err as Error).message });
      return this.finish(p, new EmqClientError("EPROTO", `the broker's result for request ${p.msgid} is unreadable: ${(err as Error).message}`, p.msgid));
    }
    if (!r.ok) return this.finish(p, new EmqJobError(r.error, p.msgid, p.queue));
    this.finish(p, { value: p.mode === "result" ? r.value : p.mode === "receipt-msgid" ? p.msgid : undefined });
  }

  private onReceipt(p: Pending): void {
    if (p.mode === "result") {
      p.receipted = true;
      return;
    }
    this.finish(p, { value: p.mode === "receipt-msgid" ? p.msgid : undefined });
  }
}
