// Output staging: frames are encoded into a shared slab so that many small messages leave in one
// write; bodies of COPY_LIMIT bytes or more are queued by reference and never copied. The transport
// calls take() once per turn of its event loop (or sooner, once `pending` passes its threshold).
// Taken chunks are views of the slab that are never written again: the slab only moves forward.

import { headerSize, writeHeader, MORE } from "./frame.js";
import type { Allocator } from "./decoder.js";

const SLAB_SIZE = 64 * 1024;
/** Bodies at least this large are written by reference instead of copied into the slab. */
export const COPY_LIMIT = 8 * 1024;

export class FrameWriter {
  private readonly alloc: Allocator;
  private slab: Uint8Array;
  private start = 0;
  private pos = 0;
  private chunks: Uint8Array[] = [];
  /** Bytes staged and not yet taken. */
  pending = 0;
  /** Called when the writer goes from empty to non-empty, so the owner can schedule a flush. */
  onPending: (() => void) | undefined;

  constructor(alloc: Allocator = (n) => new Uint8Array(n)) {
    this.alloc = alloc;
    this.slab = alloc(SLAB_SIZE);
  }

  /** Appends one frame. */
  frame(flags: number, body: Uint8Array): void {
    const len = body.length;
    const hlen = headerSize(len);
    if (len >= COPY_LIMIT) {
      this.reserve(hlen);
      this.pos = writeHeader(this.slab, this.pos, flags, len);
      this.cut();
      this.chunks.push(body);
    } else {
      this.reserve(hlen + len);
      const p = writeHeader(this.slab, this.pos, flags, len);
      if (len === 1) this.slab[p] = body[0]!;
      else if (len > 0) this.slab.set(body, p);
      this.pos = p + len;
    }
    this.added(hlen + len);
  }

  /** Appends a whole multipart message: frames[start..] (ROUTER skips its routing-id frame). */
  message(frames: readonly Uint8Array[], start = 0): void {
    const last = frames.length - 1;
    // An empty message cannot be framed; refusing beats silently sending frames[last] alone.
    if (start > last) throw new RangeError("a message needs at least one frame after `start`");
    for (let i = start; i < last; i++) this.frame(MORE, frames[i]!);
    this.frame(0, frames[last]!);
  }

  /** Appends bytes already framed by encodeMessage() (PUB encodes a message once for all
   * subscribers): small ones are copied into the slab, big ones written by reference. */
  encoded(bytes: Uint8Array): void {
    if (bytes.length >= COPY_LIMIT) {
      this.cut();
      this.chunks.push(bytes);
      this.added(bytes.length);
      return;
    }
    this.raw(bytes);
  }

  /** Appends raw bytes (the greeting). */
  raw(bytes: Uint8Array): void {
    this.reserve(bytes.length);
    this.slab.set(bytes, this.pos);
    this.pos += bytes.length;
    this.added(bytes.length);
  }

  /** Hands over everything staged, in order. */
  take(): Uint8Array[] {
    this.cut();
    const out = this.chunks;
    this.chunks = [];
    this.pending = 0;
    return out;
  }

  private added(n: number): void {
    const was = this.pending;
    this.pending = was + n;
    if (was === 0 && this.onPending) this.onPending();
  }

  private reserve(n: number): void {
    if (this.slab.length - this.pos >= n) return;
    this.cut();
    this.slab = this.alloc(Math.max(SLAB_SIZE, n));
    this.start = this.pos = 0;
  }

  private cut(): void {
    if (this.pos > this.start) {
      this.chunks.push(this.slab.subarray(this.start, this.pos));
      this.start = this.pos;
    }
  }
}
