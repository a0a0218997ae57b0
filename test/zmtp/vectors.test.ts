// Runs every byte-level vector in spec/vectors/*.json (schema: spec/zmtp.md, "Test vectors") through
// the real decoder and parsers, whole, split at every offset and byte by byte, and re-encodes the
// vectors marked `encode` with our encoders.

import t from "tap";
import { readFileSync } from "node:fs";
import {
  COMMAND,
  FrameDecoder,
  FrameWriter,
  Session,
  ZmtpError,
  checkGreetingPrefix,
  concat,
  encodeCommand,
  encodeError,
  encodeFrame,
  encodeGreeting,
  encodePing,
  encodePong,
  encodeReady,
  parseCommand,
  parseError,
  parseGreeting,
  parseMetadata,
  parsePing,
  type Command,
} from "../../src/zmtp/index.js";

interface ErrorExpect {
  code: string;
  reason: string;
  at?: number;
}
interface GreetingVector {
  name: string;
  description: string;
  hex: string;
  encode?: boolean;
  expect: { greeting?: { major: number; minor: number; mechanism: string; asServer: boolean }; error?: ErrorExpect };
}
interface FrameExpect {
  flags: number;
  bodyHex: string;
}
interface FramesVector {
  name: string;
  description: string;
  hex: string;
  encode?: boolean;
  options?: { maxFrameSize?: number };
  expect: { frames: FrameExpect[]; partial?: boolean; error?: ErrorExpect };
}
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
interface CommandVector {
  name: string;
  description: string;
  hex: string;
  encode?: boolean;
  expect: { command?: CommandExpect; error?: ErrorExpect };
}
interface VectorFile<V> {
  schema: string;
  kind: string;
  vectors: V[];
}

const load = <V>(file: string): VectorFile<V> =>
  JSON.parse(readFileSync(new URL(`../../spec/vectors/${file}`, import.meta.url), "utf8")) as VectorFile<V>;

const fromHex = (h: string): Uint8Array => Uint8Array.from(Buffer.from(h, "hex"));
const toHex = (b: Uint8Array): string => Buffer.from(b.buffer, b.byteOffset, b.length).toString("hex");
const errOf = (e: ZmtpError) => ({ code: e.code, reason: e.reason });

const greetings = load<GreetingVector>("greeting.json");
const frames = load<FramesVector>("frames.json");
const commands = load<CommandVector>("commands.json");

t.test("vector files are well-formed", async (t) => {
  for (const [file, kind] of [
    [greetings, "greeting"],
    [frames, "frames"],
    [commands, "commands"],
  ] as const) {
    t.equal(file.schema, "emq-zmtp-vectors/1", `${kind}: schema`);
    t.equal(file.kind, kind, `${kind}: kind`);
    t.ok(file.vectors.length > 0, `${kind}: has vectors`);
    const names = new Set<string>();
    for (const v of file.vectors as { name: string; description: string; hex: string; expect: object }[]) {
      t.notOk(names.has(v.name), `${kind}/${v.name}: unique name`);
      names.add(v.name);
      t.type(v.description, "string", `${kind}/${v.name}: description`);
      t.match(v.hex, /^([0-9a-f]{2})*$/, `${kind}/${v.name}: lower-case hex`);
      t.type(v.expect, "object", `${kind}/${v.name}: expect`);
    }
  }
  // The brief's byte strings, pinned so that the files cannot silently drift from them.
  const byName = <V extends { name: string }>(f: VectorFile<V>, n: string): V => f.vectors.find((v) => v.name === n)!;
  t.equal(byName(commands, "ready-dealer-empty-identity").hex.length / 2, 43);
  t.equal(byName(commands, "ready-sub").hex.length / 2, 27);
  t.equal(byName(commands, "ping-ttl0-lol").hex, "040a0450494e4700004c4f4c");
  t.equal(byName(commands, "pong-lol").hex, "040804504f4e474c4f4c");
  t.equal(byName(commands, "subscribe-a").hex, "040b0953554253435249424541");
  t.equal(byName(greetings, "libzmq-4.3.2-null-3.0-wire").hex.slice(0, 32), "ff00000000000000017f03004e554c4c");
});

t.test("greeting vectors", async (t) => {
  for (const v of greetings.vectors) {
    t.test(v.name, async (t) => {
      const g = fromHex(v.hex);
      t.equal(g.length, 64, "64 octets");
      const parsed = parseGreeting(g);
      if (v.expect.error) {
        t.ok(parsed instanceof ZmtpError, "refused");
        if (!(parsed instanceof ZmtpError)) return;
        t.same(errOf(parsed), { code: v.expect.error.code, reason: v.expect.error.reason });
        // Streaming: refused exactly once `at` octets are in, not before.
        const at = v.expect.error.at!;
        for (let n = 0; n < at && n < 64; n++) t.equal(checkGreetingPrefix(g, n), undefined, `prefix ${n} not yet refused`);
        if (at < 64) {
          const early = checkGreetingPrefix(g, at);
          t.ok(early, `refused after ${at}`);
          t.same(early && errOf(early), { code: v.expect.error.code, reason: v.expect.error.reason });
        }
      } else {
        t.notOk(parsed instanceof ZmtpError, "accepted");
        t.same(parsed, v.expect.greeting);
        for (let n = 0; n <= 64; n++) t.equal(checkGreetingPrefix(g, n), undefined);
      }
      if (v.encode) {
        const e = v.expect.greeting!;
        t.equal(toHex(encodeGreeting(e.mechanism, e.asServer, e.minor)), v.hex, "our encoder produces these bytes");
      }
      // Through a NULL session, one octet at a time: the same verdict, at the same octet.
      const errors: ZmtpError[] = [];
      const s = new Session(
        { socketType: "DEALER" },
        { ready: () => {}, message: () => {}, error: (e) => errors.push(e) },
      );
      s.start(0);
      s.writer.take();
      let failedAt = -1;
      for (let i = 0; i < 64 && failedAt < 0; i++) {
        s.input(g.subarray(i, i + 1), 0);
        if (errors.length) failedAt = i + 1;
      }
      if (v.expect.error) {
        t.equal(failedAt, v.expect.error.at, "session refuses at the same octet");
        t.same(errors.map(errOf), [{ code: v.expect.error.code, reason: v.expect.error.reason }]);
        t.equal(errors[0]!.reconnect, false, "greeting errors do not reconnect");
      } else if (v.expect.greeting!.mechanism === "NULL") {
        t.same(errors, [], "session accepts");
        t.equal(s.state, "handshake");
        const out = concat(s.writer.take());
        t.equal(out[0], 0x04, "READY staged");
      } else {
        t.same(errors.map(errOf), [{ code: "ENOCOMPATPROTO", reason: "mechanism-mismatch" }]);
        t.equal(failedAt, 64);
      }
    });
  }
});

/** Decodes `chunks` in order; returns frames, error, and whether the decoder was mid-frame at the end. */
function decodeChunks(chunks: Uint8Array[], maxFrameSize?: number) {
  const out: FrameExpect[] = [];
  const d = new FrameDecoder((flags, body) => out.push({ flags, bodyHex: toHex(body) }), { maxFrameSize });
  let error: ZmtpError | undefined;
  for (const c of chunks) {
    error = d.push(c);
    if (error) break;
  }
  let partial: boolean | undefined;
  if (!error) {
    // Probe: an empty frame appended decodes as exactly one more frame iff we were at a boundary.
    const before = out.length;
    d.push(Uint8Array.of(0, 0));
    partial = !(out.length === before + 1 && out[before]!.flags === 0 && out[before]!.bodyHex === "");
    out.length = before;
  }
  return { frames: out, error: error && errOf(error), partial };
}

function splits(bytes: Uint8Array): Uint8Array[][] {
  const all: Uint8Array[][] = [[bytes]];
  for (let i = 1; i < bytes.length; i++) all.push([bytes.subarray(0, i), bytes.subarray(i)]);
  all.push(Array.from(bytes, (_, i) => bytes.subarray(i, i + 1)));
  return all;
}

t.test("frame vectors", async (t) => {
  for (const v of frames.vectors) {
    t.test(v.name, async (t) => {
      const bytes = fromHex(v.hex);
      const want = {
        frames: v.expect.frames,
        error: v.expect.error && { code: v.expect.error.code, reason: v.expect.error.reason },
        partial: v.expect.error ? undefined : (v.expect.partial ?? false),
      };
      const whole = decodeChunks([bytes], v.options?.maxFrameSize);
      t.same(whole, want, "whole input");
      let same = 0;
      const ways = splits(bytes);
      for (const chunks of ways) {
        const r = decodeChunks(chunks, v.options?.maxFrameSize);
        if (JSON.stringify(r) === JSON.stringify(whole)) same++;
        else t.same(r, whole, `split into ${chunks.map((c) => c.length).join("+")}`);
      }
      t.equal(same, ways.length, "every split decodes identically");
      if (v.encode) {
        const bodies = v.expect.frames.map((f) => [f.flags, fromHex(f.bodyHex)] as const);
        t.equal(toHex(concat(bodies.map(([f, b]) => encodeFrame(f, b)))), v.hex, "encodeFrame reproduces the bytes");
        const w = new FrameWriter();
        for (const [f, b] of bodies) w.frame(f, b);
        t.equal(toHex(concat(w.take())), v.hex, "FrameWriter reproduces the bytes");
      }
    });
  }
});

/** Decodes a command vector's hex as exactly one command frame, then the command and its typed data. */
function decodeCommand(hex: string): CommandExpect | { code: string; reason: string } {
  const got: { flags: number; body: Uint8Array }[] = [];
  const d = new FrameDecoder((flags, body) => got.push({ flags, body }));
  const ferr = d.push(fromHex(hex));
  if (ferr) return errOf(ferr);
  if (got.length !== 1 || !(got[0]!.flags & COMMAND)) throw new Error(`${hex}: not exactly one command frame`);
  const cmd = parseCommand(got[0]!.body);
  if (cmd instanceof ZmtpError) return errOf(cmd);
  const out: CommandExpect = { name: cmd.name, dataHex: toHex(cmd.data) };
  switch (cmd.name) {
    case "READY": {
      const m = parseMetadata(cmd.data);
      if (m instanceof ZmtpError) return errOf(m);
      out.metadata = [...m].map(([k, val]) => [k, toHex(val)]);
      break;
    }
    case "ERROR": {
      const r = parseError(cmd.data);
      if (r instanceof ZmtpError) return errOf(r);
      out.reason = r;
      break;
    }
    case "PING": {
      const p = parsePing(cmd.data);
      if (p instanceof ZmtpError) return errOf(p);
      out.ttl = p.ttlDeciseconds;
      out.contextHex = toHex(p.context);
      out.pongHex = toHex(encodeFrame(COMMAND, encodePong(p.context)));
      break;
    }
    case "PONG":
      out.contextHex = toHex(cmd.data);
      break;
    case "SUBSCRIBE":
    case "CANCEL":
      out.topicHex = toHex(cmd.data);
      break;
  }
  return out;
}

function encodeTyped(c: CommandExpect): Uint8Array {
  switch (c.name) {
    case "READY":
      return encodeReady(c.metadata!.map(([n, h]) => [n, fromHex(h)] as const));
    case "ERROR":
      return encodeError(c.reason!);
    case "PING":
      return encodePing(c.ttl!, fromHex(c.contextHex!));
    case "PONG":
      return encodePong(fromHex(c.contextHex!));
    default:
      return encodeCommand(c.name, fromHex(c.dataHex));
  }
}

/** A DEALER session made ready by a ROUTER peer, for feeding commands after the handshake. */
function readySession() {
  const ev = { commands: [] as Command[], errors: [] as ZmtpError[] };
  const s = new Session(
    { socketType: "DEALER" },
    { ready: () => {}, message: () => {}, command: (c) => ev.commands.push(c), error: (e) => ev.errors.push(e) },
  );
  s.start(0);
  s.input(encodeGreeting("NULL", false), 0);
  s.input(encodeFrame(COMMAND, encodeReady([["Socket-Type", new TextEncoder().encode("ROUTER")]])), 0);
  s.writer.take();
  return { s, ev };
}

t.test("command vectors", async (t) => {
  for (const v of commands.vectors) {
    t.test(v.name, async (t) => {
      const got = decodeCommand(v.hex);
      if (v.expect.error) {
        t.same(got, { code: v.expect.error.code, reason: v.expect.error.reason });
      } else {
        const want = { ...v.expect.command! };
        // Property names compare case-insensitively; our parser hands them out lower-cased.
        if (want.metadata) want.metadata = want.metadata.map(([n, h]) => [n.toLowerCase(), h]);
        t.same(got, want);
        if (v.encode) t.equal(toHex(encodeFrame(COMMAND, encodeTyped(v.expect.command!))), v.hex, "typed encoder reproduces the bytes");
      }
      // After the handshake: PING is answered with exactly pongHex; other commands never throw.
      const { s, ev } = readySession();
      s.input(fromHex(v.hex), 1);
      const c = v.expect.command;
      if (c?.name === "PING") {
        t.equal(toHex(concat(s.writer.take())), c.pongHex, "session answers with pongHex");
        t.same(ev.errors, []);
      } else if (c && c.name !== "ERROR" && c.name !== "PONG") {
        t.same(ev.errors, [], "no error after handshake");
        t.equal(ev.commands.length, 1, "passed to handler.command");
        t.equal(ev.commands[0]!.name, c.name);
      } else if (v.expect.error?.reason === "malformed-command") {
        t.same(ev.errors.map(errOf), [{ code: "EPROTO", reason: "malformed-command" }], "session fails the same way");
      } else if (v.expect.error) {
        // Malformed READY metadata after the handshake: READY is not parsed then, only passed on.
        t.same(ev.errors, []);
        t.same(ev.commands.map((c) => c.name), ["READY"]);
      }
    });
  }
});
