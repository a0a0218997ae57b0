// Streaming frame decoder: feed it chunks as they arrive, it calls `onFrame(flags, body)` per frame.
// A frame wholly inside one chunk is handed out as a view of that chunk (no copy); only frames
// that straddle chunks are copied. The size limit is checked from the header, before anything is
// allocated, and large straddling bodies are collected as a list of the chunks themselves so that
// memory grows with the bytes actually received, never with the size a peer merely claims.

import { ZmtpError, protocolError } from "./errors.js";
import { LONG, MAX_SAFE_SIZE } from "./frame.js";

export type FrameHandler = (flags: number, body: Uint8Array) => void;
export type Allocator = (size: number) => Uint8Array;

export interface DecoderOptions {
  /** Largest frame body accepted; larger is an EMSGSIZE error. Default: unlimited (2^53 - 1). */
  maxFrameSize?: number;
  /** Allocator for straddling frames, e.g. Buffer.allocUnsafe so bodies come out as Buffers. */
  alloc?: Allocator;
}

/** Bodies up to this size that straddle chunks are copied into one preallocated buffer. */
const PREALLOCATE_LIMIT = 64 * 1024;

const defaultAlloc: Allocator = (n) => new Uint8Array(n);

export class FrameDecoder {
  private readonly maxFrameSize: number;
  private readonly alloc: Allocator;
  private readonly onFrame: FrameHandler;

  // Partial header state.
  private readonly header = new Uint8Array(9);
  private headerLength = 0;
  // Partial body state (a frame straddling chunks).
  private flags = 0;
  private remaining = 0;
  private body: Uint8Array | null = null; // preallocated target, for small frames
  private bodyOffset = 0;
  private parts: Uint8Array[] | null = null; // collected chunks, for large frames
  private partsSize = 0;
  private inBody = false;
  private failed: ZmtpError | undefined;
  private stopped = false;

  constructor(onFrame: FrameHandler, options: DecoderOptions = {}) {
    this.onFrame = onFrame;
    this.maxFrameSize = Math.min(options.maxFrameSize ?? MAX_SAFE_SIZE, MAX_SAFE_SIZE);
    this.alloc = options.alloc ?? defaultAlloc;
  }

  /** Stops decoding: the rest of the current chunk and any later chunk are ignored. */
  stop(): void {
    this.stopped = true;
  }

  get error(): ZmtpError | undefined {
    return this.failed;
  }

  /** Decodes a chunk. Returns an error once the stream is malformed; the decoder is dead after it. */
  push(chunk: Uint8Array): ZmtpError | undefined {
    if (this.failed) return this.failed;
    const end = chunk.length;
    let off = 0;
    while (off < end && !this.stopped) {
      if (this.inBody) {
        off = this.continueBody(chunk, off);
        continue;
      }
      // Fast path: a whole header in this chunk and no partial header pending.
      let size: number;
      let flags: number;
      if (this.headerLength === 0) {
        flags = chunk[off]!;
        const need = flags & LONG ? 9 : 2;
        if (end - off >= need) {
          size = need === 2 ? chunk[off + 1]! : this.readLongSize(chunk, off + 1);
          off += need;
        } else {
          this.header.set(chunk.subarray(off, end), 0);
          this.headerLength = end - off;
          return undefined;
        }
      } else {
        flags = this.header[0]!;
        const need = flags & LONG ? 9 : 2;
        const take = Math.min(need - this.headerLength, end - off);
        this.header.set(chunk.subarray(off, off + take), this.headerLength);
        this.headerLength += take;
        off += take;
        if (this.headerLength < need) return undefined;
        size = need === 2 ? this.header[1]! : this.readLongSize(this.header, 1);
        this.headerLength = 0;
      }
      if (size < 0) return this.fail(protocolError("frame-size-overflow", "frame size does not fit in 53 bits"));
      if (size > this.maxFrameSize) {
        return this.fail(
          new ZmtpError("EMSGSIZE", "frame-too-large", `frame of ${size} bytes exceeds maxMessageSize ${this.maxFrameSize}`),
        );
      }
      if (end - off >= size) {
        const body = chunk.subarray(off, off + size);
        off += size;
        this.onFrame(flags, body);
        continue;
      }
      this.startBody(flags, size);
    }
    return this.failed;
  }

  private readLongSize(b: Uint8Array, off: number): number {
    const hi = ((b[off]! << 24) | (b[off + 1]! << 16) | (b[off + 2]! << 8) | b[off + 3]!) >>> 0;
    const lo = ((b[off + 4]! << 24) | (b[off + 5]! << 16) | (b[off + 6]! << 8) | b[off + 7]!) >>> 0;
    if (hi > 0x1f_ffff) return -1; // above 2^53 - 1
    return hi * 0x1_0000_0000 + lo;
  }

  private startBody(flags: number, size: number): void {
    this.inBody = true;
    this.flags = flags;
    this.remaining = size;
    if (size <= PREALLOCATE_LIMIT) {
      this.body = this.alloc(size);
      this.bodyOffset = 0;
    } else {
      this.parts = [];
      this.partsSize = 0;
    }
  }

  private continueBody(chunk: Uint8Array, off: number): number {
    const take = Math.min(this.remaining, chunk.length - off);
    const piece = chunk.subarray(off, off + take);
    if (this.body) {
      this.body.set(piece, this.bodyOffset);
      this.bodyOffset += take;
    } else {
      this.parts!.push(piece);
      this.partsSize += take;
    }
    this.remaining -= take;
    if (this.remaining === 0) {
      let body: Uint8Array;
      if (this.body) {
        body = this.body;
      } else {
        body = this.alloc(this.partsSize);
        let o = 0;
        for (const p of this.parts!) {
          body.set(p, o);
          o += p.length;
        }
      }
      this.body = null;
      this.parts = null;
      this.inBody = false;
      this.onFrame(this.flags, body);
    }
    return off + take;
  }

  private fail(err: ZmtpError): ZmtpError {
    this.failed = err;
    this.stopped = true;
    return err;
  }
}
