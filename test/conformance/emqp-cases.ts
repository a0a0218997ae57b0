// The eMQP vectors (spec/vectors/emqp*.json, schema in spec/emqp.md "Test vectors") as conformance
// checks: cases.ts runs runEmqpVector() for every vector of kind "emqp" on Node, Bun and Deno, and
// test/emqp/codec.test.ts runs the same function under tap. No test framework here: a check that
// fails throws an Error saying what differs. Nothing runs at import time and nothing is imported
// from cases.ts, so the import cycle with it is harmless.

import { Buffer } from "node:buffer";
import { readFileSync, readdirSync } from "node:fs";
import { fileURLToPath } from "node:url";
import {
  EmqpError,
  decode,
  encode,
  formatHeaders,
  formatJob,
  formatResult,
  parseHeaders,
  parseJob,
  parseResult,
  type Command,
  type Job,
  type JobResult,
} from "../../src/emqp/index.js";
import { FrameDecoder, LONG, MORE } from "../../src/zmtp/index.js";

export const EMQP_VECTOR_SCHEMA = "emq-emqp-vectors/1";

/** A frame in a vector: UTF-8 text, or { hex } for octets that are not (or need not be) text. */
export type FrameSpec = string | { hex: string };

export interface EmqpVector {
  name: string;
  description?: string;
  input: "message" | "headers" | "job" | "result";
  /** input "message": the frames a DEALER sends or receives ('' delimiter first). */
  frames?: FrameSpec[];
  /** input "headers" / "job" / "result": the text frame. */
  text?: string;
  /** "message": the frames as ZMTP puts them on the wire (MORE on all but the last); else the text's UTF-8. */
  hex: string;
  /** The encoder must give back exactly `frames` / `text` from the expected value. */
  encode?: boolean;
  expect: {
    command?: Record<string, unknown>;
    headers?: Record<string, unknown>;
    job?: Record<string, unknown>;
    result?: Record<string, unknown>;
    error?: { code: string; reason: string };
  };
}

// ---- plain JSON views -------------------------------------------------------------------------

/** JSON view of a decoded value: octets become { hex }, undefined becomes null. */
export function toPlain(v: unknown): unknown {
  if (v === undefined) return null;
  if (v instanceof Uint8Array) return { hex: Buffer.from(v.buffer, v.byteOffset, v.byteLength).toString("hex") };
  if (Array.isArray(v)) return v.map(toPlain);
  if (v !== null && typeof v === "object") {
    const out: Record<string, unknown> = {};
    for (const [k, x] of Object.entries(v)) out[k] = toPlain(x);
    return out;
  }
  return v;
}

/** The inverse for expected values: { hex } objects become Buffers. */
export function fromPlain(v: unknown): unknown {
  if (Array.isArray(v)) return v.map(fromPlain);
  if (v !== null && typeof v === "object") {
    const o = v as Record<string, unknown>;
    const keys = Object.keys(o);
    if (keys.length === 1 && keys[0] === "hex" && typeof o.hex === "string") return Buffer.from(o.hex, "hex");
    const out: Record<string, unknown> = {};
    for (const k of keys) out[k] = fromPlain(o[k]);
    return out;
  }
  return v;
}

/** JSON with sorted keys: equal values give equal strings whatever their key order. */
export function canonical(v: unknown): string {
  return JSON.stringify(v, (_k, x: unknown) =>
    x !== null && typeof x === "object" && !Array.isArray(x)
      ? Object.fromEntries(Object.keys(x).sort().map((k) => [k, (x as Record<string, unknown>)[k]]))
      : x,
  );
}

export const frameBytes = (f: FrameSpec): Buffer => (typeof f === "string" ? Buffer.from(f, "utf8") : Buffer.from(f.hex, "hex"));

const hexOf = (b: Uint8Array): string => Buffer.from(b.buffer, b.byteOffset, b.byteLength).toString("hex");
const cut = (s: string): string => (s.length > 160 ? `${s.slice(0, 100)}...${s.slice(-40)}` : s);

function fail(msg: string): never {
  throw new Error(msg);
}

function same(got: unknown, want: unknown, what: string): void {
  const g = canonical(got);
  const w = canonical(want);
  if (g !== w) fail(`${what}: got ${cut(g)}, want ${cut(w)}`);
}

function sameFrames(got: readonly Uint8Array[], want: readonly Uint8Array[], what: string): void {
  same(got.map(hexOf), want.map(hexOf), `${what} (frames as hex)`);
}

/** Runs `f`; returns its value or the EmqpError it threw. Any other exception fails the check. */
function attempt<T>(f: () => T, what: string): T | EmqpError {
  try {
    return f();
  } catch (err) {
    if (err instanceof EmqpError) return err;
    fail(`${what} threw ${err instanceof Error ? `${err.name}: ${err.message}` : String(err)}, not an EmqpError`);
  }
}

function checkOutcome(got: unknown, v: EmqpVector, plainWant: unknown, what: string): void {
  if (v.expect.error) {
    const e = v.expect.error;
    if (!(got instanceof EmqpError)) fail(`${what}: accepted as ${cut(canonical(toPlain(got)))}, want EmqpError ${e.code}/${e.reason}`);
    if (got.code !== e.code || got.reason !== e.reason) fail(`${what}: EmqpError ${got.code}/${got.reason} (${got.message}), want ${e.code}/${e.reason}`);
    return;
  }
  if (got instanceof EmqpError) fail(`${what}: refused with ${got.reason} (${got.message})`);
  same(toPlain(got), plainWant, what);
}

// ---- message vectors ------------------------------------------------------------------------------

/** Splits ZMTP wire octets into frame bodies with FrameDecoder, checking the MORE/LONG flags. */
function wireFrames(hex: string): Buffer[] {
  const out: Buffer[] = [];
  const flags: number[] = [];
  const d = new FrameDecoder((f, body) => {
    flags.push(f);
    out.push(Buffer.from(body.buffer, body.byteOffset, body.byteLength));
  });
  const e = d.push(Buffer.from(hex, "hex"));
  if (e) fail(`hex is not ZMTP frames: ${e.reason} (${e.message})`);
  flags.forEach((f, i) => {
    if (!!(f & MORE) !== i < flags.length - 1) fail(`hex frame ${i}: MORE must be set on every frame but the last`);
    if (!!(f & LONG) !== out[i]!.length > 255) fail(`hex frame ${i}: LONG flag does not match its ${out[i]!.length} octets`);
  });
  return out;
}

function runMessage(v: EmqpVector): void {
  if (!Array.isArray(v.frames)) fail('a "message" vector needs "frames"');
  const frames = v.frames.map(frameBytes);
  sameFrames(wireFrames(v.hex), frames, "hex vs frames");
  const want = v.expect.command;
  if (!want && !v.expect.error) fail('expect has neither "command" nor "error"');

  const got = attempt(() => decode(frames), "decode");
  checkOutcome(got, v, want, "decode");
  // The same octets as views into one wire buffer (offsets != 0), and as a ROUTER sees them
  // (binary routing id first, start = 1), must decode the same.
  checkOutcome(attempt(() => decode(wireFrames(v.hex)), "decode(wire views)"), v, want, "decode(wire views)");
  const routerView = [Buffer.from([0x00, 0xff, 0x80, 0x01]), ...frames];
  checkOutcome(attempt(() => decode(routerView, 1), "decode(router view)"), v, want, "decode(router view, start 1)");
  if (v.expect.error) {
    if (v.encode) fail("an error vector cannot be marked encode");
    return;
  }
  const cmd = got as Command;
  const again = encode(cmd);
  if (v.encode) {
    sameFrames(again, frames, "encode(decoded)");
    const expected = fromPlain(want) as Record<string, unknown>;
    if (expected.queues === null) expected.queues = undefined; // INFORM with an empty queues frame
    sameFrames(encode(expected as unknown as Command), frames, "encode(expected command)");
  } else {
    // Marked "not reproduced": make sure it really is not, and that what we write reads back the same.
    if (canonical(again.map(hexOf)) === canonical(frames.map(hexOf))) fail("encode reproduces the frames exactly: mark the vector encode: true");
    same(toPlain(attempt(() => decode(again), "decode(encode(decoded))")), want, "decode(encode(decoded))");
  }
}

// ---- text vectors ---------------------------------------------------------------------------------

interface TextCodec {
  key: "headers" | "job" | "result";
  parse(s: string): unknown;
  format(v: unknown): string;
}

const TEXT: Record<"headers" | "job" | "result", TextCodec> = {
  headers: { key: "headers", parse: parseHeaders, format: (h) => formatHeaders(h as Parameters<typeof formatHeaders>[0]) },
  job: { key: "job", parse: parseJob, format: (j) => formatJob(j as Job) },
  result: { key: "result", parse: parseResult, format: (r) => formatResult(r as JobResult) },
};

function runText(v: EmqpVector, codec: TextCodec): void {
  if (typeof v.text !== "string") fail(`a "${v.input}" vector needs "text"`);
  same(Buffer.from(v.text, "utf8").toString("hex"), v.hex, "hex vs text");
  const want = v.expect[codec.key];
  if (!want && !v.expect.error) fail(`expect has neither "${codec.key}" nor "error"`);
  const got = attempt(() => codec.parse(v.text!), `parse ${v.input}`);
  checkOutcome(got, v, want, `parse ${v.input}`);
  if (v.expect.error) {
    if (v.encode) fail("an error vector cannot be marked encode");
    return;
  }
  const written = codec.format(got);
  if (v.encode) {
    same(written, v.text, `format(parsed ${v.input})`);
    same(codec.format(fromPlain(want)), v.text, `format(expected ${v.input})`);
  } else {
    // Marked "not reproduced": make sure it really is not, and that what we write is a fixed point.
    if (written === v.text) fail(`format reproduces the text exactly: mark the vector encode: true`);
    const reread = attempt(() => codec.parse(written), `parse(format(parsed))`);
    if (reread instanceof EmqpError) fail(`parse(format(parsed ${v.input})) refused ${JSON.stringify(written)}: ${reread.reason}`);
    same(codec.format(reread), written, `format(parse(format(parsed ${v.input})))`);
  }
}

/** Checks one vector; throws an Error describing the first difference. */
export function runEmqpVector(v: EmqpVector): void {
  if (typeof v.hex !== "string" || !/^(?:[0-9a-f]{2})*$/.test(v.hex)) fail('"hex" must be lower-case hex');
  switch (v.input) {
    case "message":
      return runMessage(v);
    case "headers":
    case "job":
    case "result":
      return runText(v, TEXT[v.input]);
    default:
      fail(`unknown input ${JSON.stringify((v as { input?: unknown }).input)} (message, headers, job, result)`);
  }
}

// ---- loading --------------------------------------------------------------------------------------

const VECTOR_DIR = new URL("../../spec/vectors/", import.meta.url);

/** Every vector of spec/vectors/emqp*.json, with the file it came from. */
export function loadEmqpVectors(): { file: string; vector: EmqpVector }[] {
  const out: { file: string; vector: EmqpVector }[] = [];
  const files = readdirSync(fileURLToPath(VECTOR_DIR))
    .filter((f) => /^emqp(?:-.+)?\.json$/.test(f))
    .sort();
  for (const file of files) {
    const doc = JSON.parse(readFileSync(new URL(file, VECTOR_DIR), "utf8")) as { schema?: string; kind?: string; vectors?: EmqpVector[] };
    if (doc.schema !== EMQP_VECTOR_SCHEMA || doc.kind !== "emqp" || !Array.isArray(doc.vectors)) {
      fail(`spec/vectors/${file}: want schema ${EMQP_VECTOR_SCHEMA}, kind emqp and a vectors array`);
    }
    for (const vector of doc.vectors) out.push({ file, vector });
  }
  return out;
}
