// The queue API's payload codec: one request frame in (msgpack or JSON, told apart by the first
// byte), one reply frame out (msgpack, or JSON when Accept asks for it).
//
// The value model is the JSON one plus exact 64-bit integers: maps with string keys, arrays,
// strings (well-formed Unicode), finite numbers, booleans, null, and bigint for integers whose
// magnitude is beyond 2^53-1 but which fit in signed 64 bits. Everything a frame can carry outside
// that model (msgpack bin/ext, non-string keys, NaN, uint64 > 2^63-1, invalid UTF-8, nesting
// deeper than MAX_DEPTH) is refused with a 400, so that any accepted body can be served to a
// msgpack or a JSON reader unchanged.
//
// Both msgpack directions are written here rather than taken from @msgpack/msgpack because the
// library cannot enforce these rules: its decoder turns invalid UTF-8 into text silently (0xFF
// becomes "ÿ", an overlong C0 80 becomes "\0", CESU surrogates become lone surrogates) and with
// rawStrings a str is indistinguishable from a bin; its encoder either cannot write bigint
// (useBigInt64 off) or writes every safe integer >= 2^32 as a float64 (useBigInt64 on). A single
// pass over the bytes also checks depth, key types and integer range without a second walk.
//
// JSON decoding scans the text once (depth, integer literals too long for a double, exponents
// that may overflow, lone surrogate escapes) and hands it to the native JSON.parse when nothing
// needs care; otherwise a small exact parser here produces bigints and precise errors.

import { ApiError, TITLE } from "./errors.js";

export type Format = "msgpack" | "json";

/** Deepest nesting accepted in a request: the top-level map is level 1. */
export const MAX_DEPTH = 128;

/**
 * The 400 decodeFrame throws. `format` is the codec the reply should use: the one the frame's
 * first byte suggested (JSON for `{`, `[` or leading JSON whitespace), else msgpack.
 */
export class CodecError extends ApiError {
  readonly format: Format;
  constructor(description: string, format: Format) {
    super(400, TITLE.invalidBody, description);
    this.format = format;
  }
}

// Error descriptions (Marconi's own wording where it has one).
const NOT_CODEC = "Can't decode request: not msgpack or JSON.";
const NOT_MAP = "Unexpected body type. Expected a map.";
const BAD_JSON = "Can't decode request: malformed JSON.";
const JSON_NOT_UTF8 = "Can't decode request: JSON is not valid UTF-8.";
const TRUNCATED = "Can't decode request: truncated msgpack.";
const TRAILING = "Can't decode request: extra bytes after the request map.";
const BAD_TYPE = "Can't decode request: invalid msgpack type byte.";
const BAD_UTF8 = "Strings must be valid UTF-8.";
const BAD_KEY = "Map keys must be strings.";
const TOO_LARGE = "JSON contains integer that is too large.";
const NOT_FINITE = "Numbers must be finite.";
const UNSUPPORTED = "Document type not supported.";
const TOO_DEEP = `Document nested too deeply (more than ${MAX_DEPTH} levels).`;

const INT64_MAX = (1n << 63n) - 1n;
const INT64_MIN = -(1n << 63n);
const TWO32 = 4294967296;

// ---- sniffing -----------------------------------------------------------------------------------

const isJsonSpace = (c: number): boolean => c === 0x20 || c === 0x0a || c === 0x0d || c === 0x09;
const isMsgpackMap = (c: number): boolean => (c >= 0x80 && c <= 0x8f) || c === 0xde || c === 0xdf;
const isMsgpackArray = (c: number): boolean => (c >= 0x90 && c <= 0x9f) || c === 0xdc || c === 0xdd;

/** Which codec the first byte of a frame implies (JSON: `{` possibly after JSON whitespace; msgpack: a map header 0x80-0x8f, 0xde, 0xdf), or undefined. */
export function sniffFormat(frame: Uint8Array): Format | undefined {
  if (frame.length === 0) return undefined;
  if (isMsgpackMap(frame[0]!)) return "msgpack";
  for (let i = 0; i < frame.length; i++) {
    const c = frame[i]!;
    if (c === 0x7b) return "json";
    if (!isJsonSpace(c)) return undefined;
  }
  return undefined;
}

/** The error for a frame that sniffFormat refused, in the codec its start suggests. */
function unsniffable(frame: Uint8Array): CodecError {
  if (frame.length === 0) return new CodecError(NOT_CODEC, "msgpack");
  const first = frame[0]!;
  if (isMsgpackArray(first)) return new CodecError(NOT_MAP, "msgpack");
  let i = 0;
  while (i < frame.length && isJsonSpace(frame[i]!)) i++;
  if (frame[i] === 0x5b) return new CodecError(NOT_MAP, "json");
  return new CodecError(NOT_CODEC, i > 0 ? "json" : "msgpack");
}

// ---- decodeFrame --------------------------------------------------------------------------------

/** Decode one request frame. Throws CodecError (an ApiError 400 carrying the reply `format`) for anything not acceptable. Duplicate keys: the last value wins. */
export function decodeFrame(frame: Uint8Array): { format: Format; value: unknown } {
  const format = sniffFormat(frame);
  if (format === undefined) throw unsniffable(frame);
  return { format, value: format === "msgpack" ? decodeMsgpack(frame) : decodeJson(frame) };
}

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

/** Stores `value` under `key` as an own property, also for "__proto__". */
function setKey(map: Record<string, unknown>, key: string, value: unknown): void {
  if (key === "__proto__") Object.defineProperty(map, key, { value, writable: true, enumerable: true, configurable: true });
  else map[key] = value;
}

// ---- msgpack decoding ---------------------------------------------------------------------------

// The frame being decoded. Module state (not a class instance) so that the hot path has no
// allocation or indirection; decoding is synchronous and never re-entered.
let buf: Uint8Array = new Uint8Array(0);
let pos = 0;
let end = 0;

const scratch = new DataView(new ArrayBuffer(8));
const fatalUtf8 = new TextDecoder("utf-8", { fatal: true, ignoreBOM: true });
const mpError = (description: string): CodecError => new CodecError(description, "msgpack");

function decodeMsgpack(frame: Uint8Array): Record<string, unknown> {
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

// ---- JSON decoding ------------------------------------------------------------------------------

const jsonError = (description: string): CodecError => new CodecError(description, "json");

function decodeJson(frame: Uint8Array): Record<string, unknown> {
  let text: string;
  try {
    text = fatalUtf8.decode(frame);
  } catch {
    throw jsonError(JSON_NOT_UTF8);
  }
  if (scanJson(text)) return parseJsonExact(text);
  try {
    return JSON.parse(text) as Record<string, unknown>; // sniffing guarantees an object
  } catch {
    throw jsonError(BAD_JSON);
  }
}

const isDigit = (c: number): boolean => c >= 0x30 && c <= 0x39;

/**
 * One pass over JSON text that enforces the depth limit and tells whether the text holds
 * something JSON.parse would get wrong: an integer literal that may exceed 2^53-1 (16+ digits), a
 * number that may overflow to Infinity, or a lone surrogate escape. Exact only for valid JSON; on
 * invalid text the parser that follows reports the error.
 */
function scanJson(s: string): boolean {
  const n = s.length;
  let slow = false;
  let depth = 0;
  let nextQuote = -1; // cached positions, so that strings full of escapes stay linear
  let nextSlash = -1;
  let i = 0;
  while (i < n) {
    const c = s.charCodeAt(i);
    if (c === 0x22) {
      let j = i + 1;
      for (;;) {
        if (nextQuote < j) nextQuote = s.indexOf('"', j);
        if (nextQuote < 0) return slow; // unterminated: the parser reports it
        if (nextSlash !== -2 && nextSlash < j) {
          nextSlash = s.indexOf("\\", j);
          if (nextSlash < 0) nextSlash = -2; // none left in the text
        }
        if (nextSlash === -2 || nextSlash > nextQuote) {
          i = nextQuote + 1;
          break;
        }
        j = nextSlash + 2;
        if (s.charCodeAt(nextSlash + 1) === 0x75) {
          const surrogate = hexSurrogate(s, nextSlash + 2);
          if (surrogate === 1 && hexSurrogate(s, nextSlash + 8) === 2 && s.charCodeAt(nextSlash + 6) === 0x5c && s.charCodeAt(nextSlash + 7) === 0x75) {
            j = nextSlash + 12; // a proper \uD8xx\uDCxx pair
          } else if (surrogate !== 0) {
            slow = true; // lone: the exact parser refuses it
          }
        }
      }
      continue;
    }
    if (c === 0x7b || c === 0x5b) {
      if (++depth > MAX_DEPTH) throw jsonError(TOO_DEEP);
    } else if (c === 0x7d || c === 0x5d) {
      depth--;
    } else if (c === 0x2d || isDigit(c)) {
      let k = c === 0x2d ? i + 1 : i;
      const digitsStart = k;
      while (k < n && isDigit(s.charCodeAt(k))) k++;
      const intDigits = k - digitsStart;
      let integer = true;
      if (s.charCodeAt(k) === 0x2e) {
        integer = false;
        k++;
        while (k < n && isDigit(s.charCodeAt(k))) k++;
      }
      const e = s.charCodeAt(k) | 0x20;
      if (e === 0x65) {
        integer = false;
        k++;
        const sign = s.charCodeAt(k);
        if (sign === 0x2b || sign === 0x2d) k++;
        let exp = 0;
        while (k < n && isDigit(s.charCodeAt(k))) {
          if (exp < 100000) exp = exp * 10 + s.charCodeAt(k) - 0x30;
          k++;
        }
        if (sign !== 0x2d && intDigits + exp > 300) slow = true; // may overflow to Infinity
      }
      if (intDigits > 300 || (integer && intDigits > 15)) slow = true;
      i = k;
      continue;
    }
    i++;
  }
  return slow;
}

/** 0: not a surrogate; 1: high (D800-DBFF); 2: low (DC00-DFFF); for the 4 hex digits at i. */
function hexSurrogate(s: string, i: number): 0 | 1 | 2 {
  if ((s.charCodeAt(i) | 0x20) !== 0x64) return 0;
  const c = s.charCodeAt(i + 1) | 0x20;
  if (c === 0x38 || c === 0x39 || c === 0x61 || c === 0x62) return 1;
  if (c >= 0x63 && c <= 0x66) return 2;
  return 0;
}

// The exact parser (RFC 8259 grammar), used only when scanJson says JSON.parse is not enough.
let src = "";
let at = 0;

function parseJsonExact(text: string): Record<string, unknown> {
  src = text;
  at = 0;
  try {
    skipSpace();
    const value = parseValue(0);
    skipSpace();
    if (at !== src.length) throw jsonError(BAD_JSON);
    return value as Record<string, unknown>;
  } finally {
    src = "";
  }
}

function skipSpace(): void {
  while (at < src.length && isJsonSpace(src.charCodeAt(at))) at++;
}

function expect(literal: string, value: unknown): unknown {
  if (!src.startsWith(literal, at)) throw jsonError(BAD_JSON);
  at += literal.length;
  return value;
}

function parseValue(depth: number): unknown {
  const c = src.charCodeAt(at);
  if (c === 0x7b) return parseObject(depth + 1);
  if (c === 0x5b) return parseArray(depth + 1);
  if (c === 0x22) return parseString();
  if (c === 0x2d || isDigit(c)) return parseNumber();
  if (c === 0x74) return expect("true", true);
  if (c === 0x66) return expect("false", false);
  if (c === 0x6e) return expect("null", null);
  throw jsonError(BAD_JSON);
}

function parseObject(depth: number): Record<string, unknown> {
  if (depth > MAX_DEPTH) throw jsonError(TOO_DEEP);
  at++;
  const map: Record<string, unknown> = {};
  skipSpace();
  if (src.charCodeAt(at) === 0x7d) {
    at++;
    return map;
  }
  for (;;) {
    skipSpace();
    if (src.charCodeAt(at) !== 0x22) throw jsonError(BAD_JSON);
    const key = parseString();
    skipSpace();
    if (src.charCodeAt(at) !== 0x3a) throw jsonError(BAD_JSON);
    at++;
    skipSpace();
    setKey(map, key, parseValue(depth));
    skipSpace();
    const c = src.charCodeAt(at++);
    if (c === 0x7d) return map;
    if (c !== 0x2c) throw jsonError(BAD_JSON);
  }
}

function parseArray(depth: number): unknown[] {
  if (depth > MAX_DEPTH) throw jsonError(TOO_DEEP);
  at++;
  const a: unknown[] = [];
  skipSpace();
  if (src.charCodeAt(at) === 0x5d) {
    at++;
    return a;
  }
  for (;;) {
    skipSpace();
    a.push(parseValue(depth));
    skipSpace();
    const c = src.charCodeAt(at++);
    if (c === 0x5d) return a;
    if (c !== 0x2c) throw jsonError(BAD_JSON);
  }
}

const ESCAPES: Record<number, string> = { 0x22: '"', 0x5c: "\\", 0x2f: "/", 0x62: "\b", 0x66: "\f", 0x6e: "\n", 0x72: "\r", 0x74: "\t" };

function parseString(): string {
  at++; // the opening quote
  let out = "";
  let runStart = at;
  for (;;) {
    if (at >= src.length) throw jsonError(BAD_JSON);
    const c = src.charCodeAt(at);
    if (c === 0x22) {
      out += src.slice(runStart, at);
      at++;
      return out;
    }
    if (c < 0x20) throw jsonError(BAD_JSON);
    if (c !== 0x5c) {
      at++;
      continue;
    }
    out += src.slice(runStart, at);
    const e = src.charCodeAt(at + 1);
    if (e === 0x75) {
      const unit = hex4(at + 2);
      at += 6;
      if (unit >= 0xd800 && unit <= 0xdbff) {
        // a high surrogate must be followed by an escaped low one
        if (src.charCodeAt(at) !== 0x5c || src.charCodeAt(at + 1) !== 0x75) throw jsonError(BAD_UTF8);
        const low = hex4(at + 2);
        if (low < 0xdc00 || low > 0xdfff) throw jsonError(BAD_UTF8);
        at += 6;
        out += String.fromCharCode(unit, low);
      } else if (unit >= 0xdc00 && unit <= 0xdfff) {
        throw jsonError(BAD_UTF8);
      } else {
        out += String.fromCharCode(unit);
      }
    } else {
      const plain = ESCAPES[e];
      if (plain === undefined) throw jsonError(BAD_JSON);
      out += plain;
      at += 2;
    }
    runStart = at;
  }
}

function hex4(i: number): number {
  let v = 0;
  for (let k = i; k < i + 4; k++) {
    const c = src.charCodeAt(k);
    let d: number;
    if (c >= 0x30 && c <= 0x39) d = c - 0x30;
    else if ((c | 0x20) >= 0x61 && (c | 0x20) <= 0x66) d = (c | 0x20) - 0x61 + 10;
    else throw jsonError(BAD_JSON);
    v = v * 16 + d;
  }
  return v;
}

function parseNumber(): number | bigint {
  const start = at;
  if (src.charCodeAt(at) === 0x2d) at++;
  const c = src.charCodeAt(at);
  if (c === 0x30) at++;
  else if (c >= 0x31 && c <= 0x39) while (isDigit(src.charCodeAt(at))) at++;
  else throw jsonError(BAD_JSON);
  let integer = true;
  if (src.charCodeAt(at) === 0x2e) {
    integer = false;
    at++;
    if (!isDigit(src.charCodeAt(at))) throw jsonError(BAD_JSON);
    while (isDigit(src.charCodeAt(at))) at++;
  }
  if ((src.charCodeAt(at) | 0x20) === 0x65) {
    integer = false;
    at++;
    const sign = src.charCodeAt(at);
    if (sign === 0x2b || sign === 0x2d) at++;
    if (!isDigit(src.charCodeAt(at))) throw jsonError(BAD_JSON);
    while (isDigit(src.charCodeAt(at))) at++;
  }
  const token = src.slice(start, at);
  if (!integer) {
    const v = Number(token);
    if (!Number.isFinite(v)) throw jsonError(NOT_FINITE);
    return v;
  }
  const v = Number(token);
  if (Number.isSafeInteger(v)) return v;
  const big = BigInt(token);
  if (big > INT64_MAX || big < INT64_MIN) throw jsonError(TOO_LARGE);
  return big;
}

// ---- encodeValue --------------------------------------------------------------------------------

// Values outside the model: encodeValue throws a TypeError for functions, symbols, byte arrays,
// Dates, Maps and Sets and a RangeError for bigints outside int64 or nesting beyond ENCODE_DEPTH
// (a cycle). `undefined` is left out of maps and written as nil/null in arrays (as JSON.stringify
// does); non-finite numbers are written as nil/null in both codecs.
const ENCODE_DEPTH = 1000;

/** Encode a reply value in the given format; never throws for values decodeFrame produced. */
export function encodeValue(value: unknown, format: Format): Uint8Array {
  if (format === "json") return utf8Encoder.encode(jsonText(value, 0));
  out = outBuffer;
  o = 0;
  writeMsgpack(value, 0);
  const bytes = out.slice(0, o);
  if (out.length > KEEP_BUFFER) out = new Uint8Array(INITIAL_BUFFER);
  outBuffer = out;
  return bytes;
}

function unsupported(value: unknown): never {
  const what = value === null ? "null" : typeof value === "object" ? Object.prototype.toString.call(value) : typeof value;
  throw new TypeError(`queue-api codec: cannot encode ${what}`);
}
function checkObject(value: object, depth: number): void {
  if (depth > ENCODE_DEPTH) throw new RangeError(`queue-api codec: value nested deeper than ${ENCODE_DEPTH} levels`);
  if (ArrayBuffer.isView(value) || value instanceof Date || value instanceof Map || value instanceof Set || value instanceof ArrayBuffer) unsupported(value);
}
function checkBig(value: bigint): void {
  if (value > INT64_MAX || value < INT64_MIN) throw new RangeError("queue-api codec: bigint outside signed 64 bits");
}

// ---- msgpack encoding ---------------------------------------------------------------------------

const INITIAL_BUFFER = 4096;
const KEEP_BUFFER = 1 << 20; // a reply bigger than this does not pin its buffer
let outBuffer = new Uint8Array(INITIAL_BUFFER);
let out = outBuffer;
let o = 0;
const utf8Encoder = new TextEncoder();

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
const MAX_SAFE_BIG = BigInt(Number.MAX_SAFE_INTEGER);

const strHeaderSize = (len: number): number => (len < 32 ? 1 : len < 0x100 ? 2 : len < 0x10000 ? 3 : 5);

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

// ---- JSON encoding ------------------------------------------------------------------------------

// Strings that need no escaping and are ASCII: written between quotes as they are.
const PLAIN_ASCII = /^[\x20\x21\x23-\x5b\x5d-\x7e]*$/;

function jsonString(s: string): string {
  return PLAIN_ASCII.test(s) ? `"${s}"` : JSON.stringify(s);
}

/**
 * A number as JSON. Integral doubles beyond 2^53 get an exponent, so that reading the text back
 * gives a float again instead of an integer literal (which would decode as a bigint or be refused
 * as beyond int64).
 */
function jsonNumber(x: number): string {
  if (!Number.isFinite(x)) return "null";
  if (Number.isInteger(x) && !Number.isSafeInteger(x)) return x.toExponential();
  return String(x);
}

function jsonText(v: unknown, depth: number): string {
  switch (typeof v) {
    case "string":
      return jsonString(v);
    case "number":
      return jsonNumber(v);
    case "boolean":
      return v ? "true" : "false";
    case "bigint":
      checkBig(v);
      return v.toString();
    case "undefined":
      return "null";
    case "object": {
      if (v === null) return "null";
      checkObject(v, depth);
      if (Array.isArray(v)) {
        let s = "[";
        for (let i = 0; i < v.length; i++) s += (i === 0 ? "" : ",") + jsonText(v[i], depth + 1);
        return s + "]";
      }
      const map = v as Record<string, unknown>;
      let s = "{";
      let first = true;
      for (const k of Object.keys(map)) {
        const x = map[k];
        if (x === undefined) continue;
        s += (first ? "" : ",") + jsonString(k) + ":" + jsonText(x, depth + 1);
        first = false;
      }
      return s + "}";
    }
    default:
      return unsupported(v);
  }
}

// ---- encodedSize --------------------------------------------------------------------------------

/** Size in bytes of `value` encoded by encodeValue in `format`, computed without encoding it. */
export function encodedSize(value: unknown, format: Format): number {
  return format === "json" ? jsonSize(value, 0) : msgpackSize(value, 0);
}

const ASCII = /^[\x00-\x7f]*$/;

// Long strings are measured by the native encoder into a reused scratch buffer: several times
// faster than a JS loop over a non-ASCII text.
const LONG_STRING = 256;
let sizeScratch = new Uint8Array(0);

function nativeUtf8Length(s: string): number {
  if (sizeScratch.length < s.length * 3) sizeScratch = new Uint8Array(s.length * 3);
  const n = utf8Encoder.encodeInto(s, sizeScratch).written;
  if (sizeScratch.length > KEEP_BUFFER) sizeScratch = new Uint8Array(0);
  return n;
}

/** UTF-8 byte length, lone surrogates counted as U+FFFD (3 bytes) as the encoders write them. */
function utf8Length(s: string): number {
  if (s.length > LONG_STRING) return ASCII.test(s) ? s.length : nativeUtf8Length(s);
  let n = 0;
  for (let i = 0; i < s.length; i++) {
    const c = s.charCodeAt(i);
    if (c < 0x80) n += 1;
    else if (c < 0x800) n += 2;
    else if (c >= 0xd800 && c <= 0xdbff && i + 1 < s.length && (s.charCodeAt(i + 1) & 0xfc00) === 0xdc00) {
      n += 4;
      i++;
    } else n += 3;
  }
  return n;
}

const intSize = (x: number): number =>
  x >= 0
    ? x < 0x80 ? 1 : x < 0x100 ? 2 : x < 0x10000 ? 3 : x < TWO32 ? 5 : 9
    : x >= -0x20 ? 1 : x >= -0x80 ? 2 : x >= -0x8000 ? 3 : x >= -0x80000000 ? 5 : 9;
const headerSize = (n: number): number => (n < 16 ? 1 : n < 0x10000 ? 3 : 5);

function msgpackSize(v: unknown, depth: number): number {
  switch (typeof v) {
    case "string": {
      const len = utf8Length(v);
      return strHeaderSize(len) + len;
    }
    case "number":
      return Number.isSafeInteger(v) ? intSize(v) : Number.isFinite(v) ? 9 : 1;
    case "boolean":
    case "undefined":
      return 1;
    case "bigint":
      if (v >= -MAX_SAFE_BIG && v <= MAX_SAFE_BIG) return intSize(Number(v));
      checkBig(v);
      return 9;
    case "object": {
      if (v === null) return 1;
      checkObject(v, depth);
      if (Array.isArray(v)) {
        let n = headerSize(v.length);
        for (let i = 0; i < v.length; i++) n += msgpackSize(v[i], depth + 1);
        return n;
      }
      const map = v as Record<string, unknown>;
      let n = 0;
      let count = 0;
      for (const k of Object.keys(map)) {
        const x = map[k];
        if (x === undefined) continue;
        count++;
        n += msgpackSize(k, depth) + msgpackSize(x, depth + 1);
      }
      return n + headerSize(count);
    }
    default:
      return unsupported(v);
  }
}

/** Length of JSON.stringify(s) in UTF-8. */
function jsonStringSize(s: string): number {
  if (PLAIN_ASCII.test(s)) return s.length + 2;
  if (s.length > LONG_STRING) return nativeUtf8Length(JSON.stringify(s));
  let n = 2;
  for (let i = 0; i < s.length; i++) {
    const c = s.charCodeAt(i);
    if (c < 0x80) {
      if (c === 0x22 || c === 0x5c) n += 2;
      else if (c >= 0x20) n += 1;
      else if (c === 0x08 || c === 0x09 || c === 0x0a || c === 0x0c || c === 0x0d) n += 2;
      else n += 6;
    } else if (c < 0x800) n += 2;
    else if (c >= 0xd800 && c <= 0xdfff) {
      if (c <= 0xdbff && i + 1 < s.length && (s.charCodeAt(i + 1) & 0xfc00) === 0xdc00) {
        n += 4;
        i++;
      } else n += 6; // JSON.stringify escapes a lone surrogate as \udxxx
    } else n += 3;
  }
  return n;
}

function jsonSize(v: unknown, depth: number): number {
  switch (typeof v) {
    case "string":
      return jsonStringSize(v);
    case "number":
      return jsonNumber(v).length;
    case "boolean":
      return v ? 4 : 5;
    case "bigint":
      checkBig(v);
      return v.toString().length;
    case "undefined":
      return 4;
    case "object": {
      if (v === null) return 4;
      checkObject(v, depth);
      if (Array.isArray(v)) {
        let n = 2 + Math.max(0, v.length - 1);
        for (let i = 0; i < v.length; i++) n += jsonSize(v[i], depth + 1);
        return n;
      }
      const map = v as Record<string, unknown>;
      let n = 2;
      let count = 0;
      for (const k of Object.keys(map)) {
        const x = map[k];
        if (x === undefined) continue;
        count++;
        n += jsonStringSize(k) + 1 + jsonSize(x, depth + 1);
      }
      return n + Math.max(0, count - 1);
    }
    default:
      return unsupported(v);
  }
}

// ---- negotiateAccept ----------------------------------------------------------------------------

const MEDIA: Record<string, Format> = {
  "application/json": "json",
  "application/x-msgpack": "msgpack",
  "application/msgpack": "msgpack",
  "application/messagepack": "msgpack",
  "application/x-messagepack": "msgpack",
};

/**
 * Accept header negotiation. No header, an empty one, `*\/*` or `application/*` → msgpack. Each
 * format takes the q of the most specific range that names it (a type beats `application/*`,
 * which beats `*\/*`); q=0 excludes. The winner has the highest q, then the more specific range,
 * then the earlier entry, then msgpack. An entry with a malformed q is ignored. Nothing acceptable
 * → undefined (the server answers 406).
 */
export function negotiateAccept(accept: string | undefined): Format | undefined {
  if (accept === undefined) return "msgpack";
  // best[format] = [q, specificity, position]
  const best: Partial<Record<Format, [number, number, number]>> = {};
  let entries = 0;
  const parts = accept.split(",");
  for (let position = 0; position < parts.length; position++) {
    const params = parts[position]!.split(";");
    const type = params[0]!.trim().toLowerCase();
    if (type === "") continue;
    entries++;
    let q = 1;
    for (let i = 1; i < params.length; i++) {
      const eq = params[i]!.indexOf("=");
      if (eq < 0 || params[i]!.slice(0, eq).trim().toLowerCase() !== "q") continue;
      const text = params[i]!.slice(eq + 1).trim();
      q = /^\d+(\.\d*)?$|^\.\d+$/.test(text) ? Number(text) : NaN;
    }
    if (!(q >= 0 && q <= 1)) continue;
    let formats: Format[];
    let specificity: number;
    const exact = MEDIA[type];
    if (exact !== undefined) {
      formats = [exact];
      specificity = 3;
    } else if (type === "application/*") {
      formats = ["msgpack", "json"];
      specificity = 2;
    } else if (type === "*/*" || type === "*") {
      formats = ["msgpack", "json"];
      specificity = 1;
    } else continue;
    for (const f of formats) {
      const cur = best[f];
      if (cur === undefined || specificity > cur[1] || (specificity === cur[1] && q > cur[0])) best[f] = [q, specificity, position];
    }
  }
  if (entries === 0) return "msgpack";
  let winner: Format | undefined;
  for (const f of ["msgpack", "json"] as const) {
    const c = best[f];
    if (c === undefined || c[0] === 0) continue;
    const w = winner === undefined ? undefined : best[winner]!;
    if (w === undefined || c[0] > w[0] || (c[0] === w[0] && (c[1] > w[1] || (c[1] === w[1] && c[2] < w[2])))) winner = f;
  }
  return winner;
}
