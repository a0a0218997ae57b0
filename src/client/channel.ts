// The DEALER that Client and Admin talk through: a uuid4 routing id (EventMQ's broker decodes every
// frame, the routing id included, as UTF-8, and crashes on anything else), a receive loop that turns
// frames into eMQP commands (garbage is logged and dropped, never thrown), and the messages still
// waiting for an answer, which it sends again, with the same msgid, once a lost connection is back.
//
// Which messages go again: those written on an earlier connection. A message sent while there is no
// connection waits in the DEALER's queue and goes out with the next handshake by itself, so it is
// not repeated. (A message stuck in the queue behind a full TCP buffer when the connection dropped
// may go out twice; the broker answers a repeated msgid from its cache instead of running it again.)

import type { Buffer } from "node:buffer";
import { Dealer } from "../socket/dealer.js";
import { decode, EmqpError, newMsgid, type Command } from "../emqp/index.js";
import type { Logger } from "../log/logger.js";

export interface ChannelOptions {
  address: string;
  logger: Logger;
  /** Our routing id; default a fresh uuid4. */
  routingId?: string;
  /** ZMTP PING interval in ms so a broker that vanished without closing is noticed; 0 = off. */
  heartbeatInterval: number;
  /** Called for every well-formed eMQP message from the broker. */
  onCommand: (cmd: Command) => void;
}

interface Outstanding {
  frames: Buffer[];
  /** The connection (counted by handshakes) the message went out on, or will go out on. */
  epoch: number;
}

export class Channel {
  readonly address: string;
  readonly routingId: string;
  private readonly dealer: Dealer;
  private readonly log: Logger;
  private readonly onCommand: (cmd: Command) => void;
  private readonly outstanding = new Map<string, Outstanding>();
  private epoch = 0;
  private _connected = false;
  private _everConnected = false;
  private _closed = false;

  constructor(options: ChannelOptions) {
    this.address = options.address;
    this.log = options.logger;
    this.onCommand = options.onCommand;
    this.routingId = options.routingId ?? newMsgid();
    const hb = options.heartbeatInterval;
    this.dealer = new Dealer({
      routingId: this.routingId,
      // Callers are told at close() that their calls failed; a message going out after that would
      // only surprise them, and a dead broker must not keep the process alive.
      linger: 0,
      ...(hb > 0 ? { heartbeatInterval: hb, heartbeatTimeout: hb * 3 } : {}),
    });
    this.dealer.events.on("handshake", () => this.onHandshake());
    this.dealer.events.on("disconnect", (e) => {
      this._connected = false;
      this.log.info("lost the broker; will reconnect", { address: this.address, error: e.error });
    });
    this.dealer.connect(this.address);
    void this.readLoop();
  }

  /** Whether a connection to the broker is up right now. */
  get connected(): boolean {
    return this._connected;
  }

  /** Whether a connection to the broker ever completed its handshake. */
  get everConnected(): boolean {
    return this._everConnected;
  }

  get closed(): boolean {
    return this._closed;
  }

  /** Sends a message; with `resend`, it goes again after a reconnect until forget(msgid). */
  send(msgid: string, frames: Buffer[], resend: boolean): void {
    if (this._closed) return;
    if (resend) this.outstanding.set(msgid, { frames, epoch: this._connected ? this.epoch : this.epoch + 1 });
    this.write(frames);
  }

  /** The answer came (or the caller gave up): no more re-sends. */
  forget(msgid: string): void {
    this.outstanding.delete(msgid);
  }

  close(): void {
    if (this._closed) return;
    this._closed = true;
    this.outstanding.clear();
    this.dealer.close();
  }

  private write(frames: Buffer[]): void {
    this.dealer.send(frames).catch((err: Error & { code?: string }) => {
      if (this._closed) return; // close() rejects what was still queued: the callers already know
      this.log.warn("could not send to the broker", { address: this.address, error: err });
    });
  }

  private onHandshake(): void {
    this.epoch++;
    this._connected = true;
    const first = !this._everConnected;
    this._everConnected = true;
    let again = 0;
    for (const o of this.outstanding.values()) {
      if (o.epoch >= this.epoch) continue;
      o.epoch = this.epoch;
      this.write(o.frames);
      again++;
    }
    if (first) this.log.debug("connected to the broker", { address: this.address, routingId: this.routingId });
    else this.log.info("reconnected to the broker", { address: this.address, resent: again });
  }

  private async readLoop(): Promise<void> {
    try {
      for await (const frames of this.dealer) this.dispatch(frames);
    } catch (err) {
      if (!this._closed) this.log.error("receiving from the broker failed", { address: this.address, error: err });
    }
  }

  private dispatch(frames: Buffer[]): void {
    let cmd: Command;
    try {
      cmd = decode(frames);
    } catch (err) {
      const reason = err instanceof EmqpError ? err.reason : "undecodable";
      this.log.warn("dropped a malformed message from the broker", { reason, error: (err as Error).message, frames: frames.length });
      return;
    }
    try {
      this.onCommand(cmd);
    } catch (err) {
      // A handler bug must not end the receive loop: every later answer would be lost with it.
      this.log.error("handling a message from the broker failed", { command: cmd.command, error: err });
    }
  }
}
