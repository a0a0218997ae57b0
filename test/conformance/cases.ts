// The conformance table: one list of cases that every runtime runs unchanged. Node runs it through
// tap (conformance.test.ts); Bun and Deno run it with run.ts. No test framework here: each case's
// run() resolves on success and throws (an Error with a useful message) on failure, and every wait
// is bounded by a timeout. Only node: modules that Node, Bun and Deno all provide are used.
//
// Cases:
//   vector <kind>/<name>   every vector in spec/vectors/*.json (schema: spec/zmtp.md, "Test vectors"),
//                          decoded whole, split in two at every offset and one octet at a time
//   dealer-router ...      DEALER <-> ROUTER over tcp://127.0.0.1 with our own sockets
//   fake-peer ...          a hand-written ZMTP peer (raw node:net) against our connecting DEALER
//   writer-decoder ...     FrameWriter -> FrameDecoder round trip, split at every offset

import { Buffer } from "node:buffer";
import { readFileSync, readdirSync } from "node:fs";
import * as net from "node:net";
import { fileURLToPath } from "node:url";
import { Dealer, Router } from "../../src/index.js";
// These import withTimeout and Case from here; the cycle is safe because none of them runs
// anything at load time.
import { patternCases } from "./pattern-cases.js";
import { pubsubCases } from "./pubsub-cases.js";
import { queueApiCases } from "./queue-api-cases.js";
import { EMQP_VECTOR_SCHEMA, runEmqpVector, type EmqpVector } from "./emqp-cases.js";
import {
  COMMAND,
  LONG,
  MORE,
  FrameDecoder,
  FrameWriter,
  ZmtpError,
  checkGreetingPrefix,
  concat,
  encodeCommand,
  encodeError,
  encodeFrame,
  encodePlainError,
  parsePlainCommand,
  encodeGreeting,
  encodePing,
  encodePong,
  encodeReady,
  parseCommand,
  parseError,
  parseGreeting,
  parseMetadata,
  parsePing,
} from "../../src/zmtp/index.js";

export interface Case {
  name: string;
  run(): Promise<void>;
}

/** Upper bound for any single network case (each wait inside has its own, shorter bound). */
export const CASE_TIMEOUT_MS = 20_000;
const WAIT_MS = 5_000;

// ---- small helpers (no Buffer needed for the pure checks) -----------------------------------------

const HEX = /^(?:[0-9a-fA-F]{2})*$/;

export function fromHex(h: string): Uint8Array {
  if (!HEX.test(h)) throw new Error(`not a hex string: ${JSON.stringify(h.slice(0, 40))}`);
  const out = new Uint8Array(h.length / 2);
  for (let i = 0; i < out.length; i++) out[i] = parseInt(h.slice(i * 2, i * 2 + 2), 16);
  return out;
}

export function toHex(b: Uint8Array): string {
  let s = "";
  for (let i = 0; i < b.length; i++) s += b[i]!.toString(16).padStart(2, "0");
  return s;
}

const short = (h: string): string => (h === "" ? "(empty)" : h.length > 80 ? `${h.slice(0, 40)}...${h.slice(-16)} (${h.length / 2} octets)` : h);

function fail(msg: string): never {
  throw new Error(msg);
}

function eq<T>(actual: T, expected: T, what: string): void {
  if (actual !== expected) fail(`${what}: got ${JSON.stringify(actual)}, want ${JSON.stringify(expected)}`);
}

function eqBytes(actual: Uint8Array, expected: Uint8Array, what: string): void {
  const a = toHex(actual);
  const e = toHex(expected);
  if (a !== e) fail(`${what}: got ${short(a)}, want ${short(e)}`);
}

function assert(cond: unknown, msg: string): asserts cond {
  if (!cond) fail(msg);
}

/** Rejects with a timeout error if `p` does not settle within `ms`. */
export function withTimeout<T>(p: Promise<T>, ms: number, what: string): Promise<T> {
  let timer: ReturnType<typeof setTimeout> | undefined;
  const timeout = new Promise<never>((_, reject) => {
    timer = setTimeout(() => reject(new Error(`timed out after ${ms} ms: ${what}`)), ms);
  });
  return Promise.race([p, timeout]).finally(() => clearTimeout(timer));
}

const errText = (e: ZmtpError): string => `${e.code}/${e.reason} (${e.message})`;

// ---- vectors ----------------------------------------------------------------------------------

interface ErrorExpect {
  code: string;
  reason: string;
  at?: number;
}

interface Vector {
  name: string;
  description?: string;
  hex: string;
  encode?: boolean;
  /** "libzmq": the command is spelled as libzmq's PLAIN mechanism spells it (see plain.ts). */
  spelling?: "libzmq";
  options?: { maxFrameSize?: number };
  expect: Record<string, unknown>;
}

interface VectorFile {
  schema?: string;
  kind?: string;
  vectors: Vector[];
}

const VECTOR_DIR = new URL("../../spec/vectors/", import.meta.url);

/** The ways a streaming receiver may see the input: whole, two chunks split at every offset, octets. */
function* splits(bytes: Uint8Array): Generator<[label: string, chunks: Uint8Array[]]> {
  yield ["whole", [bytes]];
  for (let i = 1; i < bytes.length; i++) yield [`split@${i}`, [bytes.subarray(0, i), bytes.subarray(i)]];
  if (bytes.length > 1) {
    const octets: Uint8Array[] = [];
    for (let i = 0; i < bytes.length; i++) octets.push(bytes.subarray(i, i + 1));
    yield ["octets", octets];
  }
}

interface Decoded {
  frames: { flags: number; body: Uint8Array }[];
  error: ZmtpError | undefined;
}

/** Runs chunks through a fresh FrameDecoder; bodies are copied (they may be views of the chunks). */
function decode(chunks: readonly Uint8Array[], maxFrameSize?: number): Decoded & { decoder: FrameDecoder } {
  const frames: Decoded["frames"] = [];
  const decoder = new FrameDecoder((flags, body) => frames.push({ flags, body: body.slice() }), {
    ...(maxFrameSize !== undefined ? { maxFrameSize } : {}),
  });
  let error: ZmtpError | undefined;
  for (const c of chunks) {
    error = decoder.push(c);
    if (error) break;
  }
  return { frames, error, decoder };
}

function checkError(got: ZmtpError | undefined, want: ErrorExpect, what: string): void {
  if (!got) fail(`${what}: no error, want ${want.code}/${want.reason}`);
  assert(got instanceof ZmtpError, `${what}: error is not a ZmtpError: ${String(got)}`);
  if (got.code !== want.code || got.reason !== want.reason) {
    fail(`${what}: got ${errText(got)}, want ${want.code}/${want.reason}`);
  }
}

// greeting ----------------------------------------------------------------------------------------

function runGreetingVector(v: Vector): void {
  const bytes = fromHex(v.hex);
  eq(bytes.length, 64, "greeting vector length");
  const want = v.expect as {
    greeting?: { major: number; minor: number; mechanism: string; asServer: boolean };
    error?: ErrorExpect;
  };
  const got = parseGreeting(bytes);
  if (want.greeting) {
    if (got instanceof ZmtpError) fail(`parseGreeting refused it: ${errText(got)}`);
    const g = want.greeting;
    eq(got.major, g.major, "major");
    eq(got.minor, g.minor, "minor");
    eq(got.mechanism, g.mechanism, "mechanism");
    eq(got.asServer, g.asServer, "asServer");
    // A streaming receiver must never refuse any prefix of an acceptable greeting.
    for (let n = 0; n <= 64; n++) {
      const e = checkGreetingPrefix(bytes.subarray(0, n), n);
      if (e) fail(`checkGreetingPrefix refused the first ${n} octets: ${errText(e)}`);
    }
    if (v.encode) eqBytes(encodeGreeting(g.mechanism, g.asServer, g.minor), bytes, "encodeGreeting");
  } else if (want.error) {
    const e = want.error;
    checkError(got instanceof ZmtpError ? got : undefined, e, "parseGreeting");
    const at = e.at ?? 64;
    // No prefix shorter than `at` is an error yet...
    for (let n = 0; n < at; n++) {
      const early = checkGreetingPrefix(bytes.subarray(0, n), n);
      if (early) fail(`refused after ${n} octets (${errText(early)}), want the refusal at octet ${at}`);
    }
    // ...and `at` octets are (for at = 64 the full parse is what refuses it, checked above).
    if (at < 64) checkError(checkGreetingPrefix(bytes.subarray(0, at), at), e, `checkGreetingPrefix(${at} octets)`);
    if (v.encode) fail("an error vector cannot be marked encode");
  } else {
    fail(`expect has neither "greeting" nor "error": ${JSON.stringify(v.expect)}`);
  }
}

// frames ------------------------------------------------------------------------------------------

function runFramesVector(v: Vector): void {
  const bytes = fromHex(v.hex);
  const want = v.expect as { frames?: { flags: number; bodyHex: string }[]; partial?: boolean; error?: ErrorExpect };
  assert(Array.isArray(want.frames), `expect.frames is missing: ${JSON.stringify(v.expect)}`);
  const max = v.options?.maxFrameSize;
  for (const [label, chunks] of splits(bytes)) {
    const got = decode(chunks, max);
    const what = `decode ${label}`;
    eq(got.frames.length, want.frames.length, `${what}: number of frames`);
    want.frames.forEach((f, i) => {
      eq(got.frames[i]!.flags, f.flags, `${what}: frame ${i} flags`);
      eqBytes(got.frames[i]!.body, fromHex(f.bodyHex), `${what}: frame ${i} body`);
    });
    if (want.error) {
      checkError(got.error, want.error, what);
      continue;
    }
    if (got.error) fail(`${what}: unexpected error ${errText(got.error)}`);
    // partial: push an empty frame (00 00). At a frame boundary it comes out; mid-frame it does not.
    const before = got.frames.length;
    const e = got.decoder.push(new Uint8Array([0, 0]));
    if (e) fail(`${what}: error after the 00 00 probe: ${errText(e)}`);
    const extra = got.frames.length - before;
    if (want.partial) eq(extra, 0, `${what}: frames after the 00 00 probe (decoder should be mid-frame)`);
    else {
      eq(extra, 1, `${what}: frames after the 00 00 probe (decoder should be at a frame boundary)`);
      eq(got.frames[before]!.flags, 0, `${what}: probe frame flags`);
      eq(got.frames[before]!.body.length, 0, `${what}: probe frame size`);
    }
  }
  if (v.encode) {
    const frames = want.frames.map((f) => ({ flags: f.flags, body: fromHex(f.bodyHex) }));
    eqBytes(concat(frames.map((f) => encodeFrame(f.flags, f.body))), bytes, "encodeFrame");
    const w = new FrameWriter();
    for (const f of frames) w.frame(f.flags, f.body);
    eqBytes(concat(w.take()), bytes, "FrameWriter");
  }
}

// commands ----------------------------------------------------------------------------------------

interface CommandExpect {
  name: string;
  dataHex: string;
  metadata?: [string, string][];
  reason?: string;
  ttl?: number;
  contextHex?: string;
  pongHex?: string;
  topicHex?: string;
}

/** Decodes one command frame and parses it, typed parser included; returns the first error. */
function parseCommandFrame(
  chunks: readonly Uint8Array[],
  parse: (body: Uint8Array) => ReturnType<typeof parseCommand> = parseCommand,
): { error: ZmtpError } | { name: string; data: Uint8Array } {
  const got = decode(chunks);
  if (got.error) return { error: got.error };
  if (got.frames.length !== 1) fail(`decoded ${got.frames.length} frames, want exactly one command frame`);
  const frame = got.frames[0]!;
  if (!(frame.flags & COMMAND)) fail(`frame flags ${frame.flags} lack the COMMAND bit`);
  const cmd = parse(frame.body);
  if (cmd instanceof ZmtpError) return { error: cmd };
  let typed: unknown;
  if (cmd.name === "READY") typed = parseMetadata(cmd.data);
  else if (cmd.name === "ERROR") typed = parseError(cmd.data);
  else if (cmd.name === "PING") typed = parsePing(cmd.data);
  if (typed instanceof ZmtpError) return { error: typed };
  return { name: cmd.name, data: cmd.data.slice() };
}

function runCommandsVector(v: Vector): void {
  const bytes = fromHex(v.hex);
  const libzmq = v.spelling === "libzmq";
  const want = v.expect as { command?: CommandExpect; error?: ErrorExpect };
  for (const [label, chunks] of splits(bytes)) {
    const got = parseCommandFrame(chunks, libzmq ? parsePlainCommand : parseCommand);
    const what = `decode ${label}`;
    if (want.error) {
      checkError("error" in got ? got.error : undefined, want.error, what);
      continue;
    }
    assert(want.command, `expect has neither "command" nor "error": ${JSON.stringify(v.expect)}`);
    if ("error" in got) fail(`${what}: refused: ${errText(got.error)}`);
    eq(got.name, want.command.name, `${what}: command name`);
    eqBytes(got.data, fromHex(want.command.dataHex), `${what}: command data`);
  }
  if (!want.command) return;
  const c = want.command;
  const data = fromHex(c.dataHex);
  let encoded: Uint8Array;
  switch (c.name) {
    case "READY": {
      assert(Array.isArray(c.metadata), "READY vector lacks expect.command.metadata");
      const meta = parseMetadata(data);
      if (meta instanceof ZmtpError) fail(`parseMetadata: ${errText(meta)}`);
      // Names compare case-insensitively and the last duplicate wins: build the same view of `expect`.
      const wantMeta = new Map<string, string>();
      for (const [name, valueHex] of c.metadata) wantMeta.set(name.toLowerCase(), valueHex);
      eq([...meta.keys()].join(","), [...wantMeta.keys()].join(","), "metadata names (lower-cased, wire order)");
      for (const [name, valueHex] of wantMeta) eqBytes(meta.get(name)!, fromHex(valueHex), `metadata ${name}`);
      encoded = encodeReady(c.metadata.map(([name, valueHex]) => [name, fromHex(valueHex)] as const));
      break;
    }
    case "ERROR": {
      const reason = parseError(data);
      if (reason instanceof ZmtpError) fail(`parseError: ${errText(reason)}`);
      eq(reason, c.reason, "ERROR reason");
      encoded = (libzmq ? encodePlainError : encodeError)(c.reason ?? "");
      break;
    }
    case "PING": {
      const ping = parsePing(data);
      if (ping instanceof ZmtpError) fail(`parsePing: ${errText(ping)}`);
      eq(ping.ttlDeciseconds, c.ttl, "PING ttl");
      eqBytes(ping.context, fromHex(c.contextHex ?? ""), "PING context");
      if (c.pongHex !== undefined) eqBytes(encodeFrame(COMMAND, encodePong(ping.context)), fromHex(c.pongHex), "PONG answer");
      encoded = encodePing(c.ttl ?? 0, ping.context);
      break;
    }
    case "PONG":
      eqBytes(data, fromHex(c.contextHex ?? ""), "PONG context");
      encoded = encodePong(data);
      break;
    case "SUBSCRIBE":
    case "CANCEL":
      eqBytes(data, fromHex(c.topicHex ?? ""), `${c.name} topic`);
      encoded = encodeCommand(c.name, data);
      break;
    default:
      encoded = encodeCommand(c.name, data);
  }
  if (v.encode) eqBytes(encodeFrame(COMMAND, encoded), bytes, "re-encoded command frame");
}

const RUNNERS: Record<string, (v: Vector) => void> = {
  greeting: runGreetingVector,
  frames: runFramesVector,
  commands: runCommandsVector,
  emqp: (v) => runEmqpVector(v as unknown as EmqpVector),
};

/** One case per vector; a missing or unreadable vector set is itself a failing case. */
function vectorCases(): Case[] {
  let files: string[];
  try {
    files = readdirSync(fileURLToPath(VECTOR_DIR))
      .filter((f) => f.endsWith(".json"))
      .sort();
  } catch (err) {
    return [{ name: "vectors: spec/vectors/ is readable", run: async () => fail(`cannot list spec/vectors/: ${String(err)}`) }];
  }
  if (files.length === 0) {
    return [{ name: "vectors: spec/vectors/*.json exist", run: async () => fail("no JSON files in spec/vectors/") }];
  }
  const out: Case[] = [];
  for (const file of files) {
    let doc: VectorFile;
    try {
      doc = JSON.parse(readFileSync(new URL(file, VECTOR_DIR), "utf8")) as VectorFile;
      if (!doc || !Array.isArray(doc.vectors)) throw new Error('no "vectors" array');
    } catch (err) {
      out.push({ name: `vectors: ${file} parses`, run: async () => fail(`spec/vectors/${file}: ${String(err)}`) });
      continue;
    }
    // `kind` names the layer; the file name (greeting.json, frames.json, commands.json) is the fallback.
    const kind = doc.kind ?? file.replace(/\.json$/, "");
    const runner = RUNNERS[kind];
    if (!runner) {
      out.push({
        name: `vectors: ${file} has a known kind`,
        run: async () => fail(`spec/vectors/${file}: unknown kind ${JSON.stringify(kind)} (known: ${Object.keys(RUNNERS).join(", ")})`),
      });
      continue;
    }
    const schema = kind === "emqp" ? EMQP_VECTOR_SCHEMA : "emq-zmtp-vectors/1";
    if (doc.schema !== undefined && doc.schema !== schema) {
      out.push({
        name: `vectors: ${file} schema`,
        run: async () => fail(`spec/vectors/${file}: schema ${JSON.stringify(doc.schema)}, this runner reads ${schema}`),
      });
      continue;
    }
    const seen = new Set<string>();
    doc.vectors.forEach((v, i) => {
      const name = typeof v?.name === "string" ? v.name : `#${i}`;
      const dup = seen.has(name);
      seen.add(name);
      out.push({
        name: `vector ${kind}/${name}`,
        run: async () => {
          if (dup) fail(`duplicate vector name in ${file}`);
          if (typeof v.hex !== "string") fail('vector has no "hex" string');
          if (!v.expect || typeof v.expect !== "object") fail('vector has no "expect" object');
          runner(v);
        },
      });
    });
  }
  return out;
}

// ---- DEALER <-> ROUTER over tcp ------------------------------------------------------------------

const pattern = (n: number, seed: number): Buffer => {
  const b = Buffer.allocUnsafe(n);
  for (let i = 0; i < n; i++) b[i] = (i * 7 + seed) & 0xff;
  return b;
};

function eqFrames(got: readonly Uint8Array[], want: readonly Uint8Array[], what: string): void {
  eq(got.length, want.length, `${what}: number of frames`);
  want.forEach((w, i) => eqBytes(got[i]!, w, `${what}: frame ${i}`));
}

async function dealerRouter(): Promise<void> {
  const router = new Router({ linger: 0 });
  const named = new Dealer({ routingId: "conf-dealer", linger: 0 });
  const anon = new Dealer({ linger: 0 });
  try {
    await withTimeout(router.bind("tcp://127.0.0.1:0"), WAIT_MS, "router.bind");
    const ep = router.lastEndpoint;
    assert(ep && /^tcp:\/\/127\.0\.0\.1:\d+$/.test(ep) && !ep.endsWith(":0"), `lastEndpoint is ${ep}`);
    named.connect(ep);
    anon.connect(ep);

    // Multipart with an empty frame, a 300-octet (LONG) frame and a 255-octet (largest short) one.
    const req = [Buffer.from("hello"), Buffer.alloc(0), pattern(300, 1), pattern(255, 2)];
    await withTimeout(named.send(req), WAIT_MS, "dealer.send");
    const got = await withTimeout(router.receive(), WAIT_MS, "router.receive from the named dealer");
    eqBytes(got[0]!, Buffer.from("conf-dealer"), "routing id = the dealer's routingId");
    eqFrames(got.slice(1), req, "router received");
    assert(got.every((f) => Buffer.isBuffer(f)), "receive() must return Buffers");

    // A single empty frame is a valid message too.
    await withTimeout(named.send(Buffer.alloc(0)), WAIT_MS, "dealer.send(empty)");
    const empty = await withTimeout(router.receive(), WAIT_MS, "router.receive(empty)");
    eqFrames(empty, [Buffer.from("conf-dealer"), Buffer.alloc(0)], "router received the empty message");

    // Reply back through the routing id.
    const rep = [Buffer.from("world"), Buffer.alloc(0), pattern(300, 3)];
    await withTimeout(router.send([got[0]!, ...rep]), WAIT_MS, "router.send");
    eqFrames(await withTimeout(named.receive(), WAIT_MS, "dealer.receive"), rep, "dealer received");

    // An anonymous dealer gets a generated routing id (5 octets, starting with 0 like libzmq's).
    await withTimeout(anon.send(["anon", pattern(300, 4)]), WAIT_MS, "anon dealer send");
    const a = await withTimeout(router.receive(), WAIT_MS, "router.receive from the anonymous dealer");
    eq(a.length, 3, "anonymous message frames (id + 2)");
    eq(a[0]!.length, 5, "generated routing id length");
    eq(a[0]![0], 0, "generated routing id first octet");
    eqBytes(a[1]!, Buffer.from("anon"), "anonymous frame 0");
    eqBytes(a[2]!, pattern(300, 4), "anonymous frame 1");
    await withTimeout(router.send([a[0]!, "back"]), WAIT_MS, "router.send to the anonymous dealer");
    eqFrames(await withTimeout(anon.receive(), WAIT_MS, "anon.receive"), [Buffer.from("back")], "anonymous dealer received");
  } finally {
    named.close();
    anon.close();
    router.close();
  }
}

// ---- fake peer: a hand-written ZMTP 3.1 ROUTER against our DEALER --------------------------------

/** Buffers a node:net socket's input and hands it out by exact length, with timeouts. */
class ByteReader {
  private buf = Buffer.alloc(0);
  private waiter: (() => void) | undefined;
  private ended: Error | undefined;

  constructor(sock: net.Socket) {
    sock.on("data", (d: Buffer) => {
      this.buf = Buffer.concat([this.buf, d]);
      this.waiter?.();
    });
    sock.on("close", () => {
      this.ended ??= new Error("peer closed the connection");
      this.waiter?.();
    });
    sock.on("error", (e) => {
      this.ended = e;
      this.waiter?.();
    });
  }

  async read(n: number, what: string): Promise<Buffer> {
    const deadline = Date.now() + WAIT_MS;
    while (this.buf.length < n) {
      if (this.ended) fail(`${what}: ${this.ended.message} after ${this.buf.length} of ${n} octets`);
      const left = deadline - Date.now();
      if (left <= 0) fail(`${what}: timed out with ${this.buf.length} of ${n} octets`);
      await withTimeout(new Promise<void>((r) => (this.waiter = r)), left, `${what} (${this.buf.length} of ${n} octets)`).finally(
        () => (this.waiter = undefined),
      );
    }
    const out = this.buf.subarray(0, n);
    this.buf = this.buf.subarray(n);
    return Buffer.from(out);
  }

  /** Reads one frame by hand: flags, 1- or 8-octet size, body. */
  async frame(what: string): Promise<{ flags: number; body: Buffer }> {
    const [flags] = await this.read(1, `${what}: flags`);
    let size: number;
    if (flags! & LONG) {
      const s = await this.read(8, `${what}: long size`);
      size = s.readUInt32BE(0) * 0x1_0000_0000 + s.readUInt32BE(4);
      assert(size < 1 << 20, `${what}: implausible frame size ${size}`);
    } else {
      size = (await this.read(1, `${what}: size`))[0]!;
    }
    return { flags: flags!, body: await this.read(size, `${what}: body`) };
  }
}

/** Parses READY properties by hand (not with src/zmtp): [name, value] in wire order. */
function handParseProperties(data: Buffer): [string, Buffer][] {
  const out: [string, Buffer][] = [];
  let off = 0;
  while (off < data.length) {
    const nl = data[off]!;
    const name = data.toString("latin1", off + 1, off + 1 + nl);
    off += 1 + nl;
    assert(off + 4 <= data.length, "READY property truncated");
    const vl = data.readUInt32BE(off);
    off += 4;
    assert(off + vl <= data.length, "READY property value truncated");
    out.push([name, data.subarray(off, off + vl)]);
    off += vl;
  }
  return out;
}

const PEER_GREETING = Buffer.concat([
  Buffer.from([0xff, 0, 0, 0, 0, 0, 0, 0, 0x01, 0x7f, 0x03, 0x01]), // signature + version 3.1
  Buffer.from("NULL"),
  Buffer.alloc(16), // mechanism NUL padding (20 octets in all)
  Buffer.from([0x00]), // as-server
  Buffer.alloc(31), // filler
]);

// READY with Socket-Type ROUTER, written out octet by octet.
const PEER_READY = Buffer.concat([
  Buffer.from([0x04, 0x1c]), // COMMAND, size 28
  Buffer.from([0x05]),
  Buffer.from("READY"),
  Buffer.from([0x0b]),
  Buffer.from("Socket-Type"),
  Buffer.from([0x00, 0x00, 0x00, 0x06]),
  Buffer.from("ROUTER"),
]);

async function fakePeer(): Promise<void> {
  assert(PEER_GREETING.length === 64, "fake peer greeting must be 64 octets");
  assert(PEER_READY.length === 30, "fake peer READY must be 30 octets");
  let accepted: (s: net.Socket) => void = () => {};
  const acceptedP = new Promise<net.Socket>((r) => (accepted = r));
  const server = net.createServer((s) => accepted(s));
  const dealer = new Dealer({ routingId: "fake-id", linger: 0 });
  let conn: net.Socket | undefined;
  try {
    await withTimeout(
      new Promise<void>((resolve, reject) => {
        server.once("error", reject);
        server.listen({ host: "127.0.0.1", port: 0 }, () => resolve());
      }),
      WAIT_MS,
      "fake peer listen",
    );
    const port = (server.address() as net.AddressInfo).port;
    dealer.connect(`tcp://127.0.0.1:${port}`);
    conn = await withTimeout(acceptedP, WAIT_MS, "fake peer accept");
    const rd = new ByteReader(conn);
    conn.write(PEER_GREETING);

    // Our greeting: FF, 8 padding octets, 7F, version 3.1, "NULL" padded to 20, as-server 0, filler.
    const g = await rd.read(64, "our greeting");
    eq(g[0], 0xff, "greeting octet 0");
    eq(g[9], 0x7f, "greeting octet 9");
    eq(g[10], 3, "greeting major version");
    eq(g[11], 1, "greeting minor version");
    eqBytes(g.subarray(12, 32), Buffer.concat([Buffer.from("NULL"), Buffer.alloc(16)]), "greeting mechanism");
    eq(g[32], 0, "greeting as-server");
    eqBytes(g.subarray(33), Buffer.alloc(31), "greeting filler");

    // Our READY: a command frame whose properties include Socket-Type DEALER (and our Identity).
    const ready = await rd.frame("our READY");
    eq(ready.flags, COMMAND, "READY frame flags");
    eq(ready.body[0], 5, "READY name length");
    eq(ready.body.toString("latin1", 1, 6), "READY", "command name");
    const props = handParseProperties(ready.body.subarray(6));
    const prop = (n: string) => props.find(([k]) => k.toLowerCase() === n.toLowerCase())?.[1];
    const st = prop("Socket-Type");
    assert(st, `READY has no Socket-Type: ${JSON.stringify(props.map(([k]) => k))}`);
    eq(st.toString("latin1"), "DEALER", "Socket-Type");
    eq(props[0]![0], "Socket-Type", "first property (canonical case)");
    const id = prop("Identity");
    assert(id, "READY has no Identity property");
    eq(id.toString("latin1"), "fake-id", "Identity");
    conn.write(PEER_READY);

    // One message each way: DEALER -> peer is sent as is (no envelope), peer -> DEALER likewise.
    await withTimeout(dealer.send(["ping", Buffer.alloc(0), "x"]), WAIT_MS, "dealer.send to the fake peer");
    const frames: { flags: number; body: Buffer }[] = [];
    for (;;) {
      const f = await rd.frame("our message frame");
      if (f.flags & COMMAND) continue; // e.g. a heartbeat PING: not part of the message
      frames.push(f);
      if (!(f.flags & MORE)) break;
    }
    eq(frames.map((f) => f.flags).join(","), `${MORE},${MORE},0`, "message frame flags");
    eqFrames(
      frames.map((f) => f.body),
      [Buffer.from("ping"), Buffer.alloc(0), Buffer.from("x")],
      "message the fake peer received",
    );

    conn.write(Buffer.concat([Buffer.from([MORE, 4]), Buffer.from("pong"), Buffer.from([0, 0])]));
    eqFrames(
      await withTimeout(dealer.receive(), WAIT_MS, "dealer.receive from the fake peer"),
      [Buffer.from("pong"), Buffer.alloc(0)],
      "message the dealer received",
    );
  } finally {
    dealer.close();
    conn?.destroy();
    await withTimeout(new Promise<void>((r) => server.close(() => r())), WAIT_MS, "fake peer close").catch(() => {});
  }
}

// ---- FrameWriter -> FrameDecoder, every split ----------------------------------------------------

async function writerDecoderSplits(): Promise<void> {
  const messages: Uint8Array[][] = [
    [new Uint8Array(0)],
    [Uint8Array.of(0x41)],
    [Uint8Array.of(1, 2), new Uint8Array(0), pattern(255, 5)],
    [pattern(256, 6)],
    [new Uint8Array(0), pattern(300, 7), Uint8Array.of(0xff)],
  ];
  const w = new FrameWriter();
  for (const m of messages) w.message(m);
  const wire = concat(w.take());
  const want: { flags: number; body: Uint8Array }[] = [];
  for (const m of messages) m.forEach((body, i) => want.push({ flags: i < m.length - 1 ? MORE : 0, body }));
  eqBytes(wire, concat(want.map((f) => encodeFrame(f.flags, f.body))), "FrameWriter output vs encodeFrame");
  const check = (chunks: Uint8Array[], label: string) => {
    const got = decode(chunks);
    if (got.error) fail(`${label}: ${errText(got.error)}`);
    eq(got.frames.length, want.length, `${label}: number of frames`);
    want.forEach((f, i) => {
      eq(got.frames[i]!.flags & ~LONG, f.flags, `${label}: frame ${i} flags`);
      eq(!!(got.frames[i]!.flags & LONG), f.body.length > 255, `${label}: frame ${i} LONG bit`);
      eqBytes(got.frames[i]!.body, f.body, `${label}: frame ${i} body`);
    });
  };
  for (const [label, chunks] of splits(wire)) check(chunks, label);
  // Three chunks: every pair of cut points within the first 40 octets (headers and small bodies).
  for (let i = 1; i < 40; i++) for (let j = i + 1; j < 41; j++) check([wire.subarray(0, i), wire.subarray(i, j), wire.subarray(j)], `split@${i},${j}`);

  // Large frames: by reference (>= 8 KiB) and collected in pieces (> 64 KiB), a few splits each.
  const big = [[pattern(8192, 8), pattern(70_000, 9)], [pattern(65_536, 10)]];
  const bw = new FrameWriter();
  for (const m of big) bw.message(m);
  const bwire = concat(bw.take());
  const bwant = [pattern(8192, 8), pattern(70_000, 9), pattern(65_536, 10)];
  for (const cut of [1, 2, 9, 10, 4096, 8201, 8202, 8211, 50_000, 78_211, 78_212, bwire.length - 1]) {
    for (const step of [0, 997]) {
      const chunks: Uint8Array[] = [bwire.subarray(0, cut)];
      let off = cut;
      if (step > 0) for (; off + step < bwire.length; off += step) chunks.push(bwire.subarray(off, off + step));
      chunks.push(bwire.subarray(off));
      const got = decode(chunks);
      const label = `large split@${cut}${step ? `+${step}` : ""}`;
      if (got.error) fail(`${label}: ${errText(got.error)}`);
      eq(got.frames.length, 3, `${label}: number of frames`);
      bwant.forEach((b, i) => eqBytes(got.frames[i]!.body, b, `${label}: frame ${i} body`));
      eq(got.frames.map((f) => f.flags).join(","), `${MORE | LONG},${LONG},${LONG}`, `${label}: flags`);
    }
  }
}

// ---- the table ----------------------------------------------------------------------------------

export const cases: Case[] = [
  ...vectorCases(),
  { name: "dealer-router: multipart, empty and 300 B frames, identity, reply (tcp 127.0.0.1)", run: dealerRouter },
  { name: "fake-peer: hand-written ZMTP 3.1 NULL ROUTER vs our connecting DEALER", run: fakePeer },
  { name: "writer-decoder: FrameWriter -> FrameDecoder round trip split at every offset", run: writerDecoderSplits },
  ...pubsubCases,
  ...patternCases,
  ...queueApiCases,
];
