// eMQP text frames are UTF-8. Buffer#toString is the fast decoder but replaces bad sequences with
// U+FFFD instead of failing; only when one appears (rare: the frame is bad, or really holds
// U+FFFD) is the frame checked strictly.

import { Buffer } from "node:buffer";
import { EmqpError } from "./errors.js";

const strict = new TextDecoder("utf-8", { fatal: true });

/** Decodes a frame that must be UTF-8 text; `what` names it in the error. */
export function text(frame: Uint8Array, what: string): string {
  const b = Buffer.isBuffer(frame) ? frame : Buffer.from(frame.buffer, frame.byteOffset, frame.byteLength);
  const s = b.toString("utf8");
  if (s.includes("\uFFFD")) {
    try {
      strict.decode(b);
    } catch {
      throw new EmqpError("not-utf8", `${what} is not valid UTF-8`);
    }
  }
  return s;
}

/** A frame for a string (UTF-8), reusing one shared empty buffer. */
export function frame(s: string): Buffer {
  return s.length === 0 ? EMPTY : Buffer.from(s, "utf8");
}

export const EMPTY = Buffer.alloc(0);

/** A short description of a JSON value for an error message: never throws, whatever the nesting. */
export function describe(v: unknown, max = 60): string {
  let s: string;
  try {
    s = JSON.stringify(v) ?? String(v);
  } catch {
    s = Array.isArray(v) ? "a deeply nested list" : typeof v === "object" && v !== null ? "a deeply nested object" : String(v);
  }
  return s.length > max ? s.slice(0, max) + "..." : s;
}
