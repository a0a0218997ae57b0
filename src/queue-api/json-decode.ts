// The queue API's JSON request decoder: a scan, the native JSON.parse, and an exact parser for
// what JSON.parse gets wrong. Apart from codec.ts (which picks the format) as one concept per file.
//
// JSON decoding scans the text once (depth, integer literals too long for a double, exponents
// that may overflow, lone surrogate escapes) and hands it to the native JSON.parse when nothing
// needs care; otherwise a small exact parser here produces bigints and precise errors.

import {
  BAD_JSON,
  BAD_UTF8,
  CodecError,
  INT64_MAX,
  INT64_MIN,
  JSON_NOT_UTF8,
  MAX_DEPTH,
  NOT_FINITE,
  TOO_DEEP,
  TOO_LARGE,
  fatalUtf8,
  isJsonSpace,
  setKey,
} from "./codec-rules.js";

const jsonError = (description: string): CodecError => new CodecError(description, "json");

/** decodeFrame's JSON half: `frame` starts with `{`, possibly after JSON whitespace (sniffFormat checked it). */
export function decodeJson(frame: Uint8Array): Record<string, unknown> {
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
