// A registered service's link to an eMQP broker: what the worker (on the backend) and the
// scheduler (on the frontend) both need to stay known to the broker, and nothing of what they do.
//
// - A DEALER with a uuid4 routing id; INFORM (queues and client type), then wait for the ACK that
//   names one of the INFORMs of the current attempt. No ACK yet: INFORM again every informInterval
//   while connected.
// - HEARTBEAT every heartbeatInterval while registered and connected (also while draining: a
//   worker that said KBYE must not look dead while its last jobs run).
// - Any message from the broker is a sign of life. heartbeatLiveness windows of heartbeatTimeout
//   in a row without one: the broker is lost, and a new DEALER with a new routing id INFORMs again
//   (a new id also gets past a broker that still holds the old one).
// - The connection came back (a `handshake` after a `disconnect`), or the broker says KBYE while
//   we are registered (from our broker that also means "I don't know you"): INFORM again at once,
//   same routing id.
// - Messages are decoded here; malformed ones are handed to `dropped` with their reason. ACK,
//   HEARTBEAT and KBYE are this module's bookkeeping; every other command goes to `command`.
//
// The owner decides what a registration means (the worker offers its slots, the scheduler sends
// what it held), counts, and emits its own events; this module only logs what it does itself.

import type { Buffer } from "node:buffer";
import { Dealer } from "../socket/dealer.js";
import { EmqpError, decode, encode, heartbeatTime, newMsgid, type ClientType, type Command, type QueueWeights } from "../emqp/index.js";
import type { Logger } from "../log/logger.js";

export type ReconnectReason = "liveness" | "reconnected" | "kbye";

export interface ServiceLinkHandlers {
  /** The broker ACKed our INFORM. */
  registered(info: { routingId: string }): void;
  /** Any decoded command other than ACK, HEARTBEAT and KBYE (whatever the link's state). */
  command(cmd: Command): void;
  /** A message we could not use, and why (`debug`: expected now and then, e.g. a late ACK). */
  dropped(reason: string, message: string, level: "warn" | "debug"): void;
  /** We are registering again; `routingId` already is the one in use. */
  reconnect(reason: ReconnectReason): void;
  /** A connection to the broker is up (first or again; after the new INFORM, if any). Running only. */
  connected?(): void;
}

export interface ServiceLinkOptions {
  address: string;
  clientType: ClientType;
  /** INFORM's queues; undefined sends '' (the scheduler's). */
  queues?: QueueWeights;
  heartbeatInterval: number;
  heartbeatTimeout: number;
  heartbeatLiveness: number;
  informInterval: number;
  /** ms a closed DEALER keeps sending what is queued (the last REPLYs, the KBYE). */
  linger: number;
  logger: Logger;
}

/** idle -> running (registering, heartbeating, watching liveness) -> draining (heartbeats only) -> closed. */
type LinkState = "idle" | "running" | "draining" | "closed";

export class ServiceLink {
  private readonly o: ServiceLinkOptions;
  private readonly on: ServiceLinkHandlers;
  private readonly log: Logger;

  private state: LinkState = "idle";
  private dealer: Dealer | undefined;
  private _routingId = "";
  private _connected = false;
  private _registered = false;
  /** msgids of the INFORMs of the current registration attempt; an ACK must name one. */
  private readonly informs = new Set<string>();
  private lastInform = 0;
  private heard = false;
  private misses = 0;
  private beat: ReturnType<typeof setInterval> | undefined;
  private watchers: ReturnType<typeof setInterval>[] = [];
  /** open()'s promise while the first ACK has not come. */
  private firstAck: { resolve: () => void; reject: (e: Error) => void } | undefined;

  constructor(options: ServiceLinkOptions, handlers: ServiceLinkHandlers) {
    this.o = options;
    this.on = handlers;
    this.log = options.logger;
  }

  /** The DEALER routing id in use (a uuid4; a new one after the broker was lost). "" before open(). */
  get routingId(): string {
    return this._routingId;
  }

  /** Whether the broker has ACKed our current INFORM. */
  get registered(): boolean {
    return this._registered;
  }

  /** Whether a connection to the broker is up now. */
  get connected(): boolean {
    return this._connected;
  }

  /**
   * Connects and INFORMs, and starts the timers. Throws (EINVAL) on a bad address. The promise
   * resolves at the first ACK (we keep trying until then), after `registered` has run; it rejects
   * with the error given to drain() or close() if one of them comes first.
   */
  open(): Promise<void> {
    if (this.state !== "idle") throw new Error(`open() on a ${this.state} service link`);
    this.openDealer();
    const first = new Promise<void>((resolve, reject) => (this.firstAck = { resolve, reject }));
    this.state = "running";
    const o = this.o;
    this.beat = setInterval(() => this.heartbeat(), o.heartbeatInterval);
    this.watchers.push(
      setInterval(() => this.checkLiveness(), o.heartbeatTimeout),
      setInterval(() => this.reinformIfUnanswered(), Math.max(10, Math.min(o.informInterval, 1000))),
    );
    return first;
  }

  /** No more registering or liveness checks; HEARTBEATs go on (while registered) until close(). */
  drain(abandoned?: Error): void {
    if (this.state === "closed") return;
    this.state = "draining";
    this.clearWatchers();
    this.abandon(abandoned);
  }

  /** Stops the timers and closes the DEALER (it lingers so what was sent goes out). */
  close(abandoned?: Error): void {
    this.state = "closed";
    this.abandon(abandoned);
    this.clearWatchers();
    clearInterval(this.beat);
    this.beat = undefined;
    this.dealer?.close();
    this._registered = false;
  }

  send(frames: Buffer[]): void {
    const dealer = this.dealer;
    if (!dealer || dealer.closed) return;
    dealer.send(frames).catch((err: Error) => {
      if (dealer.closed) return; // replaced or stopped: what was queued is given up on purpose
      this.log.warn("could not send to the broker", { address: this.o.address, error: err });
    });
  }

  /** open()'s promise, if still waiting for the first ACK, rejects with `err`. */
  private abandon(err: Error | undefined): void {
    if (!this.firstAck) return;
    this.firstAck.reject(err ?? new Error("the service link closed before the broker ACKed it"));
    this.firstAck = undefined;
  }

  private clearWatchers(): void {
    for (const t of this.watchers) clearInterval(t);
    this.watchers = [];
  }

  // ---- connection and registration ------------------------------------------------------------

  private openDealer(): void {
    const id = newMsgid();
    const dealer = new Dealer({ routingId: id, linger: this.o.linger });
    let lost = false;
    dealer.events.on("handshake", () => {
      if (dealer !== this.dealer) return;
      this._connected = true;
      if (!lost) {
        // The first connection: the INFORM queued at open goes out now; wait for its ACK from here.
        this.lastInform = performance.now();
      } else {
        lost = false;
        if (this.state !== "running") return;
        this.log.info("reconnected to the broker: registering again", { address: this.o.address });
        this.on.reconnect("reconnected");
        this.register();
      }
      if (this.state === "running") this.on.connected?.();
    });
    dealer.events.on("disconnect", (e) => {
      if (dealer !== this.dealer) return;
      lost = true;
      this._connected = false;
      // Whatever the broker knew of us is gone with the connection (ours forgets at once).
      this._registered = false;
      if (this.state === "running") this.log.warn("lost the broker; reconnecting", { address: this.o.address, error: e.error });
    });
    try {
      dealer.connect(this.o.address);
    } catch (err) {
      dealer.close();
      throw err; // EINVAL: a bad address
    }
    this.dealer = dealer;
    this._routingId = id;
    this._connected = false;
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
    this.send(encode({ command: "INFORM", msgid, queues: this.o.queues, clientType: this.o.clientType }));
  }

  private reinformIfUnanswered(): void {
    if (this.state !== "running" || this._registered || !this._connected) return;
    if (performance.now() - this.lastInform < this.o.informInterval) return;
    this.log.info("no ACK from the broker yet: INFORM again", { address: this.o.address });
    this.inform();
  }

  private heartbeat(): void {
    if ((this.state !== "running" && this.state !== "draining") || !this._registered || !this._connected) return;
    this.send(encode({ command: "HEARTBEAT", msgid: newMsgid(), time: heartbeatTime() }));
  }

  private checkLiveness(): void {
    if (this.state !== "running") return;
    if (this.heard) {
      this.heard = false;
      this.misses = 0;
      return;
    }
    if (++this.misses < this.o.heartbeatLiveness) return;
    const old = this.dealer!;
    this.log.warn("the broker has been silent: reconnecting with a new routing id", {
      address: this.o.address,
      silentMs: this.misses * this.o.heartbeatTimeout,
      oldRoutingId: this._routingId,
    });
    old.linger = 0;
    old.close();
    this.openDealer();
    this.on.reconnect("liveness");
  }

  // ---- messages from the broker ---------------------------------------------------------------

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

  private onMessage(msg: Buffer[]): void {
    this.heard = true;
    let cmd: Command;
    try {
      cmd = decode(msg);
    } catch (err) {
      if (err instanceof EmqpError) return this.on.dropped(err.reason, err.message, "warn");
      return this.on.dropped("bad-message", String(err), "warn");
    }
    try {
      this.onCommand(cmd);
    } catch (err) {
      // A bug here must not take the service down; say what happened and carry on.
      this.log.error("handling a message from the broker failed", { command: cmd.command, error: err as Error });
    }
  }

  private onCommand(cmd: Command): void {
    switch (cmd.command) {
      case "ACK":
        return this.onAck(cmd.acked);
      case "HEARTBEAT":
        return;
      case "KBYE":
        if (this.state !== "running") return;
        // While we wait for an ACK, our INFORM is already on its way (a KBYE then answers
        // something we sent before it): no need for another.
        if (!this._registered) return this.log.debug("KBYE while registering: ignored");
        this.log.info("the broker said KBYE: registering again", { address: this.o.address });
        this.on.reconnect("kbye");
        return this.register();
      default:
        return this.on.command(cmd);
    }
  }

  private onAck(acked: string): void {
    if (this.state !== "running") return;
    if (this._registered || !this.informs.has(acked)) {
      return this.on.dropped("unexpected-ack", `ACK for an INFORM we are not waiting on (${acked.slice(0, 60)})`, "debug");
    }
    this._registered = true;
    this.informs.clear();
    this.on.registered({ routingId: this._routingId });
    this.firstAck?.resolve();
    this.firstAck = undefined;
  }
}
