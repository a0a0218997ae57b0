// The queue API's msgpack decoder: one pass over the bytes that builds the value and enforces the
// value rules (UTF-8, key types, integer range, depth). Separate from codec.ts as the hot half of
// request decoding, with its own module state.

import {
  BAD_KEY,
  BAD_TYPE,
  BAD_UTF8,
  CodecError,
  MAX_DEPTH,
  NOT_FINITE,
  TOO_DEEP,
  TOO_LARGE,
  TRAILING,
  TRUNCATED,
  TWO32,
  UNSUPPORTED,
  fatalUtf8,
  scratch,
  setKey,
} from "./codec-rules.js";

// The frame being decoded. Module state (not a class instance) so that the hot path has no
// allocation or indirection; decoding is synchronous and never re-entered.
let buf: Uint8Array = new Uint8Array(0);
let pos = 0;
let end = 0;

const mpError = (description: string): CodecError => new CodecError(description, "msgpack");

/** decodeFrame's msgpack half: `frame` starts with a map header (sniffFormat checked it). */
export function decodeMsgpack(frame: Uint8Array): Record<string, unknown> {
  buf = frame;
  pos = 0;
  end = frame.length;
  try {
    const value = readValue(0) as Record<string, unknown>; // sniffing guarantees a map header
    if (pos !== end) throw mpError(TRAILING);
    return value;
  } finally {
    buf = EMPTY; // do not keep a large frame alive
  }
}
const EMPTY = new Uint8Array(0);

/**
 * Decode msgpack bytes holding one value of any type, with decodeFrame's rules (the journal reads
 * its records with this, so what a request could carry always reads back). Throws CodecError.
 */
export function decodeMsgpackValue(bytes: Uint8Array): unknown {
  buf = bytes;
  pos = 0;
  end = bytes.length;
  try {
    const value = readValue(0);
    if (pos !== end) throw mpError(TRAILING);
    return value;
  } finally {
    buf = EMPTY;
  }
}

function need(n: number): void {
  if (end - pos < n) throw mpError(TRUNCATED);
}
function u16(): number {
  need(2);
  const v = (buf[pos]! << 8) | buf[pos + 1]!;
  pos += 2;
  return v;
}
function u32(): number {
  need(4);
  const v = buf[pos]! * 0x1000000 + ((buf[pos + 1]! << 16) | (buf[pos + 2]! << 8) | buf[pos + 3]!);
  pos += 4;
  return v;
}
function float(size: 4 | 8): number {
  need(size);
  for (let i = 0; i < size; i++) scratch.setUint8(i, buf[pos + i]!);
  pos += size;
  const v = size === 4 ? scratch.getFloat32(0) : scratch.getFloat64(0);
  if (!Number.isFinite(v)) throw mpError(NOT_FINITE);
  return v;
}
/** A 64-bit integer: a number when it is safe, else a bigint; unsigned ones beyond int64 refused. */
function int64(signed: boolean): number | bigint {
  need(8);
  let hi = u32();
  const lo = u32();
  if (signed) hi = hi | 0;
  else if (hi >= 0x80000000) throw mpError(TOO_LARGE);
  if (hi >= -0x200000 && hi < 0x200000) {
    const v = hi * TWO32 + lo; // exact: |v| <= 2^53
    if (Number.isSafeInteger(v)) return v;
  }
  return (BigInt(hi) << 32n) + BigInt(lo);
}

function readValue(depth: number): unknown {
  if (pos >= end) throw mpError(TRUNCATED);
  const t = buf[pos++]!;
  if (t < 0x80) return t;
  if (t < 0x90) return readMap(t - 0x80, depth + 1);
  if (t < 0xa0) return readArray(t - 0x90, depth + 1);
  if (t < 0xc0) return readStr(t - 0xa0);
  if (t >= 0xe0) return t - 0x100;
  switch (t) {
    case 0xc0:
      return null;
    case 0xc2:
      return false;
    case 0xc3:
      return true;
    case 0xca:
      return float(4);
    case 0xcb:
      return float(8);
    case 0xcc:
      need(1);
      return buf[pos++]!;
    case 0xcd:
      return u16();
    case 0xce:
      return u32();
    case 0xcf:
      return int64(false);
    case 0xd0:
      need(1);
      return (buf[pos++]! << 24) >> 24;
    case 0xd1:
      return (u16() << 16) >> 16;
    case 0xd2:
      return u32() | 0;
    case 0xd3:
      return int64(true);
    case 0xd9:
      need(1);
      return readStr(buf[pos++]!);
    case 0xda:
      return readStr(u16());
    case 0xdb:
      return readStr(u32());
    case 0xdc:
      return readArray(u16(), depth + 1);
    case 0xdd:
      return readArray(u32(), depth + 1);
    case 0xde:
      return readMap(u16(), depth + 1);
    case 0xdf:
      return readMap(u32(), depth + 1);
    case 0xc1:
      throw mpError(BAD_TYPE);
    default:
      // 0xc4-0xc6 bin, 0xc7-0xc9 and 0xd4-0xd8 ext (the timestamp ext included)
      throw mpError(UNSUPPORTED);
  }
}

function readArray(n: number, depth: number): unknown[] {
  if (depth > MAX_DEPTH) throw mpError(TOO_DEEP);
  if (n > end - pos) throw mpError(TRUNCATED); // every element takes at least one byte
  const a = new Array<unknown>(n);
  for (let i = 0; i < n; i++) a[i] = readValue(depth);
  return a;
}

function readMap(n: number, depth: number): Record<string, unknown> {
  if (depth > MAX_DEPTH) throw mpError(TOO_DEEP);
  if (n > (end - pos) / 2) throw mpError(TRUNCATED); // every entry takes at least two bytes
  const map: Record<string, unknown> = {};
  for (let i = 0; i < n; i++) {
    if (pos >= end) throw mpError(TRUNCATED);
    const t = buf[pos++]!;
    let key: string;
    if (t >= 0xa0 && t < 0xc0) key = readStr(t - 0xa0);
    else if (t === 0xd9) {
      need(1);
      key = readStr(buf[pos++]!);
    } else if (t === 0xda) key = readStr(u16());
    else if (t === 0xdb) key = readStr(u32());
    else throw mpError(BAD_KEY);
    setKey(map, key, readValue(depth));
  }
  return map;
}

// Strings up to SHORT_STRING bytes are decoded in JS (cheaper than a subarray plus a TextDecoder
// call), longer ones by the native fatal decoder. Strings up to CACHED_STRING bytes (map keys,
// verbs, header values) are looked up first in a small direct-mapped cache of already validated
// strings: a hit costs a hash and a byte compare, which is several times cheaper than decoding.
const SHORT_STRING = 48;
const CACHED_STRING = 16;
const CACHE_SLOTS = 1024;
const cacheBytes: (Uint8Array | undefined)[] = new Array(CACHE_SLOTS).fill(undefined);
const cacheStrings: string[] = new Array(CACHE_SLOTS).fill("");
const units: number[] = [];

function readStr(len: number): string {
  need(len);
  const start = pos;
  pos += len;
  if (len <= CACHED_STRING) return cachedStr(start, len);
  if (len > SHORT_STRING) {
    try {
      return fatalUtf8.decode(buf.subarray(start, pos));
    } catch {
      throw mpError(BAD_UTF8);
    }
  }
  const s = utf8Short(buf, start, pos);
  if (s === undefined) throw mpError(BAD_UTF8);
  return s;
}

function cachedStr(start: number, len: number): string {
  const b = buf;
  let hash = len;
  for (let i = start; i < start + len; i++) hash = (Math.imul(hash, 31) + b[i]!) | 0;
  const slot = (hash >>> 0) % CACHE_SLOTS;
  const known = cacheBytes[slot];
  if (known !== undefined && known.length === len) {
    let k = 0;
    while (k < len && known[k] === b[start + k]) k++;
    if (k === len) return cacheStrings[slot]!;
  }
  const s = utf8Short(b, start, start + len);
  if (s === undefined) throw mpError(BAD_UTF8);
  cacheBytes[slot] = b.slice(start, start + len);
  cacheStrings[slot] = s;
  return s;
}

/** Strict UTF-8 (no overlongs, surrogates or code points above U+10FFFF), or undefined. */
function utf8Short(b: Uint8Array, p: number, e: number): string | undefined {
  units.length = 0;
  while (p < e) {
    const c = b[p++]!;
    if (c < 0x80) {
      units.push(c);
    } else if (c < 0xc2) {
      return undefined; // a continuation byte, or an overlong two-byte lead
    } else if (c < 0xe0) {
      if (p >= e) return undefined;
      const c1 = b[p++]!;
      if ((c1 & 0xc0) !== 0x80) return undefined;
      units.push(((c & 0x1f) << 6) | (c1 & 0x3f));
    } else if (c < 0xf0) {
      if (e - p < 2) return undefined;
      const c1 = b[p++]!;
      const c2 = b[p++]!;
      if ((c1 & 0xc0) !== 0x80 || (c2 & 0xc0) !== 0x80) return undefined;
      if (c === 0xe0 && c1 < 0xa0) return undefined; // overlong
      if (c === 0xed && c1 >= 0xa0) return undefined; // a UTF-16 surrogate
      units.push(((c & 0x0f) << 12) | ((c1 & 0x3f) << 6) | (c2 & 0x3f));
    } else if (c < 0xf5) {
      if (e - p < 3) return undefined;
      const c1 = b[p++]!;
      const c2 = b[p++]!;
      const c3 = b[p++]!;
      if ((c1 & 0xc0) !== 0x80 || (c2 & 0xc0) !== 0x80 || (c3 & 0xc0) !== 0x80) return undefined;
      if (c === 0xf0 && c1 < 0x90) return undefined; // overlong
      if (c === 0xf4 && c1 >= 0x90) return undefined; // above U+10FFFF
      const cp = (((c & 0x07) << 18) | ((c1 & 0x3f) << 12) | ((c2 & 0x3f) << 6) | (c3 & 0x3f)) - 0x10000;
      units.push(0xd800 | (cp >> 10), 0xdc00 | (cp & 0x3ff));
    } else {
      return undefined;
    }
  }
  return String.fromCharCode.apply(null, units);
}
