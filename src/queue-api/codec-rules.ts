// What the queue API's decoders and encoders share: the value model's limits, the 400 CodecError
// and its wording, the checks encoders apply, and scratch objects. A leaf module of its own so the
// codec halves can import it without importing codec.ts (which imports them: a cycle).

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
export const NOT_CODEC = "Can't decode request: not msgpack or JSON.";
export const NOT_MAP = "Unexpected body type. Expected a map.";
export const BAD_JSON = "Can't decode request: malformed JSON.";
export const JSON_NOT_UTF8 = "Can't decode request: JSON is not valid UTF-8.";
export const TRUNCATED = "Can't decode request: truncated msgpack.";
export const TRAILING = "Can't decode request: extra bytes after the request map.";
export const BAD_TYPE = "Can't decode request: invalid msgpack type byte.";
export const BAD_UTF8 = "Strings must be valid UTF-8.";
export const BAD_KEY = "Map keys must be strings.";
export const TOO_LARGE = "JSON contains integer that is too large.";
export const NOT_FINITE = "Numbers must be finite.";
export const UNSUPPORTED = "Document type not supported.";
export const TOO_DEEP = `Document nested too deeply (more than ${MAX_DEPTH} levels).`;

export const INT64_MAX = (1n << 63n) - 1n;
export const INT64_MIN = -(1n << 63n);
export const TWO32 = 4294967296;

export const isJsonSpace = (c: number): boolean => c === 0x20 || c === 0x0a || c === 0x0d || c === 0x09;

/** Stores `value` under `key` as an own property, also for "__proto__". */
export function setKey(map: Record<string, unknown>, key: string, value: unknown): void {
  if (key === "__proto__") Object.defineProperty(map, key, { value, writable: true, enumerable: true, configurable: true });
  else map[key] = value;
}

// One instance of each, shared by the decoders and the encoders: coding is synchronous and never
// re-entered, so they cannot be in use twice at once.
export const scratch = new DataView(new ArrayBuffer(8));
export const fatalUtf8 = new TextDecoder("utf-8", { fatal: true, ignoreBOM: true });
export const utf8Encoder = new TextEncoder();

// ---- rules for encoding -------------------------------------------------------------------------

// Values outside the model: encodeValue throws a TypeError for functions, symbols, byte arrays,
// Dates, Maps and Sets and a RangeError for bigints outside int64 or nesting beyond ENCODE_DEPTH
// (a cycle). `undefined` is left out of maps and written as nil/null in arrays (as JSON.stringify
// does); non-finite numbers are written as nil/null in both codecs.
const ENCODE_DEPTH = 1000;

export function unsupported(value: unknown): never {
  const what = value === null ? "null" : typeof value === "object" ? Object.prototype.toString.call(value) : typeof value;
  throw new TypeError(`queue-api codec: cannot encode ${what}`);
}
export function checkObject(value: object, depth: number): void {
  if (depth > ENCODE_DEPTH) throw new RangeError(`queue-api codec: value nested deeper than ${ENCODE_DEPTH} levels`);
  if (ArrayBuffer.isView(value) || value instanceof Date || value instanceof Map || value instanceof Set || value instanceof ArrayBuffer) unsupported(value);
}
export function checkBig(value: bigint): void {
  if (value > INT64_MAX || value < INT64_MIN) throw new RangeError("queue-api codec: bigint outside signed 64 bits");
}
