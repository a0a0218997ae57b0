// The queue API's JSON encoder: reply values as JSON text, bigints as exact integer literals.
// Separate from codec.ts as the second reply format.

import { checkBig, checkObject, unsupported, utf8Encoder } from "./codec-rules.js";

/** encodeValue's JSON half. */
export function encodeJson(value: unknown): Uint8Array {
  return utf8Encoder.encode(jsonText(value, 0));
}

// Strings that need no escaping and are ASCII: written between quotes as they are.
export const PLAIN_ASCII = /^[\x20\x21\x23-\x5b\x5d-\x7e]*$/;

function jsonString(s: string): string {
  return PLAIN_ASCII.test(s) ? `"${s}"` : JSON.stringify(s);
}

/**
 * A number as JSON. Integral doubles beyond 2^53 get an exponent, so that reading the text back
 * gives a float again instead of an integer literal (which would decode as a bigint or be refused
 * as beyond int64).
 */
export function jsonNumber(x: number): string {
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
