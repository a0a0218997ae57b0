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
// Both msgpack directions are written here (msgpack-decode.ts, msgpack-encode.ts) rather than
// taken from @msgpack/msgpack because the library cannot enforce these rules: its decoder turns
// invalid UTF-8 into text silently (0xFF becomes "ÿ", an overlong C0 80 becomes "\0", CESU
// surrogates become lone surrogates) and with rawStrings a str is indistinguishable from a bin;
// its encoder either cannot write bigint (useBigInt64 off) or writes every safe integer >= 2^32
// as a float64 (useBigInt64 on). A single pass over the bytes also checks depth, key types and
// integer range without a second walk.
//
// This module is the public face: format sniffing and the entry points. The parts live in
// codec-rules.ts (value rules and errors both codecs share), msgpack-decode.ts, json-decode.ts,
// msgpack-encode.ts, json-encode.ts, encoded-size.ts and accept.ts (negotiateAccept).

import { CodecError, type Format, NOT_CODEC, NOT_MAP, isJsonSpace } from "./codec-rules.js";
import { decodeJson } from "./json-decode.js";
import { encodeJson } from "./json-encode.js";
import { decodeMsgpack } from "./msgpack-decode.js";
import { encodeMsgpack } from "./msgpack-encode.js";

export { CodecError, type Format, MAX_DEPTH } from "./codec-rules.js";
export { decodeMsgpackValue } from "./msgpack-decode.js";
export { encodedSize } from "./encoded-size.js";
export { negotiateAccept } from "./accept.js";

// ---- sniffing -----------------------------------------------------------------------------------

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

// ---- encodeValue --------------------------------------------------------------------------------

/** Encode a reply value in the given format; never throws for values decodeFrame produced (what it throws for: see ENCODE_DEPTH in codec-rules.ts). */
export function encodeValue(value: unknown, format: Format): Uint8Array {
  if (format === "json") return encodeJson(value);
  return encodeMsgpack(value);
}
