// Talks to a broker's administrative socket (spec/emqp.md §3.4): STATUS, ROUTER_SHOW_WORKERS and
// ROUTER_SHOW_SCHEDULERS, each `'' eMQP/1.0 CMD msgid`, answered with `REPLY [json, request_msgid]`
// by our broker and `REPLY [json]` by EventMQ's; DISCONNECT, answered `ACK [request_msgid]` by both,
// after which the broker shuts down. Answers that name their request are matched by msgid, the others
// by order (EventMQ answers in order; a late answer to a query that timed out would be misread then,
// which only a broker that names its requests avoids).

import type { Buffer } from "node:buffer";
import { DEFAULT_ADDRESSES, encode, newMsgid, type Command, type QueueWeights } from "../emqp/index.js";
import { silentLogger, type Logger } from "../log/logger.js";
import { Channel } from "./channel.js";
import { EmqClientError } from "./errors.js";

/** STATUS. Counts per queue; latencies in ms. A broker may add fields. */
export interface StatusReport {
  inflight_messages_by_queue: Record<string, number>;
  latency_messages_by_queue: Record<string, number>;
  max_latency_messages_by_queue: Record<string, number>;
  waiting_messages_by_queue: Record<string, number>;
  processed_messages_by_queue: Record<string, number>;
  processed_messages_by_worker: Record<string, number>;
  [field: string]: unknown;
}

export interface WorkerInfo {
  queues: QueueWeights;
  /** When the broker last heard from the worker, on the broker's own (monotonic) clock, in s. */
  hb: number;
  available_slots: number;
  [field: string]: unknown;
}

/** ROUTER_SHOW_WORKERS. */
export interface WorkersReport {
  connected_workers: Record<string, WorkerInfo>;
  /** queue name -> [weight, worker id] pairs, in the order the broker hands out jobs. */
  connected_queues: Record<string, Array<[number, string]>>;
  [field: string]: unknown;
}

/** ROUTER_SHOW_SCHEDULERS. */
export interface SchedulersReport {
  connected_schedulers: Record<string, { hb: number; [field: string]: unknown }>;
  [field: string]: unknown;
}

export type AdminQuery = "STATUS" | "ROUTER_SHOW_WORKERS" | "ROUTER_SHOW_SCHEDULERS";

export interface AdminOptions {
  /** The broker's administrative socket. Default tcp://127.0.0.1:47293. */
  address?: string;
  logger?: Logger;
  /** ms each call waits for its answer before rejecting with ETIMEDOUT. Default 5000. */
  timeout?: number;
  routingId?: string;
}

interface Pending {
  msgid: string;
  command: AdminQuery | "DISCONNECT";
  resolve: (v: unknown) => void;
  reject: (e: Error) => void;
  timer: ReturnType<typeof setTimeout>;
}

const isObject = (v: unknown): v is Record<string, unknown> => typeof v === "object" && v !== null && !Array.isArray(v);

export class Admin {
  private readonly channel: Channel;
  private readonly log: Logger;
  private readonly timeout: number;
  private readonly waiting = new Map<string, Pending>();
  private _closed = false;

  constructor(options: AdminOptions = {}) {
    this.log = (options.logger ?? silentLogger).child("admin");
    this.timeout = options.timeout ?? 5000;
    if (!(this.timeout > 0 && this.timeout < 2 ** 31)) throw new EmqClientError("EINVAL", "timeout must be a number of ms > 0");
    this.channel = new Channel({
      address: options.address ?? DEFAULT_ADDRESSES.admin,
      logger: this.log,
      ...(options.routingId !== undefined ? { routingId: options.routingId } : {}),
      heartbeatInterval: 0, // calls are short and time out themselves
      onCommand: (cmd) => this.onCommand(cmd),
    });
  }

  get address(): string {
    return this.channel.address;
  }

  status(): Promise<StatusReport> {
    return this.query("STATUS") as Promise<StatusReport>;
  }

  workers(): Promise<WorkersReport> {
    return this.query("ROUTER_SHOW_WORKERS") as Promise<WorkersReport>;
  }

  schedulers(): Promise<SchedulersReport> {
    return this.query("ROUTER_SHOW_SCHEDULERS") as Promise<SchedulersReport>;
  }

  /** Sends DISCONNECT; resolves once the broker acknowledges it (it then drains and stops). */
  async shutdown(): Promise<void> {
    await this.call("DISCONNECT");
  }

  /** Any query by name, answered with the parsed JSON body. */
  query(command: AdminQuery): Promise<unknown> {
    return this.call(command);
  }

  /** Disconnects; calls still waiting reject with ECLOSED. */
  close(): void {
    if (this._closed) return;
    this._closed = true;
    for (const p of [...this.waiting.values()]) {
      this.finish(p, new EmqClientError("ECLOSED", `admin client closed before the answer to ${p.command} arrived`, p.msgid));
    }
    this.channel.close();
  }

  async [Symbol.asyncDispose](): Promise<void> {
    this.close();
  }

  private call(command: Pending["command"]): Promise<unknown> {
    if (this._closed) return Promise.reject(new EmqClientError("ECLOSED", "admin client is closed"));
    // emq-cli's prefix; nobody checks msgid formats.
    const msgid = `admin:${newMsgid()}`;
    const frames: Buffer[] = encode({ command, msgid });
    return new Promise((resolve, reject) => {
      const timer = setTimeout(() => {
        const why = this.channel.everConnected ? "" : " (could not connect)";
        this.finish(p, new EmqClientError("ETIMEDOUT", `no answer to ${command} from the broker at ${this.address} within ${this.timeout} ms${why}`, msgid));
      }, this.timeout);
      const p: Pending = { msgid, command, resolve, reject, timer };
      this.waiting.set(msgid, p);
      // Queries are safe to repeat after a reconnect; DISCONNECT is not: if the broker took it and
      // went away, repeating it would stop the next broker on that address too.
      this.channel.send(msgid, frames, command !== "DISCONNECT");
    });
  }

  private finish(p: Pending, outcome: Error | { value: unknown }): void {
    if (this.waiting.get(p.msgid) !== p) return;
    this.waiting.delete(p.msgid);
    this.channel.forget(p.msgid);
    clearTimeout(p.timer);
    if (outcome instanceof Error) p.reject(outcome);
    else p.resolve(outcome.value);
  }

  /** The oldest query still waiting: what an EventMQ REPLY (which names no request) answers. */
  private oldestQuery(): Pending | undefined {
    for (const p of this.waiting.values()) if (p.command !== "DISCONNECT") return p;
    return undefined;
  }

  private onCommand(cmd: Command): void {
    if (cmd.command === "ACK") {
      const p = this.waiting.get(cmd.acked);
      if (p?.command === "DISCONNECT") return this.finish(p, { value: undefined });
      this.log.debug("ACK for no pending shutdown", { acked: cmd.acked.slice(0, 80) });
      return;
    }
    if (cmd.command !== "REPLY") {
      if (cmd.command === "OTHER") this.log.warn("ignored an unknown command from the broker", { command: cmd.name.slice(0, 40) });
      else this.log.debug("ignored a message from the broker", { command: cmd.command });
      return;
    }
    const [json, named] = cmd.body;
    let p: Pending | undefined;
    if (named !== undefined) {
      p = this.waiting.get(named);
      if (p?.command === "DISCONNECT") p = undefined;
    } else {
      p = this.oldestQuery();
    }
    if (!p) {
      this.log.debug("answer for no pending query", { frames: cmd.body.length });
      return;
    }
    let value: unknown;
    try {
      value = JSON.parse(json!);
    } catch {
      return this.finish(p, new EmqClientError("EPROTO", `the broker's answer to ${p.command} is not JSON`, p.msgid));
    }
    if (!isObject(value)) return this.finish(p, new EmqClientError("EPROTO", `the broker's answer to ${p.command} is not a JSON object`, p.msgid));
    this.finish(p, { value });
  }
}
