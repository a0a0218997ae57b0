// The queue API's msgpack encoder: writes a reply value in its smallest msgpack form into a reused
// buffer. Separate from codec.ts as the hot half of reply encoding, with its own module state.

import { TWO32, checkBig, checkObject, scratch, unsupported, utf8Encoder } from "./codec-rules.js";

const INITIAL_BUFFER = 4096;
export const KEEP_BUFFER = 1 << 20; // a reply bigger than this does not pin its buffer
let outBuffer = new Uint8Array(INITIAL_BUFFER);
let out = outBuffer;
let o = 0;

/** encodeValue's msgpack half: a fresh array holding `value`. */
export function encodeMsgpack(value: unknown): Uint8Array {
  out = outBuffer;
  o = 0;
  writeMsgpack(value, 0);
  const bytes = out.slice(0, o);
  if (out.length > KEEP_BUFFER) out = new Uint8Array(INITIAL_BUFFER);
  outBuffer = out;
  return bytes;
}

function reserve(n: number): void {
  if (o + n <= out.length) return;
  const bigger = new Uint8Array(Math.max(out.length * 2, o + n));
  bigger.set(out.subarray(0, o));
  out = bigger;
}

function writeMsgpack(v: unknown, depth: number): void {
  switch (typeof v) {
    case "string":
      return writeStr(v);
    case "number":
      return writeNumber(v);
    case "boolean":
      reserve(1);
      out[o++] = v ? 0xc3 : 0xc2;
      return;
    case "bigint":
      return writeBig(v);
    case "undefined":
      reserve(1);
      out[o++] = 0xc0;
      return;
    case "object":
      if (v === null) {
        reserve(1);
        out[o++] = 0xc0;
        return;
      }
      checkObject(v, depth);
      if (Array.isArray(v)) {
        writeHeader(v.length, 0x90, 0xdc, 0xdd);
        for (let i = 0; i < v.length; i++) writeMsgpack(v[i], depth + 1);
        return;
      }
      {
        const map = v as Record<string, unknown>;
        const keys = Object.keys(map);
        let count = keys.length;
        for (let i = 0; i < keys.length; i++) if (map[keys[i]!] === undefined) count--;
        writeHeader(count, 0x80, 0xde, 0xdf);
        for (let i = 0; i < keys.length; i++) {
          const k = keys[i]!;
          const x = map[k];
          if (x === undefined) continue;
          writeStr(k);
          writeMsgpack(x, depth + 1);
        }
      }
      return;
    default:
      unsupported(v);
  }
}

/** A container header: fix form below 16, else 16- or 32-bit count. */
function writeHeader(n: number, fix: number, h16: number, h32: number): void {
  reserve(5);
  if (n < 16) out[o++] = fix | n;
  else if (n < 0x10000) {
    out[o++] = h16;
    out[o++] = n >>> 8;
    out[o++] = n & 0xff;
  } else {
    out[o++] = h32;
    writeU32(n);
  }
}

function writeU32(n: number): void {
  out[o++] = n >>> 24;
  out[o++] = (n >>> 16) & 0xff;
  out[o++] = (n >>> 8) & 0xff;
  out[o++] = n & 0xff;
}

function writeNumber(x: number): void {
  reserve(9);
  if (Number.isSafeInteger(x)) return writeInt(x);
  if (!Number.isFinite(x)) {
    out[o++] = 0xc0;
    return;
  }
  out[o++] = 0xcb;
  scratch.setFloat64(0, x);
  for (let i = 0; i < 8; i++) out[o++] = scratch.getUint8(i);
}

/** A safe integer in its smallest msgpack form (room for 9 bytes reserved by the caller). */
function writeInt(x: number): void {
  if (x >= 0) {
    if (x < 0x80) out[o++] = x;
    else if (x < 0x100) {
      out[o++] = 0xcc;
      out[o++] = x;
    } else if (x < 0x10000) {
      out[o++] = 0xcd;
      out[o++] = x >>> 8;
      out[o++] = x & 0xff;
    } else if (x < TWO32) {
      out[o++] = 0xce;
      writeU32(x);
    } else {
      out[o++] = 0xcf;
      writeU32(Math.floor(x / TWO32));
      writeU32(x >>> 0);
    }
  } else if (x >= -0x20) out[o++] = x & 0xff;
  else if (x >= -0x80) {
    out[o++] = 0xd0;
    out[o++] = x & 0xff;
  } else if (x >= -0x8000) {
    out[o++] = 0xd1;
    out[o++] = (x >> 8) & 0xff;
    out[o++] = x & 0xff;
  } else if (x >= -0x80000000) {
    out[o++] = 0xd2;
    writeU32(x >>> 0);
  } else {
    out[o++] = 0xd3;
    const hi = Math.floor(x / TWO32);
    writeU32(hi >>> 0);
    writeU32((x - hi * TWO32) >>> 0);
  }
}

/** A bigint: safe values like numbers; others as uint64 (non-negative) or int64 (negative). */
function writeBig(v: bigint): void {
  reserve(9);
  if (v >= -MAX_SAFE_BIG && v <= MAX_SAFE_BIG) return writeInt(Number(v));
  checkBig(v);
  if (v >= 0n) {
    out[o++] = 0xcf;
    scratch.setBigUint64(0, v);
  } else {
    out[o++] = 0xd3;
    scratch.setBigInt64(0, v);
  }
  for (let i = 0; i < 8; i++) out[o++] = scratch.getUint8(i);
}
export const MAX_SAFE_BIG = BigInt(Number.MAX_SAFE_INTEGER);

export const strHeaderSize = (len: number): number => (len < 32 ? 1 : len < 0x100 ? 2 : len < 0x10000 ? 3 : 5);

function writeStr(s: string): void {
  const maxBytes = s.length * 3;
  const room = strHeaderSize(maxBytes);
  reserve(room + maxBytes);
  const start = o + room;
  const len = s.length <= 64 ? utf8WriteShort(s, start) : utf8Encoder.encodeInto(s, out.subarray(start)).written;
  const header = strHeaderSize(len);
  if (header !== room) out.copyWithin(o + header, start, start + len);
  if (header === 1) out[o] = 0xa0 | len;
  else if (header === 2) {
    out[o] = 0xd9;
    out[o + 1] = len;
  } else if (header === 3) {
    out[o] = 0xda;
    out[o + 1] = len >>> 8;
    out[o + 2] = len & 0xff;
  } else {
    out[o] = 0xdb;
    out[o + 1] = len >>> 24;
    out[o + 2] = (len >>> 16) & 0xff;
    out[o + 3] = (len >>> 8) & 0xff;
    out[o + 4] = len & 0xff;
  }
  o += header + len;
}

/** UTF-8 of s at p (room checked by the caller); lone surrogates become U+FFFD as TextEncoder does. Returns the byte count. */
function utf8WriteShort(s: string, p: number): number {
  const start = p;
  for (let i = 0; i < s.length; i++) {
    let c = s.charCodeAt(i);
    if (c < 0x80) {
      out[p++] = c;
      continue;
    }
    if (c < 0x800) {
      out[p++] = 0xc0 | (c >> 6);
      out[p++] = 0x80 | (c & 0x3f);
      continue;
    }
    if (c >= 0xd800 && c <= 0xdfff) {
      const next = s.charCodeAt(i + 1);
      if (c <= 0xdbff && next >= 0xdc00 && next <= 0xdfff) {
        i++;
        c = 0x10000 + ((c - 0xd800) << 10) + (next - 0xdc00);
        out[p++] = 0xf0 | (c >> 18);
        out[p++] = 0x80 | ((c >> 12) & 0x3f);
        out[p++] = 0x80 | ((c >> 6) & 0x3f);
        out[p++] = 0x80 | (c & 0x3f);
        continue;
      }
      c = 0xfffd;
    }
    out[p++] = 0xe0 | (c >> 12);
    out[p++] = 0x80 | ((c >> 6) & 0x3f);
    out[p++] = 0x80 | (c & 0x3f);
  }
  return p - start;
}
