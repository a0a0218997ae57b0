// What send() accepts, as in zeromq.js: a frame or an array of frames, each a Buffer, any
// ArrayBufferView, ArrayBuffer, SharedArrayBuffer, string (UTF-8), number (its decimal text) or null.

import { Buffer } from "node:buffer";
import { SocketError } from "./errors.js";

export type MessageLike = Buffer | ArrayBufferView | ArrayBuffer | SharedArrayBuffer | string | number | null;
export type Message = MessageLike | readonly MessageLike[];

const EMPTY = Buffer.alloc(0);

export function toFrame(m: MessageLike): Buffer {
  if (Buffer.isBuffer(m)) return m;
  if (typeof m === "string") return Buffer.from(m, "utf8");
  if (m === null) return EMPTY;
  if (typeof m === "number") return Buffer.from(String(m), "utf8");
  if (ArrayBuffer.isView(m)) return Buffer.from(m.buffer, m.byteOffset, m.byteLength);
  if (m instanceof ArrayBuffer || (typeof SharedArrayBuffer !== "undefined" && m instanceof SharedArrayBuffer)) {
    return Buffer.from(m as ArrayBuffer);
  }
  throw new SocketError("EINVAL", `cannot send a frame of type ${typeof m}`);
}

export function toFrames(msg: Message): Buffer[] {
  if (Array.isArray(msg)) {
    if (msg.length === 0) throw new SocketError("EINVAL", "cannot send a message with no frames");
    const out = new Array<Buffer>(msg.length);
    for (let i = 0; i < msg.length; i++) out[i] = toFrame(msg[i] as MessageLike);
    return out;
  }
  return [toFrame(msg as MessageLike)];
}
