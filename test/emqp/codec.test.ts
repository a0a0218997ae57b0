// The eMQP codec (src/emqp): every vector of spec/vectors/emqp*.json; encode/decode round trips
// for every command with arbitrary (unicode) text; headers, job bodies and results, parsed and
// written; pyJson against Python's own json.dumps; and random or mutated frames, which must give
// a Command or an EmqpError and nothing else.

import t from "tap";
import fc from "fast-check";
import { Buffer } from "node:buffer";
import { spawnSync } from "node:child_process";
import { performance } from "node:perf_hooks";
import {
  DEFAULT_ADDRESSES,
  EmqpError,
  PROTOCOL,
  decode,
  encode,
  formatHeaders,
  formatJob,
  formatResult,
  heartbeatTime,
  newMsgid,
  parseHeaders,
  parseJob,
  parseResult,
  pyJson,
  type Command,
  type Headers,
  type Job,
  type JobResult,
} from "../../src/emqp/index.js";
import { canonical, loadEmqpVectors, runEmqpVector, toPlain, type EmqpVector } from "../conformance/emqp-cases.js";

const PYTHON = "/usr/bin/python3";
const KNOWN = [
  "REQUEST",
  "REPLY",
  "ACK",
  "INFORM",
  "HEARTBEAT",
  "SCHEDULE",
  "UNSCHEDULE",
  "PUBLISH",
  "READY",
  "DISCONNECT",
  "KBYE",
  "STATUS",
  "ROUTER_SHOW_WORKERS",
  "ROUTER_SHOW_SCHEDULERS",
] as const;
const BODILESS = ["READY", "DISCONNECT", "KBYE", "STATUS", "ROUTER_SHOW_WORKERS", "ROUTER_SHOW_SCHEDULERS"] as const;
const REASONS = new Set(["too-few-frames", "bad-delimiter", "unsupported-version", "unknown-command", "not-utf8", "bad-json", "bad-queues", "bad-client-type", "bad-interval", "bad-header", "bad-job", "bad-result"]);

const B = (s: string): Buffer => Buffer.from(s, "utf8");
const plain = (v: unknown): string => canonical(toPlain(v));

/** What f did: "ok", "EmqpError <reason>", or the name and message of anything else it threw. */
function how(f: () => unknown): string {
  try {
    f();
    return "ok";
  } catch (err) {
    if (err instanceof EmqpError) return `EmqpError ${err.reason}`;
    return err instanceof Error ? `${err.name}: ${err.message}` : String(err);
  }
}

/** Runs f: its value, or the EmqpError it threw; anything else thrown is rethrown (a failure). */
function outcome<T>(f: () => T): T | EmqpError {
  try {
    return f();
  } catch (err) {
    if (err instanceof EmqpError) return err;
    throw err;
  }
}

// ---- vectors ------------------------------------------------------------------------------------

const vectors = loadEmqpVectors();

t.test("vectors: spec/vectors/emqp*.json", async (t) => {
  t.ok(vectors.length >= 100, `${vectors.length} vectors loaded`);
  for (const { file, vector } of vectors) {
    t.test(`${file}: ${vector.name}`, async (t) => {
      runEmqpVector(vector);
      t.pass(vector.description ?? vector.name);
    });
  }
});

t.test("vectors: cover every command, every error reason and EventMQ's own examples", async (t) => {
  const all = vectors.map((v) => v.vector);
  const names = new Set(all.map((v) => v.name));
  t.equal(names.size, all.length, "vector names are unique");
  t.same(all.map((v) => v.name).filter((n) => !/^[a-z0-9-]+$/.test(n)), [], "vector names are [a-z0-9-]");
  const commands = new Set(all.map((v) => v.expect.command?.command).filter(Boolean));
  for (const c of [...KNOWN, "OTHER"]) t.ok(commands.has(c), `a vector decodes to ${c}`);
  const reasons = new Set(all.map((v) => v.expect.error?.reason).filter(Boolean));
  for (const r of ["too-few-frames", "bad-delimiter", "unsupported-version", "not-utf8", "bad-queues", "bad-client-type", "bad-interval", "bad-header", "bad-json", "bad-job", "bad-result"]) {
    t.ok(reasons.has(r), `a vector is refused with ${r}`);
  }
  const frameText = (v: EmqpVector) => (v.frames ?? []).filter((f): f is string => typeof f === "string");
  const has = (pred: (v: EmqpVector) => boolean, what: string) => t.ok(all.some((v) => v.encode === true && pred(v)), what);
  has((v) => frameText(v).includes('[[10, "default"]]'), 'INFORM [[10, "default"]] is reproduced byte for byte');
  has((v) => frameText(v).includes('[[32, "top"], [23, "drop"], [12, "shop"]]'), "INFORM top/drop/shop is reproduced");
  has((v) => frameText(v).includes("reply-requested,guarantee,retry-count:2,timeout:3"), "the all-headers REQUEST is reproduced");
  has((v) => v.text === "reply-requested,guarantee,retry-count:2,timeout:3", "the all-headers string is reproduced by formatHeaders");
  has((v) => v.input === "job" && /"callable".*"path".*"args".*"kwargs".*"class_args".*"class_kwargs"/.test(v.text ?? ""), "the six-key job body is reproduced");
  has((v) => frameText(v).includes("946684800.0"), "HEARTBEAT 946684800.0 is reproduced");
  has((v) => v.frames?.length === 9 && frameText(v).includes("38"), "SCHEDULE with 9 frames and interval 38 is reproduced");
  has((v) => v.expect.command?.command === "PUBLISH" && v.frames?.some((f) => typeof f !== "string") === true, "a binary PUBLISH is reproduced");
  has((v) => v.expect.command?.command === "REPLY" && /^\{"value"/.test(frameText(v)[4] ?? ""), "a worker REPLY [result, job_msgid] is reproduced");
});

t.test("vectors: the runner notices a wrong vector", async (t) => {
  const base = vectors.find((v) => v.vector.name === "inform-worker-default")!.vector;
  const copy = (): EmqpVector => JSON.parse(JSON.stringify(base)) as EmqpVector;
  const wrongMsgid = copy();
  (wrongMsgid.expect.command as { msgid: string }).msgid = "other";
  t.throws(() => runEmqpVector(wrongMsgid), /decode/, "a different expected msgid fails");
  const wrongHex = copy();
  wrongHex.hex = wrongHex.hex.slice(0, -2) + "00";
  t.throws(() => runEmqpVector(wrongHex), /hex vs frames/, "hex that disagrees with frames fails");
  const notEncode = copy();
  notEncode.encode = false;
  t.throws(() => runEmqpVector(notEncode), /mark the vector encode/, "a reproducible vector marked encode: false fails");
  const wrongError = JSON.parse(JSON.stringify(vectors.find((v) => v.vector.name === "version-2")!.vector)) as EmqpVector;
  wrongError.expect.error!.reason = "bad-delimiter";
  t.throws(() => runEmqpVector(wrongError), /unsupported-version/, "a different error reason fails");
});

// ---- arbitraries ----------------------------------------------------------------------------------

// Any code point (astral ones included, never a lone surrogate, which UTF-8 cannot carry), plus
// strings that look like protocol text.
const text = fc.oneof(
  { weight: 4, arbitrary: fc.string({ unit: "binary", maxLength: 24 }) },
  { weight: 1, arbitrary: fc.string({ unit: "grapheme", maxLength: 8 }) },
  { weight: 1, arbitrary: fc.constantFrom("", PROTOCOL, "\u0000", "\ufffd", "\u03b1", "\u{1F600}", "default", "a,b", "REQUEST") },
);
const nonEmpty = text.filter((s) => s.length > 0);
const bytes = fc.uint8Array({ maxLength: 48 }).map((u) => Buffer.from(u));
const weight = fc.oneof(fc.integer({ min: -1_000_000, max: 1_000_000 }), fc.double({ min: -1e9, max: 1e9, noNaN: true }).filter((x) => !Object.is(x, -0)));
const otherName = text.filter((n) => !(KNOWN as readonly string[]).includes(n.toUpperCase()) && !(KNOWN as readonly string[]).includes(n));

const commandArb: fc.Arbitrary<Command> = fc.oneof(
  fc
    .record({ msgid: text, queue: text, headers: text, job: text, extra: fc.option(fc.array(bytes, { minLength: 1, maxLength: 3 }), { nil: undefined }) })
    .map(({ extra, ...r }): Command => (extra ? { command: "REQUEST", ...r, extra } : { command: "REQUEST", ...r })),
  fc.record({ msgid: text, body: fc.array(text, { minLength: 1, maxLength: 4 }) }).map((r): Command => ({ command: "REPLY", ...r })),
  fc.record({ msgid: text, acked: text }).map((r): Command => ({ command: "ACK", ...r })),
  fc
    .record({
      msgid: text,
      queues: fc.option(fc.array(fc.tuple(weight, nonEmpty), { maxLength: 4 }), { nil: undefined }),
      clientType: fc.constantFrom("worker" as const, "scheduler" as const),
    })
    .map((r): Command => ({ command: "INFORM", ...r })),
  fc.record({ msgid: text, time: text }).map((r): Command => ({ command: "HEARTBEAT", ...r })),
  fc
    .record({
      command: fc.constantFrom("SCHEDULE" as const, "UNSCHEDULE" as const),
      msgid: text,
      queue: text,
      headers: text,
      interval: fc.oneof(fc.integer({ min: -1, max: 1e12 }), fc.integer({ min: -1e6, max: 1e6 })), // whole seconds only (EventMQ reads int())
      job: text,
      cron: text,
    })
    .map((r): Command => r),
  fc.record({ msgid: text, topic: bytes, message: bytes }).map((r): Command => ({ command: "PUBLISH", ...r })),
  fc.record({ command: fc.constantFrom(...BODILESS), msgid: text }).map((r): Command => r),
  fc.record({ name: otherName, msgid: text, body: fc.array(bytes, { maxLength: 3 }) }).map((r): Command => ({ command: "OTHER", ...r })),
);

// ---- encode / decode round trips ------------------------------------------------------------------

t.test("encode then decode gives the command back, for every command (DEALER and ROUTER view)", async (t) => {
  fc.assert(
    fc.property(commandArb, bytes, (cmd, routingId) => {
      const frames = encode(cmd);
      if (!frames.every((f) => Buffer.isBuffer(f))) throw new Error("encode must give Buffers");
      if (frames[0]!.length !== 0 || frames[1]!.toString() !== PROTOCOL) throw new Error("envelope: '' and eMQP/1.0 first");
      const name = cmd.command === "OTHER" ? cmd.name : cmd.command;
      if (!frames[2]!.equals(B(name)) || !frames[3]!.equals(B(cmd.msgid))) throw new Error("command and msgid in frames 2 and 3, UTF-8");
      const back = decode(frames);
      if (plain(back) !== plain(cmd)) throw new Error(`decode(encode(c)) = ${plain(back)}, want ${plain(cmd)}`);
      const routed = decode([routingId, ...frames], 1);
      if (plain(routed) !== plain(cmd)) throw new Error(`router view: ${plain(routed)}, want ${plain(cmd)}`);
    }),
    { numRuns: 1500 },
  );
  t.pass("1500 commands round-tripped");
});

t.test("encode writes each command's frames in EventMQ's layout", async (t) => {
  const show = (c: Command) => encode(c).map((f) => f.toString("utf8"));
  t.same(show({ command: "REQUEST", msgid: "m", queue: "q", headers: "h", job: "j" }), ["", PROTOCOL, "REQUEST", "m", "q", "h", "j"], "REQUEST: 7 frames");
  t.same(show({ command: "REPLY", msgid: "m", body: ['{"value": 1}', "job"] }), ["", PROTOCOL, "REPLY", "m", '{"value": 1}', "job"], "worker REPLY: result, then job msgid");
  t.same(show({ command: "ACK", msgid: "m", acked: "i" }), ["", PROTOCOL, "ACK", "m", "i"], "ACK: 5 frames");
  t.same(show({ command: "INFORM", msgid: "m", queues: [[10, "default"]], clientType: "worker" }), ["", PROTOCOL, "INFORM", "m", '[[10, "default"]]', "worker"], "INFORM: json.dumps spacing");
  t.same(show({ command: "INFORM", msgid: "m", queues: undefined, clientType: "scheduler" }), ["", PROTOCOL, "INFORM", "m", "", "scheduler"], "scheduler INFORM: empty queues");
  t.same(show({ command: "HEARTBEAT", msgid: "m", time: "946684800.0" }), ["", PROTOCOL, "HEARTBEAT", "m", "946684800.0"], "HEARTBEAT: 5 frames");
  t.same(show({ command: "SCHEDULE", msgid: "m", queue: "q", headers: "", interval: 38, job: "j", cron: "" }), ["", PROTOCOL, "SCHEDULE", "m", "q", "", "38", "j", ""], "SCHEDULE: 9 frames");
  t.same(show({ command: "UNSCHEDULE", msgid: "m", queue: "q", headers: "", interval: -1, job: "j", cron: "" }), ["", PROTOCOL, "UNSCHEDULE", "m", "q", "", "-1", "j", ""], "UNSCHEDULE: 9 frames");
  t.same(show({ command: "PUBLISH", msgid: "m", topic: B("news"), message: B("{}") }), ["", PROTOCOL, "PUBLISH", "m", "news", "{}"], "PUBLISH: 6 frames, no headers");
  for (const c of BODILESS) t.same(show({ command: c, msgid: "m" }), ["", PROTOCOL, c, "m"], `${c}: 4 frames`);
});

t.test("binary PUBLISH frames and REQUEST extras pass untouched", async (t) => {
  fc.assert(
    fc.property(bytes, bytes, fc.array(bytes, { minLength: 1, maxLength: 3 }), (topic, message, extra) => {
      const pub = decode([B(""), B(PROTOCOL), B("PUBLISH"), B("m"), topic, message]);
      if (pub.command !== "PUBLISH" || !pub.topic.equals(topic) || !pub.message.equals(message)) throw new Error("PUBLISH bytes changed");
      const out = encode(pub);
      if (!out[4]!.equals(topic) || !out[5]!.equals(message)) throw new Error("encode changed PUBLISH bytes");
      const req = decode([B(""), B(PROTOCOL), B("REQUEST"), B("m"), B("q"), B(""), B("j"), ...extra]);
      if (req.command !== "REQUEST" || req.extra?.length !== extra.length || !req.extra.every((e, i) => e.equals(extra[i]!))) throw new Error("REQUEST extras changed");
    }),
    { numRuns: 500 },
  );
  // Octets that are not UTF-8 come out as they went in (no U+FFFD substitution).
  const bad = Buffer.from([0xc3, 0x28, 0xff, 0xed, 0xa0, 0x80]);
  const pub = decode([B(""), B(PROTOCOL), B("PUBLISH"), B("m"), bad, bad]);
  t.equal(pub.command === "PUBLISH" && pub.message.toString("hex"), "c328ffeda080", "invalid UTF-8 message kept as is");
});

// ---- malformed input: a Command or an EmqpError, nothing else -------------------------------------

const INVALID_UTF8 = [[0xff], [0xc3], [0xc0, 0xaf], [0xed, 0xa0, 0x80], [0xf4, 0x90, 0x80, 0x80], [0xe2, 0x82]].map((b) => Buffer.from(b));
let slowest = 0;

/** Decodes; checks the outcome; returns "ok" or the refusal reason. */
function checkDecode(frames: Buffer[], start: number): string {
  const t0 = performance.now();
  const got = outcome(() => decode(frames, start));
  slowest = Math.max(slowest, performance.now() - t0);
  if (got instanceof EmqpError) {
    if (got.code !== "EPROTO" || !REASONS.has(got.reason)) throw new Error(`EmqpError with code ${got.code} reason ${got.reason}`);
    return got.reason;
  }
  // Whatever decode accepts, encode can write, and that reads back as the same command.
  const again = outcome(() => decode(encode(got)));
  if (again instanceof EmqpError) throw new Error(`decode(encode(${plain(got)})) refused: ${again.reason}`);
  if (plain(again) !== plain(got)) throw new Error(`decode(encode(c)) = ${plain(again)}, want ${plain(got)}`);
  return "ok";
}

const frameArb = fc.oneof(
  bytes,
  text.map(B),
  fc.constantFrom(...INVALID_UTF8),
  fc.constantFrom("", PROTOCOL, ...KNOWN, "request", "HELLO", "[[10, \"default\"]]", "worker", "-1", "38", "timeout:x").map(B),
);
const plausible = fc
  .tuple(fc.constantFrom(...KNOWN, "ready", "HELLO"), fc.array(frameArb, { maxLength: 7 }))
  .map(([name, body]) => [B(""), B(PROTOCOL), B(name), B(newMsgid()), ...body]);

t.test("random frames decode to a Command or an EmqpError", async (t) => {
  const seen = new Map<string, number>();
  fc.assert(
    fc.property(fc.oneof(fc.array(frameArb, { maxLength: 10 }), plausible), fc.integer({ min: 0, max: 3 }), (frames, start) => {
      const r = checkDecode(frames, Math.min(start, frames.length + 1));
      seen.set(r, (seen.get(r) ?? 0) + 1);
    }),
    { numRuns: 4000 },
  );
  t.ok((seen.get("ok") ?? 0) > 100, `accepted ${seen.get("ok") ?? 0} of 4000`);
  t.ok(seen.size >= 5, `refusal reasons seen: ${[...seen.keys()].join(", ")}`);
});

type Mutation = (f: Buffer[], r: { i: number; j: number; b: number; k: number }) => Buffer[];
const at = (f: Buffer[], i: number) => (f.length === 0 ? 0 : i % f.length);
const MUTATIONS: Record<string, Mutation> = {
  "drop a frame": (f, r) => f.filter((_, x) => x !== at(f, r.i)),
  "drop the tail": (f, r) => f.slice(0, at(f, r.i)),
  "cut a frame short": (f, r) => f.map((x, n) => (n === at(f, r.i) ? x.subarray(0, x.length === 0 ? 0 : r.j % x.length) : x)),
  "flip an octet": (f, r) =>
    f.map((x, n) => {
      if (n !== at(f, r.i) || x.length === 0) return x;
      const y = Buffer.from(x);
      y[r.j % y.length] ^= r.b || 0x80;
      return y;
    }),
  "insert invalid UTF-8": (f, r) =>
    f.map((x, n) => (n === at(f, r.i) ? Buffer.concat([x.subarray(0, r.j % (x.length + 1)), INVALID_UTF8[r.k % INVALID_UTF8.length]!, x.subarray(r.j % (x.length + 1))]) : x)),
  "rename the command": (f, r) => f.map((x, n) => (n === 2 ? B(KNOWN[r.k % KNOWN.length]!) : x)),
  "duplicate a frame": (f, r) => [...f.slice(0, at(f, r.i) + 1), ...f.slice(at(f, r.i))],
  "empty a frame": (f, r) => f.map((x, n) => (n === at(f, r.i) ? Buffer.alloc(0) : x)),
};

t.test("mutated valid messages decode to a Command or an EmqpError", async (t) => {
  const names = Object.keys(MUTATIONS);
  const rnd = fc.record({ i: fc.nat(), j: fc.nat(), b: fc.integer({ min: 0, max: 255 }), k: fc.nat() });
  fc.assert(
    fc.property(commandArb, fc.array(fc.tuple(fc.constantFrom(...names), rnd), { minLength: 1, maxLength: 3 }), (cmd, muts) => {
      let frames = encode(cmd);
      for (const [m, r] of muts) frames = MUTATIONS[m]!(frames, r);
      checkDecode(frames, 0);
    }),
    { numRuns: 4000 },
  );
  t.ok(slowest < 1000, `slowest decode took ${slowest.toFixed(2)} ms`);
});

t.test("every truncation of every vector message is handled", async (t) => {
  let n = 0;
  for (const { vector } of vectors) {
    if (vector.input !== "message") continue;
    const frames = (vector.frames ?? []).map((f) => (typeof f === "string" ? B(f) : Buffer.from(f.hex, "hex")));
    for (let k = 0; k <= frames.length; k++) {
      checkDecode(frames.slice(0, k), 0);
      n++;
    }
    for (let i = 0; i < frames.length; i++) {
      for (let len = 0; len < frames[i]!.length; len++) {
        checkDecode(frames.map((f, x) => (x === i ? f.subarray(0, len) : f)), 0);
        n++;
      }
    }
  }
  t.ok(n > 1000, `${n} cut messages decoded or refused`);
});

t.test("deeply nested JSON is refused with an EmqpError, not a RangeError", async (t) => {
  // A 200 kB frame of nested brackets: JSON.parse takes it, so nothing may recurse over the result.
  const deep = "[".repeat(100_000) + "]".repeat(100_000);
  const inform = (queues: string) => [B(""), B(PROTOCOL), B("INFORM"), B("m"), B(queues), B("worker")];
  t.equal(how(() => decode(inform(`[${deep}]`))), "EmqpError bad-queues", "decode: INFORM whose one queue entry is nested 100000 deep");
  t.equal(how(() => decode(inform(deep))), "EmqpError bad-queues", "decode: INFORM queues that are only brackets");
  const deepError = `{"error": {"message": ${deep}}}`;
  const r = how(() => parseResult(deepError));
  t.ok(r === "ok" || r.startsWith("EmqpError"), `parseResult of an error whose message is nested 100000 deep: a failure result or an EmqpError, got ${r}`);
  if (r === "ok") t.equal((parseResult(deepError) as JobResult).ok, false, "...and it is a failure");
  t.equal(how(() => parseJob(`["run", {"callable": "f", "args": [${deep}]}]`)), "ok", "parseJob accepts deep args (the handler decides what to do with them)");
});

// ---- headers --------------------------------------------------------------------------------------

const token = fc
  .stringMatching(/^[a-z][a-z0-9_.-]{0,10}(:[a-z0-9]{1,5})?$/)
  .filter((s) => !["reply-requested", "guarantee", "nohaste"].includes(s) && !/^(retry-count|timeout|run_count):/.test(s));
const headersArb = fc.record(
  {
    replyRequested: fc.boolean(),
    guarantee: fc.boolean(),
    retryCount: fc.integer({ min: 0, max: 1e9 }),
    timeout: fc.integer({ min: 0, max: 1e9 }),
    nohaste: fc.boolean(),
    runCount: fc.integer({ min: -1, max: 1e9 }),
    other: fc.array(token, { minLength: 1, maxLength: 3 }),
  },
  { requiredKeys: [] },
);

/** What parseHeaders(formatHeaders(h)) must give: flags that are set, counts that are written. */
function normalHeaders(h: Headers): Headers {
  const n: Headers = {};
  if (h.replyRequested) n.replyRequested = true;
  if (h.guarantee) n.guarantee = true;
  if (h.retryCount !== undefined && h.retryCount > 0) n.retryCount = h.retryCount;
  if (h.timeout !== undefined && h.timeout > 0) n.timeout = h.timeout;
  if (h.nohaste) n.nohaste = true;
  if (h.runCount !== undefined && h.runCount >= 0) n.runCount = h.runCount;
  if (h.other?.length) n.other = [...h.other];
  return n;
}

t.test("headers: formatHeaders then parseHeaders round trip, in EventMQ's order", async (t) => {
  const ORDER = ["reply-requested", "guarantee", "retry-count", "timeout", "nohaste", "run_count"];
  fc.assert(
    fc.property(headersArb, (h) => {
      const s = formatHeaders(h);
      if (/\s/.test(s) || s.startsWith(",") || s.endsWith(",") || s.includes(",,")) throw new Error(`badly joined: ${JSON.stringify(s)}`);
      const back = parseHeaders(s);
      if (canonical(back) !== canonical(normalHeaders(h))) throw new Error(`${JSON.stringify(s)} parsed to ${canonical(back)}, want ${canonical(normalHeaders(h))}`);
      const known = s
        .split(",")
        .map((p) => ORDER.indexOf(p.split(":")[0]!))
        .filter((i) => i >= 0);
      if (known.some((x, i) => i > 0 && x <= known[i - 1]!)) throw new Error(`known headers out of order: ${s}`);
      if (formatHeaders(back) !== s) throw new Error("formatHeaders(parseHeaders(s)) !== s");
    }),
    { numRuns: 1000 },
  );
  t.equal(formatHeaders({ replyRequested: true, guarantee: true, retryCount: 2, timeout: 3 }), "reply-requested,guarantee,retry-count:2,timeout:3", "EventMQ's all-headers string");
  t.equal(formatHeaders({ timeout: 3, replyRequested: true }), "reply-requested,timeout:3", "written in EventMQ's order whatever the object's key order");
  t.equal(formatHeaders({ retryCount: 0, timeout: 0 }), "", "counts of 0 are not written (EventMQ's client skips them)");
  t.equal(formatHeaders({}), "", "no headers: ''");
  t.same(parseHeaders(" reply-requested , timeout:3 ,"), { replyRequested: true, timeout: 3 }, "spaces around parts and empty parts are ignored");
  t.same(parseHeaders("guarantee,guarantee"), { guarantee: true }, "a repeated flag is one flag");
});

t.test("headers: any string parses or is refused with bad-header", async (t) => {
  const headerish = fc.oneof(text, fc.array(fc.oneof(token, fc.constantFrom("reply-requested", "guarantee", "nohaste"), fc.tuple(fc.constantFrom("retry-count", "timeout", "run_count"), text).map(([k, v]) => `${k}:${v}`)), { maxLength: 4 }).map((a) => a.join(",")));
  let refused = 0;
  fc.assert(
    fc.property(headerish, (s) => {
      const r = outcome(() => parseHeaders(s));
      if (r instanceof EmqpError) {
        if (r.reason !== "bad-header") throw new Error(`reason ${r.reason}`);
        refused++;
      }
    }),
    { numRuns: 1500 },
  );
  t.ok(refused > 0, `${refused} of 1500 refused with bad-header, the rest parsed`);
});

// ---- job bodies -----------------------------------------------------------------------------------

const jsonLeaf = fc.oneof(fc.constant(null), fc.boolean(), fc.integer(), fc.maxSafeInteger(), text);
const { json: jsonArb } = fc.letrec<{ json: unknown }>((tie) => ({
  json: fc.oneof({ depthSize: "small", withCrossShrink: true }, jsonLeaf, fc.array(tie("json"), { maxLength: 4 }), fc.dictionary(text, tie("json"), { maxKeys: 4 })),
}));
const jsonWithFloats = fc.letrec<{ json: unknown }>((tie) => ({
  json: fc.oneof(
    { depthSize: "small", withCrossShrink: true },
    jsonLeaf,
    fc.double({ noNaN: true, noDefaultInfinity: true }),
    fc.array(tie("json"), { maxLength: 4 }),
    fc.dictionary(text, tie("json"), { maxKeys: 4 }),
  ),
})).json;
const jobArb = fc.record(
  {
    callable: nonEmpty,
    path: text,
    args: fc.array(jsonWithFloats, { maxLength: 3 }),
    kwargs: fc.dictionary(text, jsonWithFloats, { maxKeys: 3 }),
    class_args: fc.array(jsonArb, { maxLength: 2 }),
    class_kwargs: fc.dictionary(text, jsonArb, { maxKeys: 2 }),
  },
  { requiredKeys: ["callable"] },
);

t.test("jobs: formatJob then parseJob round trip; six keys in EventMQ's order; ASCII only", async (t) => {
  fc.assert(
    fc.property(jobArb, (job: Job) => {
      const s = formatJob(job);
      if (!/^\["run", \{"callable": /.test(s)) throw new Error(`body starts ${s.slice(0, 30)}`);
      if (!/^[\x20-\x7e]*$/.test(s)) throw new Error("body is not printable ASCII (json.dumps escapes everything else)");
      const parsed = JSON.parse(s) as [string, Record<string, unknown>];
      if (Object.keys(parsed[1]).join() !== "callable,path,args,kwargs,class_args,class_kwargs") throw new Error(`keys ${Object.keys(parsed[1]).join()}`);
      const want = { path: "", args: [], kwargs: {}, class_args: [], class_kwargs: {}, ...job };
      const back = parseJob(s);
      if (canonical(back) !== canonical(want)) throw new Error(`parseJob(formatJob(j)) = ${canonical(back)}, want ${canonical(want)}`);
      if (formatJob(back) !== s) throw new Error("formatJob(parseJob(s)) !== s");
    }),
    { numRuns: 800 },
  );
  t.equal(
    formatJob({ callable: "touch", path: "jobs_demo", args: ["\u03b1"] }),
    '["run", {"callable": "touch", "path": "jobs_demo", "args": ["\\u03b1"], "kwargs": {}, "class_args": [], "class_kwargs": {}}]',
    "missing keys written as defaults, non-ASCII escaped",
  );
});

t.test("jobs: any text parses or is refused with bad-json / bad-job", async (t) => {
  const bodyish = fc.oneof(
    text,
    jsonArb.map((v) => JSON.stringify(v)),
    fc.tuple(jsonArb, jsonArb).map((v) => JSON.stringify(v)),
    fc.tuple(fc.constant("run"), fc.dictionary(fc.constantFrom("callable", "path", "args", "kwargs", "class_args", "class_kwargs", "x"), jsonArb)).map((v) => JSON.stringify(v)),
    fc
      .record(
        {
          callable: fc.oneof({ weight: 3, arbitrary: nonEmpty }, jsonArb),
          path: fc.oneof({ weight: 3, arbitrary: text }, jsonArb),
          args: fc.oneof({ weight: 3, arbitrary: fc.array(jsonArb, { maxLength: 3 }) }, jsonArb),
          kwargs: fc.oneof({ weight: 3, arbitrary: fc.dictionary(text, jsonArb, { maxKeys: 3 }) }, jsonArb),
        },
        { requiredKeys: ["callable"] },
      )
      .map((p) => JSON.stringify(["run", p])),
  );
  const reasons = new Map<string, number>();
  fc.assert(
    fc.property(bodyish, (s) => {
      const r = outcome(() => parseJob(s));
      const k = r instanceof EmqpError ? r.reason : "ok";
      if (k !== "ok" && k !== "bad-json" && k !== "bad-job") throw new Error(`reason ${k}`);
      if (k === "ok" && typeof (r as Job).callable !== "string") throw new Error("accepted a job without a callable");
      reasons.set(k, (reasons.get(k) ?? 0) + 1);
    }),
    { numRuns: 2000 },
  );
  t.ok(reasons.size === 3, `outcomes: ${JSON.stringify(Object.fromEntries(reasons))}`);
});

// ---- results --------------------------------------------------------------------------------------

t.test("results: formatResult then parseResult round trip", async (t) => {
  fc.assert(
    fc.property(jsonWithFloats, (value) => {
      const s = formatResult({ ok: true, value });
      if (!/^\{"value": /.test(s) || !/^[\x20-\x7e]*$/.test(s)) throw new Error(`written as ${s.slice(0, 40)}`);
      const r = parseResult(s);
      if (!r.ok || canonical(r.value) !== canonical(value)) throw new Error(`read back as ${canonical(r)}`);
    }),
    { numRuns: 800 },
  );
  fc.assert(
    fc.property(nonEmpty, text, fc.option(nonEmpty, { nil: undefined }), (code, message, name) => {
      const error = name === undefined ? { code, message } : { code, message, name };
      const s = formatResult({ ok: false, error });
      const r = parseResult(s);
      if (r.ok || canonical(r.error) !== canonical(error)) throw new Error(`read back as ${canonical(r)}`);
    }),
    { numRuns: 500 },
  );
  t.equal(formatResult({ ok: true, value: 5 }), '{"value": 5}', "a value");
  t.equal(formatResult({ ok: false, error: { code: "ETIMEDOUT", message: "t" } }), '{"error": {"code": "ETIMEDOUT", "message": "t"}}', "a failure without a name");
  t.same(parseResult('{"value": "kaboom"}'), { ok: true, value: "kaboom" }, "a Python worker's failure reads as a value (EventMQ sends str(exc))");
});

t.test("results: a handler that returns nothing gives {\"value\": null}, which parseResult reads", async (t) => {
  // Python's None is {"value": null}; a JS function without return gives undefined.
  const s = formatResult({ ok: true, value: undefined });
  t.equal(s, '{"value": null}', "formatResult({ ok: true, value: undefined })");
  const r = outcome(() => parseResult(s));
  t.ok(!(r instanceof EmqpError) && r.ok && r.value === null, `parseResult(${JSON.stringify(s)}) is a null value, got ${r instanceof EmqpError ? r.reason : canonical(r)}`);
});

t.test("results: values JSON cannot carry become a failure result, never an exception", async (t) => {
  const cyclic: Record<string, unknown> = {};
  cyclic.self = cyclic;
  for (const [what, value] of [
    ["a function", () => 1],
    ["a symbol", Symbol("s")],
    ["a cycle", cyclic],
  ] as const) {
    const s = outcome(() => formatResult({ ok: true, value }));
    const r = typeof s === "string" ? outcome(() => parseResult(s)) : s;
    t.ok(!(r instanceof EmqpError) && !r.ok && r.error.code === "EJOBFAILED", `${what}: written as ${JSON.stringify(s)}, want an EJOBFAILED result`);
  }
});

t.test("results: any text parses or is refused with bad-json / bad-result", async (t) => {
  const resultish = fc.oneof(
    text,
    jsonArb.map((v) => JSON.stringify(v)),
    fc.dictionary(fc.constantFrom("value", "error", "x"), jsonArb).map((v) => JSON.stringify(v)),
    fc.dictionary(fc.constantFrom("code", "message", "name"), jsonArb).map((e) => JSON.stringify({ error: e })),
  );
  fc.assert(
    fc.property(resultish, (s) => {
      const r = outcome(() => parseResult(s));
      if (r instanceof EmqpError) {
        if (r.reason !== "bad-json" && r.reason !== "bad-result") throw new Error(`reason ${r.reason}`);
      } else if (!r.ok && (typeof r.error.code !== "string" || typeof r.error.message !== "string")) {
        throw new Error(`error result with non-string fields: ${canonical(r)}`);
      }
    }),
    { numRuns: 2000 },
  );
  t.pass("2000 result texts parsed or refused");
});

// ---- pyJson and Python's json.dumps ---------------------------------------------------------------

t.test("pyJson: Python's json.dumps spacing and escapes", async (t) => {
  t.equal(pyJson([[10, "default"]]), '[[10, "default"]]', "list spacing");
  t.equal(pyJson({ a: 1, b: [true, false, null] }), '{"a": 1, "b": [true, false, null]}', "object spacing, literals");
  t.equal(pyJson("\u03b1\u00e9"), '"\\u03b1\\u00e9"', "non-ASCII escaped (ensure_ascii)");
  t.equal(pyJson("\u{1F600}"), '"\\ud83d\\ude00"', "astral characters as a surrogate pair");
  t.equal(pyJson("\u007f\u2028"), '"\\u007f\\u2028"', "DEL and U+2028 escaped");
  t.equal(pyJson("\n\t\u0001\"\\/"), '"\\n\\t\\u0001\\"\\\\/"', "control characters, quote, backslash; slash left alone");
  t.equal(pyJson({ b: 1, a: { d: 2, c: 3 } }, true), '{"a": {"c": 3, "d": 2}, "b": 1}', "sort_keys, nested");
  t.equal(pyJson({ u: undefined, f: () => 1, k: 1 }), '{"k": 1}', "undefined and functions are left out, as JSON.stringify does");
  t.equal(pyJson(123456789012345678901234567890n), "123456789012345678901234567890", "a BigInt as a Python int");
});

interface PyAnswers {
  plain: string[];
  sorted: string[];
  floats: string[];
}

/** One python3 run for every comparison: json.dumps of json.loads of our JSON.stringify. */
function askPython(input: { plain: unknown[]; sorted: unknown[]; floats: number[] }): PyAnswers | string {
  const code = [
    "import json, sys",
    "d = json.load(sys.stdin)",
    "print(json.dumps({",
    '  "plain": [json.dumps(v) for v in d["plain"]],',
    '  "sorted": [json.dumps(v, sort_keys=True) for v in d["sorted"]],',
    '  "floats": [json.dumps(v) for v in d["floats"]],',
    "}))",
  ].join("\n");
  const r = spawnSync(PYTHON, ["-c", code], { input: JSON.stringify(input), encoding: "utf8", timeout: 30_000, maxBuffer: 64 << 20 });
  if (r.error) return `${PYTHON} could not run: ${r.error.message}`;
  if (r.status !== 0) return `${PYTHON} exited ${r.status}: ${r.stderr.slice(0, 300)}`;
  return JSON.parse(r.stdout) as PyAnswers;
}

// Keys without astral characters: JS sorts UTF-16 code units, Python code points, and the two
// orders differ only between an astral character and U+E000..U+FFFF (pyjson.ts says so).
const bmpText = fc.string({ unit: fc.integer({ min: 0, max: 0xd7ff }).map((c) => String.fromCharCode(c)), maxLength: 8 });
const { json: bmpKeyed } = fc.letrec<{ json: unknown }>((tie) => ({
  json: fc.oneof({ depthSize: "small" }, jsonLeaf, fc.array(tie("json"), { maxLength: 4 }), fc.dictionary(bmpText, tie("json"), { maxKeys: 5 })),
}));
const FLOATS = [0.1, 2.5, -1.25, 123.456, 1e-4, 1.5e-4, 1e-5, 1.5e-5, 1e-6, 3e-6, 1e-7, 2.5e-8, 1e-10, 1e-300, 5e-324, 1.7976931348623157e308, 1e21, 0.30000000000000004];

const plainValues = [
  ...fc.sample(jsonArb, { numRuns: 400, seed: 4242 }),
  [[10, "default"]],
  [[32, "top"], [23, "drop"], [12, "shop"]],
  ["run", { callable: "touch", path: "jobs_demo", args: ["\u03b1", "\u{1F600}", "\u2028", "\u007f"], kwargs: { "\u00e9": [null, true] }, class_args: [], class_kwargs: {} }],
  { "10": 1, b: 2, "1": 3 },
  Number.MAX_SAFE_INTEGER,
  -0,
];
const sortedValues = [...fc.sample(bmpKeyed, { numRuns: 300, seed: 77 }), { args: [1], kwargs: { z: 1, a: 2 }, class_args: [], class_kwargs: {}, path: "m", callable: "\u03b1" }];
const floats = [...FLOATS, ...fc.sample(fc.double({ noNaN: true, noDefaultInfinity: true }), { numRuns: 300, seed: 9 })];
const py = askPython({ plain: plainValues, sorted: sortedValues, floats });
const pySkip = typeof py === "string" ? `python3 not usable: ${py}` : false;
if (pySkip) {
  if (process.env.CI === "true") t.fail(`python3 is required under CI=true: ${pySkip}`);
  else t.comment(`skipping the json.dumps comparison: ${pySkip}`);
}

t.test("pyJson equals Python's json.dumps (checked with python3)", { skip: pySkip }, async (t) => {
  if (typeof py === "string") return;
  const diff = (values: unknown[], answers: string[], sortKeys: boolean) =>
    values.flatMap((v, i) => {
      const ours = pyJson(v, sortKeys);
      return ours === answers[i] ? [] : [`${JSON.stringify(v)?.slice(0, 80)}: ours ${ours.slice(0, 80)}, Python ${answers[i]!.slice(0, 80)}`];
    });
  t.same(diff(plainValues, py.plain, false), [], `${plainValues.length} values (strings over all of Unicode, integers, nesting) written as json.dumps writes them`);
  t.same(diff(sortedValues, py.sorted, true), [], `${sortedValues.length} values with sortKeys written as json.dumps(sort_keys=True)`);
  // Non-integral numbers: Python writes repr(float), which switches to exponent notation below
  // 1e-4 and pads the exponent to two digits (1e-05); JavaScript switches below 1e-6 (1e-7).
  t.same(diff(floats, py.floats, false), [], `${floats.length} floats written as Python's repr (e.g. 1e-05, 1e-07)`);
});

t.test("pyJson writes small floats as Python does (without python3)", async (t) => {
  t.equal(pyJson(0.0001), "0.0001", "1e-4 stays fixed in both");
  t.equal(pyJson(0.00001), "1e-05", "json.dumps(0.00001) is 1e-05");
  t.equal(pyJson(1.5e-5), "1.5e-05", "json.dumps(1.5e-5) is 1.5e-05");
  t.equal(pyJson(1e-7), "1e-07", "json.dumps(1e-7) is 1e-07");
  t.equal(pyJson(1e-300), "1e-300", "three-digit exponents agree");
});

// ---- msgids, heartbeats, constants ----------------------------------------------------------------

t.test("newMsgid: uuid4 text, never repeated", async (t) => {
  const ids = Array.from({ length: 2000 }, newMsgid);
  t.ok(
    ids.every((id) => /^[0-9a-f]{8}-[0-9a-f]{4}-4[0-9a-f]{3}-[89ab][0-9a-f]{3}-[0-9a-f]{12}$/.test(id)),
    "36 characters, lowercase hex with hyphens, version 4, RFC 4122 variant (str(uuid.uuid4()))",
  );
  t.equal(new Set(ids).size, ids.length, "2000 distinct ids");
});

t.test("heartbeatTime: seconds since the epoch, like Python's str(time.time())", async (t) => {
  t.equal(heartbeatTime(1795368394337), "1795368394.337", "milliseconds as a decimal fraction");
  t.equal(heartbeatTime(946684800000), "946684800.0", "a whole second keeps its .0, as str(946684800.0) does (EventMQ's test_send_heartbeat)");
  const now = Date.now() / 1000;
  const got = Number(heartbeatTime());
  t.ok(Math.abs(got - now) < 5, `heartbeatTime() = ${got}, now = ${now}`);
});

t.test("constants: EventMQ's protocol name and default addresses", async (t) => {
  t.equal(PROTOCOL, "eMQP/1.0");
  t.same(DEFAULT_ADDRESSES, {
    frontend: "tcp://127.0.0.1:47291",
    backend: "tcp://127.0.0.1:47290",
    admin: "tcp://127.0.0.1:47293",
    publisherIncoming: "tcp://127.0.0.1:47298",
    publisherOutgoing: "tcp://127.0.0.1:47299",
  });
});
