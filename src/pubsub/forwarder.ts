// The eMQP pub/sub role (EventMQ's `emq-pubsub`, spec/emqp.md §3.6): publishers send
// `'' eMQP/1.0 PUBLISH msgid topic message` to a ROUTER, and every PUBLISH goes out on a PUB socket
// as `[topic, message]`, where SUB sockets filter by topic prefix. Topic and message are passed on
// as the bytes that came in.
//
// What it does differently from EventMQ's: a short PUBLISH, a frame that is not UTF-8 (routing id
// included), or any other garbage is logged with its reason and dropped; EventMQ's crashes on the
// first two. Memory is bounded by the sockets' high-water marks: the ROUTER stops reading a
// publisher whose messages are not taken yet, and the PUB drops messages for a subscriber whose
// queue is full (as libzmq's PUB does), so one slow subscriber neither stalls the others nor grows
// the process.

import { Buffer } from "node:buffer";
import { DEFAULT_ADDRESSES, EmqpError, decode } from "../emqp/index.js";
import { createLogger, type Logger } from "../log/logger.js";
import { WarnLimiter } from "../log/warn-limiter.js";
import { Publisher } from "../socket/publisher.js";
import { Router } from "../socket/router.js";
import { displayId } from "../log/display-id.js";

export interface PubSubOptions {
  /** Where publishers connect (ROUTER). Default tcp://127.0.0.1:47298. */
  incoming?: string;
  /** Where subscribers connect (PUB). Default tcp://127.0.0.1:47299. */
  outgoing?: string;
  /** Messages queued per subscriber; beyond it that subscriber misses messages. Default 1000. */
  sendHighWaterMark?: number;
  /** Messages read ahead per publisher before we stop reading from it. Default 1000. */
  receiveHighWaterMark?: number;
  /** ms that stop() keeps delivering messages already queued to subscribers. Default 1000. */
  linger?: number;
  logger?: Logger;
}

export type PubSubState = "new" | "running" | "stopped";

export interface PubSubCounters {
  /** PUBLISH messages taken and published (whether or not any subscriber matched). */
  published: number;
  /** Messages dropped: malformed, or not a PUBLISH. */
  dropped: number;
}

export class PubSub {
  readonly options: Required<Omit<PubSubOptions, "logger">>;
  readonly counters: PubSubCounters = { published: 0, dropped: 0 };
  /** Where each socket actually listens (after start(); port 0 resolved). */
  readonly endpoints: { incoming?: string; outgoing?: string } = {};

  private readonly log: Logger;
  private readonly warnings: WarnLimiter;
  private readonly incoming: Router;
  private readonly outgoing: Publisher;
  private _state: PubSubState = "new";
  private resolveStopped!: () => void;
  /** Resolves once the forwarder has stopped. */
  readonly stopped: Promise<void> = new Promise((r) => (this.resolveStopped = r));

  constructor(options: PubSubOptions = {}) {
    this.options = {
      incoming: options.incoming ?? DEFAULT_ADDRESSES.publisherIncoming,
      outgoing: options.outgoing ?? DEFAULT_ADDRESSES.publisherOutgoing,
      sendHighWaterMark: options.sendHighWaterMark ?? 1000,
      receiveHighWaterMark: options.receiveHighWaterMark ?? 1000,
      linger: options.linger ?? 1000,
    };
    this.log = options.logger ?? createLogger({ component: "pubsub", level: "warn" });
    this.warnings = new WarnLimiter(this.log);
    // Nothing is ever sent to a publisher, so its routing id only has to be unique per connection:
    // handover lets a publisher that reconnects with its fixed id in at once (refusing it would
    // lose its messages while the router has not yet noticed its old connection is gone).
    this.incoming = new Router({ receiveHighWaterMark: this.options.receiveHighWaterMark, linger: 0, handover: true });
    // noDrop stays false: a full subscriber misses messages instead of holding everyone up.
    this.outgoing = new Publisher({ sendHighWaterMark: this.options.sendHighWaterMark, linger: this.options.linger });
  }

  get state(): PubSubState {
    return this._state;
  }

  /** Binds both sockets and starts forwarding. Rejects (and closes everything) if an address is taken. */
  async start(): Promise<void> {
    if (this._state !== "new") throw new Error(`pubsub already ${this._state}`);
    this._state = "running";
    try {
      // PUB first: a publisher that connects at once must find somewhere to publish to.
      await this.outgoing.bind(this.options.outgoing);
      this.endpoints.outgoing = this.outgoing.lastEndpoint;
      await this.incoming.bind(this.options.incoming);
      this.endpoints.incoming = this.incoming.lastEndpoint;
    } catch (err) {
      this.finish();
      throw err;
    }
    void this.serve();
    this.log.info("listening", { incoming: this.endpoints.incoming, outgoing: this.endpoints.outgoing });
  }

  /** Stops taking messages; those already queued to subscribers get up to `linger` ms to go out. */
  stop(): Promise<void> {
    if (this._state !== "stopped") {
      if (this._state === "running") this.log.info("stopping", { ...this.counters });
      this.finish();
    }
    return this.stopped;
  }

  private finish(): void {
    this._state = "stopped";
    this.incoming.close();
    this.outgoing.close();
    this.resolveStopped();
  }

  private async serve(): Promise<void> {
    for (;;) {
      let msg: Buffer[];
      try {
        msg = await this.incoming.receive();
      } catch {
        return; // closed
      }
      try {
        this.forward(msg);
      } catch (err) {
        // A bug of ours must not stop the forwarding: say so loudly, keep serving.
        this.log.error("internal error handling a message", { error: err, stack: (err as Error).stack });
      }
    }
  }

  private forward(msg: Buffer[]): void {
    const peer = msg[0] ?? Buffer.alloc(0);
    let cmd;
    try {
      cmd = decode(msg, 1);
    } catch (err) {
      if (!(err instanceof EmqpError)) throw err;
      return this.drop(`malformed:${err.reason}`, "dropped a malformed message", { peer: displayId(peer), reason: err.reason, error: err.message });
    }
    if (cmd.command !== "PUBLISH") {
      const name = cmd.command === "OTHER" ? cmd.name : cmd.command;
      return this.drop(`command:${name}`, "dropped: only PUBLISH is accepted here", { peer: displayId(peer), reason: "not-publish", command: name.slice(0, 40), msgid: cmd.msgid.slice(0, 80) });
    }
    // The PUB never waits (no noDrop): send() queues to each matching subscriber with room, now.
    this.counters.published++;
    this.outgoing.send([cmd.topic, cmd.message]).catch((err: unknown) => {
      if (this._state === "running") this.log.error("publishing failed", { error: err });
    });
  }

  /** Counts a dropped message and warns, at most once a second per kind. */
  private drop(key: string, msg: string, fields: Record<string, unknown>): void {
    this.counters.dropped++;
    this.warnings.warn(key, msg, fields);
  }
}
