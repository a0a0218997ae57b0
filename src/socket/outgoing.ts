// What a pipe's outgoing queue holds: a message as frames, or (PUB/XPUB fan-out to several peers)
// the same message already framed once for every network peer. A queued message may end up on an
// inproc link, which carries frames, not bytes, so the encoded form keeps its frames too.

import { Buffer } from "node:buffer";
import type { Link } from "../transport/link.js";
import { MORE, headerSize, writeHeader } from "../zmtp/index.js";

export class EncodedMessage {
  constructor(
    readonly frames: Buffer[],
    readonly bytes: Uint8Array,
  ) {}
}

export type Outgoing = Buffer[] | EncodedMessage;

/** The whole message framed once, in a buffer from Node's pool (much cheaper than a fresh typed
 * array for the small messages that dominate pub/sub). */
export function encodeOnce(frames: readonly Buffer[]): Buffer {
  const last = frames.length - 1;
  let size = 0;
  for (let i = 0; i <= last; i++) size += headerSize(frames[i]!.length) + frames[i]!.length;
  const out = Buffer.allocUnsafe(size);
  let off = 0;
  for (let i = 0; i <= last; i++) {
    const body = frames[i]!;
    off = writeHeader(out, off, i < last ? MORE : 0, body.length);
    out.set(body, off);
    off += body.length;
  }
  return out;
}

/** Stages a queued message on a link, using its encoded bytes when the link carries bytes. */
export function sendOutgoing(conn: Link, m: Outgoing): void {
  if (Array.isArray(m)) conn.send(m);
  else if (conn.sendEncoded) conn.sendEncoded(m.bytes);
  else conn.send(m.frames);
}
