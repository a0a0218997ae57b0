// ROUTER: every incoming message is prefixed with the sender's routing id; an outgoing message's
// first frame names the peer. Routing ids come from the peer's Identity property, or are generated
// as 0x00 + a 32-bit counter (starting at a random value) like libzmq's. Unknown ids and full peers
// drop the message, unless `mandatory`: then unknown ids reject with EHOSTUNREACH and full peers
// make send() wait.

import { Buffer } from "node:buffer";
import { SocketError } from "./errors.js";
import { toFrame } from "./message.js";
import type { SocketOptions } from "./options.js";
import type { Pipe } from "./pipe.js";
import { Socket } from "./socket.js";
import type { RoutingIdOptions } from "./dealer.js";

export interface RouterOptions extends SocketOptions, RoutingIdOptions {
  /** Reject sends to unknown peers with EHOSTUNREACH, and wait instead of dropping when a peer is full. */
  mandatory?: boolean;
  /** A new peer with a routing id already in use takes it over (the old connection is closed). */
  handover?: boolean;
}

export interface RouterConnectOptions {
  /** The routing id to use for this peer, so we can send to it before it ever sends to us. */
  routingId?: string | Buffer;
}

const keyOf = (id: Buffer): string => id.toString("latin1");

export class Router extends Socket {
  override routingId: string | Buffer | undefined = undefined;
  mandatory = false;
  handover = false;

  private readonly _byId = new Map<string, Pipe>();
  private _nextId = (Math.random() * 0x1_0000_0000) >>> 0;

  constructor(options?: RouterOptions) {
    super("ROUTER");
    this._applyOptions(options);
  }

  override connect(address: string, options?: RouterConnectOptions): void {
    let preset: Buffer | undefined;
    if (options?.routingId !== undefined) {
      preset = toFrame(options.routingId);
      if (preset.length === 0 || preset.length > 255) throw new SocketError("EINVAL", "routingId must be 1-255 bytes");
      if (this._byId.has(keyOf(preset))) throw new SocketError("EINVAL", "routingId already in use");
    }
    const pipe = this._connect(address);
    if (preset) {
      pipe.presetRoutingId = preset;
      this._register(pipe, preset);
    }
  }

  protected override _pipeAttached(pipe: Pipe): boolean | string {
    if (pipe.presetRoutingId) return true; // registered at connect()
    const claimed = pipe.peer!.identity;
    let id: Buffer;
    if (claimed.length > 0) {
      id = Buffer.from(claimed.buffer, claimed.byteOffset, claimed.length);
      const holder = this._byId.get(keyOf(id));
      if (holder && holder !== pipe) {
        // libzmq leaves a duplicate unroutable; we refuse it, and say why.
        if (!this.handover) return `routing id ${JSON.stringify(id.toString("latin1"))} is already in use (set handover to let a new peer take it)`;
        this._unregister(holder);
        holder.replaced = true;
        holder.conn?.destroy();
      }
    } else {
      id = Buffer.allocUnsafe(5);
      id[0] = 0;
      do {
        // A peer may have claimed a 0-prefixed id itself: never take one that is in use.
        id.writeUInt32BE(this._nextId, 1);
        this._nextId = (this._nextId + 1) >>> 0;
      } while (this._byId.has(keyOf(id)));
    }
    this._register(pipe, Buffer.from(id)); // own copy: the identity is a view of a network chunk
    return true;
  }

  protected override _pipeDetached(pipe: Pipe): void {
    if (!pipe.presetRoutingId || pipe.removed) this._unregister(pipe);
  }

  protected override _pipeRemoved(pipe: Pipe): void {
    this._unregister(pipe);
  }

  protected override _xrecv(pipe: Pipe, frames: Buffer[]): Buffer[] | undefined {
    const id = pipe.routingId;
    if (!id) return undefined;
    // A fresh array is much cheaper than unshift() on the hot path.
    const n = frames.length;
    if (n === 1) return [id, frames[0]!];
    const out = new Array<Buffer>(n + 1);
    out[0] = id;
    for (let i = 0; i < n; i++) out[i + 1] = frames[i]!;
    return out;
  }

  protected override _xsend(msg: Buffer[]): boolean {
    if (msg.length < 2) throw new SocketError("EINVAL", "a ROUTER message needs a routing id frame and at least one more frame");
    const pipe = this._byId.get(keyOf(msg[0]!));
    if (!pipe) {
      if (this.mandatory) throw new SocketError("EHOSTUNREACH", "Host unreachable: no peer with that routing id");
      return true; // dropped, as libzmq does
    }
    if (!this._hasRoom(pipe)) return !this.mandatory; // drop, or wait for room
    this._write(pipe, msg, 1);
    return true;
  }

  private _register(pipe: Pipe, id: Buffer): void {
    pipe.routingId = id;
    pipe.routingKey = keyOf(id);
    this._byId.set(pipe.routingKey, pipe);
  }

  private _unregister(pipe: Pipe): void {
    if (pipe.routingKey !== undefined && this._byId.get(pipe.routingKey) === pipe) this._byId.delete(pipe.routingKey);
  }
}
