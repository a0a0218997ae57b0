// encodedSize: the byte length encodeValue would produce, computed without encoding (size limits
// and the store's byte accounting use it). Separate from the encoders: it walks the value itself.

import { type Format, TWO32, checkBig, checkObject, unsupported, utf8Encoder } from "./codec-rules.js";
import { PLAIN_ASCII, jsonNumber } from "./json-encode.js";
import { KEEP_BUFFER, MAX_SAFE_BIG, strHeaderSize } from "./msgpack-encode.js";

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
  // A native regex test beats the loop below from a few dozen characters on (message bodies).
  if (s.length > 32 && ASCII.test(s)) return s.length;
  if (s.length > LONG_STRING) return nativeUtf8Length(s);
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
