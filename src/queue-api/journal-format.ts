// The journal file's format: header, record frames and their checksums, building frames and
// reading them back (torn tail vs damage). Apart from journal.ts, which does the I/O policy
// (batching, fsync, compaction, locking) and calls into this.
//
// File format (all integers little-endian):
//   header, 32 bytes:
//     0  8  magic "EMQJRNL\0"
//     8  4  version = 1
//     12 4  salt: random per file, mixed into every frame-header checksum (below)
//     16 8  snapshotEnd: offset of the first record appended after the snapshot this file was
//           compacted from (32 for a file that never was)
//     24 4  reserved, 0
//     28 4  CRC-32 of bytes 0..28
//   then records, each framed as:
//     0  4  payload length n, 1 <= n <= 64 MiB
//     4  4  CRC-32 of the payload
//     8  4  CRC-32 of (salt ‖ bytes 0..8 of this frame): the frame-header checksum
//     12 n  payload: the record in MessagePack (useBigInt64: int64/uint64 are bigints)
//
// Why a separate, salted frame-header checksum: to tell a torn tail from damage in the middle, the
// reader looks for any valid-looking frame after a bad one (below), and needs to test candidate
// offsets in O(1) without hashing a claimed 64 MiB payload. The salt makes frames from another file
// (an old journal's blocks, a journal posted as a message body and stored inside a record) fail the
// check, so they cannot pass for ours by anything but the 2^-32 chance.

import type { FileHandle } from "node:fs/promises";
import { decodeMsgpackValue, encodeValue } from "./codec.js";
import { crc32, crcFinish, crcUpdate } from "./crc32.js";
import { JournalError } from "./journal-error.js";

// ---- format constants ----

const MAGIC = Buffer.from("EMQJRNL\0", "latin1");
const VERSION = 1;
export const HEADER_SIZE = 32;
const FRAME_HEADER = 12;
/** Largest payload written or accepted on read. */
export const MAX_RECORD_BYTES = 64 * 1024 * 1024;
/** Snapshot chunks and read windows. */
const CHUNK = 1024 * 1024;

/** The CRC state after the salt: the starting point of every frame-header checksum in a file. */
export const saltState = (salt: Uint8Array): number => crcUpdate(0xffffffff, salt, 0, 4);

/** Frame-header checksum of the frame starting at `at` in `b`. */
const frameHeaderCrc = (salted: number, b: Uint8Array, at: number): number => crcFinish(crcUpdate(salted, b, at, at + 8));

// ---- records ----

/**
 * Encodes a record with the queue API's own msgpack codec, so that whatever a request could carry
 * (bigints up to 64 bits, a "__proto__" key) is written and read back exactly. Refuses what it
 * cannot encode. The result is a fresh array.
 */
function encodePayload(record: unknown): Uint8Array {
  let payload: Uint8Array;
  try {
    payload = encodeValue(record, "msgpack");
  } catch (e) {
    throw new JournalError("EJOURNALRECORD", `record cannot be encoded: ${(e as Error).message}`, { cause: e });
  }
  if (payload.length > MAX_RECORD_BYTES) {
    throw new JournalError("EJOURNALRECORD", `record is ${payload.length} bytes encoded, over the ${MAX_RECORD_BYTES}-byte limit`);
  }
  return payload;
}

/** A frame with length and payload checksum filled in; the salted header checksum is stamped when written. */
export function encodeFrame(record: unknown): Buffer {
  const payload = encodePayload(record);
  const frame = Buffer.allocUnsafe(FRAME_HEADER + payload.length);
  frame.set(payload, FRAME_HEADER);
  frame.writeUInt32LE(payload.length, 0);
  frame.writeUInt32LE(crc32(payload), 4);
  return frame;
}

export const stamp = (frame: Buffer, salted: number, at = 0): void => {
  frame.writeUInt32LE(frameHeaderCrc(salted, frame, at), at + 8);
};

export function makeHeader(salt: Uint8Array, snapshotEnd: number): Buffer {
  const h = Buffer.alloc(HEADER_SIZE);
  MAGIC.copy(h, 0);
  h.writeUInt32LE(VERSION, 8);
  h.set(salt.subarray(0, 4), 12);
  h.writeBigUInt64LE(BigInt(snapshotEnd), 16);
  h.writeUInt32LE(crc32(h, 0, 28), 28);
  return h;
}

/** Frames a snapshot into write-sized chunks, synchronously. */
export class ChunkBuilder {
  readonly chunks: Buffer[] = [];
  bytes = 0;
  records = 0;
  private cur = Buffer.allocUnsafe(CHUNK);
  private pos = 0;

  constructor(private readonly salted: number) {}

  add(record: unknown): void {
    const payload = encodePayload(record);
    const size = FRAME_HEADER + payload.length;
    let target: Buffer;
    let at: number;
    if (size > CHUNK) {
      this.seal();
      target = Buffer.allocUnsafe(size);
      at = 0;
      this.chunks.push(target);
    } else {
      if (this.pos + size > CHUNK) this.seal();
      target = this.cur;
      at = this.pos;
      this.pos += size;
    }
    target.writeUInt32LE(payload.length, at);
    target.writeUInt32LE(crc32(payload), at + 4);
    stamp(target, this.salted, at);
    target.set(payload, at + FRAME_HEADER);
    this.bytes += size;
    this.records++;
  }

  finish(): Buffer[] {
    this.seal();
    return this.chunks;
  }

  private seal(): void {
    if (this.pos === 0) return;
    this.chunks.push(this.cur.subarray(0, this.pos));
    this.cur = Buffer.allocUnsafe(CHUNK);
    this.pos = 0;
  }
}

// ---- reading ----

/** Reads a file through a window, so records are not awaited one by one. */
class WindowReader {
  private buf: Buffer = Buffer.alloc(0);
  private start = 0;

  constructor(
    private readonly handle: FileHandle,
    readonly size: number,
  ) {}

  /** Bytes [off, off + len) if the window holds them. The view is valid until the next load. */
  view(off: number, len: number): Buffer | undefined {
    const rel = off - this.start;
    if (rel >= 0 && rel + len <= this.buf.length) return this.buf.subarray(rel, rel + len);
    return undefined;
  }

  /** Moves the window to start at `off`, at least `len` bytes long (callers keep off + len <= size). */
  async load(off: number, len: number): Promise<Buffer> {
    const want = Math.min(Math.max(len, CHUNK), this.size - off);
    const buf = Buffer.allocUnsafe(want);
    let got = 0;
    while (got < want) {
      const { bytesRead } = await this.handle.read(buf, got, want - got, off + got);
      if (bytesRead === 0) break;
      got += bytesRead;
    }
    if (got < len) throw new Error(`file shrank while being read (wanted ${len} bytes at ${off}, got ${got})`);
    this.buf = buf.subarray(0, got);
    this.start = off;
    return this.buf.subarray(0, len);
  }

  async bytes(off: number, len: number): Promise<Buffer> {
    return this.view(off, len) ?? this.load(off, len);
  }
}

/** Offset of the first plausible frame header (length in range, salted checksum right) at or after `from`, or -1. */
async function findFrame(reader: WindowReader, from: number, salted: number): Promise<number> {
  const size = reader.size;
  let y = from;
  while (y + FRAME_HEADER <= size) {
    const len = Math.min(CHUNK + FRAME_HEADER - 1, size - y);
    const win = await reader.bytes(y, len);
    const last = len - FRAME_HEADER;
    for (let k = 0; k <= last; k++) {
      const n = win.readUInt32LE(k);
      if (n === 0 || n > MAX_RECORD_BYTES) continue;
      if (frameHeaderCrc(salted, win, k) === win.readUInt32LE(k + 8)) return y + k;
    }
    y += last + 1;
  }
  return -1;
}

interface ReadResult {
  records: unknown[];
  /** Offset just past the last intact record. */
  end: number;
}

export async function readRecords(handle: FileHandle, file: string, size: number, salted: number): Promise<ReadResult> {
  const reader = new WindowReader(handle, size);
  const records: unknown[] = [];
  let off = HEADER_SIZE;
  const damaged = async (why: string): Promise<ReadResult> => {
    const next = await findFrame(reader, off + 1, salted);
    if (next >= 0) {
      throw new JournalError(
        "EJOURNALCORRUPT",
        `journal ${file} is corrupt at offset ${off}: ${why}, and a valid record follows at offset ${next}`,
        { file, offset: off },
      );
    }
    return { records, end: off };
  };
  while (off < size) {
    if (off + FRAME_HEADER > size) return { records, end: off };
    const h = await reader.bytes(off, FRAME_HEADER);
    const len = h.readUInt32LE(0);
    const payloadCrc = h.readUInt32LE(4);
    if (len === 0 || len > MAX_RECORD_BYTES || frameHeaderCrc(salted, h, 0) !== h.readUInt32LE(8)) {
      return damaged("bad frame header");
    }
    // An intact header whose payload runs past the end: the write was cut short.
    if (off + FRAME_HEADER + len > size) return { records, end: off };
    const payload = await reader.bytes(off + FRAME_HEADER, len);
    if (crc32(payload) !== payloadCrc) return damaged("payload checksum mismatch");
    try {
      records.push(decodeMsgpackValue(payload));
    } catch (e) {
      throw new JournalError(
        "EJOURNALCORRUPT",
        `journal ${file} is corrupt at offset ${off}: the record's checksums hold but it does not decode (${(e as Error).message})`,
        { file, offset: off, cause: e },
      );
    }
    off += FRAME_HEADER + len;
  }
  return { records, end: off };
}

/** Whether `b` (shorter than a header) could be the start of one. */
export function isHeaderPrefix(b: Buffer): boolean {
  const version = Buffer.alloc(4);
  version.writeUInt32LE(VERSION, 0);
  const expect = Buffer.concat([MAGIC, version]);
  const n = Math.min(b.length, expect.length);
  return b.subarray(0, n).equals(expect.subarray(0, n));
}

export function parseHeader(h: Buffer, file: string): { salt: Buffer; snapshotEnd: number } {
  const corrupt = (why: string) => new JournalError("EJOURNALCORRUPT", `journal ${file} is corrupt at offset 0: ${why}`, { file, offset: 0 });
  if (!h.subarray(0, 8).equals(MAGIC)) throw corrupt("not an emq journal (bad magic)");
  if (crc32(h, 0, 28) !== h.readUInt32LE(28)) throw corrupt("header checksum mismatch");
  const version = h.readUInt32LE(8);
  if (version !== VERSION) throw corrupt(`unsupported journal version ${version}`);
  const end = h.readBigUInt64LE(16);
  return { salt: Buffer.from(h.subarray(12, 16)), snapshotEnd: end > BigInt(Number.MAX_SAFE_INTEGER) ? Number.MAX_SAFE_INTEGER : Number(end) };
}
