// Conformance cases for the queue API (spec/queue-api.md), run on Node through tap and on Bun and
// Deno by run.ts, like the rest of the table in cases.ts. They cover what depends on the runtime:
// the codec's byte handling (TextDecoder, DataView, bigint), a live QueueServer and QueueClient
// over tcp://127.0.0.1 (sockets, timers, node:crypto), and durable mode (node:fs/promises, the
// journal's lock and fsync). No framework: each run() throws on failure and bounds every wait.

import { Buffer } from "node:buffer";
import process from "node:process";
import { mkdtemp, readFile, rm, writeFile } from "node:fs/promises";
import { tmpdir } from "node:os";
import * as path from "node:path";
import { Decoder, Encoder } from "@msgpack/msgpack";
import { Dealer, QueueClient, QueueClientError, QueueServer } from "../../src/index.js";
import { CodecError, decodeFrame, encodeValue, negotiateAccept, sniffFormat } from "../../src/queue-api/codec.js";
import { withTimeout, type Case } from "./cases.js";

const WAIT_MS = 5_000;

function check(cond: unknown, msg: string): asserts cond {
  if (!cond) throw new Error(msg);
}

/** JSON with bigints shown as `123n`, for comparisons and messages. */
const show = (v: unknown): string => JSON.stringify(v, (_k, x: unknown) => (typeof x === "bigint" ? `${x}n` : x));

function same(got: unknown, want: unknown, what: string): void {
  check(show(got) === show(want), `${what}: got ${show(got)}, want ${show(want)}`);
}

const bytes = (...b: (number | string)[]): Uint8Array =>
  Uint8Array.from(b.flatMap((x) => (typeof x === "string" ? [...Buffer.from(x, "utf8")] : [x])));

/** decodeFrame must refuse `frame` with a 400 whose description matches. */
function refused(frame: Uint8Array, description: RegExp, what: string): void {
  let err: unknown;
  try {
    decodeFrame(frame);
  } catch (e) {
    err = e;
  }
  check(err instanceof CodecError, `${what}: want a CodecError, got ${err === undefined ? "a value" : String(err)}`);
  check(err.status === 400, `${what}: status ${err.status}, want 400`);
  check(description.test(err.description), `${what}: description ${JSON.stringify(err.description)} does not match ${description}`);
}

/** Bigints that fit a double exactly become numbers (other decoders read every 64-bit form as bigint). */
function safeNumbers(v: unknown): unknown {
  if (typeof v === "bigint") return v >= -BigInt(Number.MAX_SAFE_INTEGER) && v <= BigInt(Number.MAX_SAFE_INTEGER) ? Number(v) : v;
  if (Array.isArray(v)) return v.map(safeNumbers);
  if (typeof v === "object" && v !== null) return Object.fromEntries(Object.entries(v).map(([k, x]) => [k, safeNumbers(x)]));
  return v;
}

// ---- codec --------------------------------------------------------------------------------------

const INT64_MAX = (1n << 63n) - 1n;
const INT64_MIN = -(1n << 63n);

async function codecCase(): Promise<void> {
  const request = {
    href: "/v1/queues/jobs/messages?limit=2&echo=true",
    action: "POST",
    headers: { "Client-ID": "3381af92-2b9e-11e3-b191-71861300734c", "X-Request-ID": "7" },
    body: [
      { ttl: 60, body: { text: "héllo ☃ 𝄞", n: -1.5, big: INT64_MAX, small: INT64_MIN, safe: 2 ** 53 - 1, list: [null, true, false, 0, -32, 255, 65536] } },
      { ttl: 1_209_600, body: "" },
    ],
  };
  const independent = new Decoder({ useBigInt64: true });
  for (const format of ["msgpack", "json"] as const) {
    const frame = encodeValue(request, format);
    same(sniffFormat(frame), format, `${format}: sniffFormat`);
    const back = decodeFrame(frame);
    same(back.format, format, `${format}: decoded format`);
    same(back.value, request, `${format}: round trip`);
    const body = (back.value as typeof request).body[0]!.body as Record<string, unknown>;
    check(typeof body.big === "bigint" && body.big === INT64_MAX, `${format}: 2^63-1 must come back as a bigint, got ${show(body.big)}`);
    check(typeof body.small === "bigint" && body.small === INT64_MIN, `${format}: -2^63 must come back as a bigint`);
    check(typeof body.safe === "number", `${format}: 2^53-1 must come back as a number`);
    // An independent reader agrees with what we wrote (it reads every 64-bit form as a bigint, and
    // JSON.parse cannot hold int64: those are compared as text).
    const other =
      format === "msgpack"
        ? safeNumbers(independent.decode(frame))
        : JSON.parse(Buffer.from(frame).toString("utf8"), (_k, v: unknown) => (typeof v === "number" && !Number.isSafeInteger(v) && Number.isInteger(v) ? "int64" : v));
    const want = format === "msgpack" ? request : JSON.parse(show(request).replace(/"-?\d+n"/g, '"int64"'));
    same(other, want, `${format}: read back by ${format === "msgpack" ? "@msgpack/msgpack" : "JSON.parse"}`);
  }
  // Frames written by another encoder decode the same.
  const foreign = new Encoder({ useBigInt64: true }).encode({ href: "/v1/health", action: "get", body: { k: INT64_MAX } });
  same(decodeFrame(foreign).value, { href: "/v1/health", action: "get", body: { k: INT64_MAX } }, "@msgpack/msgpack frame");
  // Many short keys of equal length: each must decode to itself (decoders may cache short strings).
  const keys: Record<string, number> = {};
  for (let i = 0; i < 3000; i++) keys[`k${i.toString(36).padStart(4, "0")}`] = i;
  const many = decodeFrame(encodeValue({ href: "/v1", body: keys }, "msgpack")).value as { body: Record<string, number> };
  for (const [k, v] of Object.entries(keys)) check(many.body[k] === v, `short key ${k}: got ${many.body[k]}, want ${v}`);
  same(Object.keys(many.body).length, 3000, "short keys: count");
  // Sniffing: JSON may start with whitespace; a top-level array is not a request.
  same(sniffFormat(bytes(" \n\t{")), "json", "sniff JSON after whitespace");
  same(sniffFormat(bytes(0x81)), "msgpack", "sniff fixmap");
  same(sniffFormat(bytes(0xde, 0, 0)), "msgpack", "sniff map16");
  same(sniffFormat(bytes("[")), undefined, "sniff JSON array");
  refused(bytes("[1]"), /Expected a map/, "JSON array");
  refused(bytes(0x91, 0x01), /Expected a map/, "msgpack array");
  refused(bytes("hello"), /not msgpack or JSON/, "garbage");
  refused(bytes(), /not msgpack or JSON/, "empty frame");
  // Values outside the model.
  refused(bytes(0x81, 0xa1, "b", 0xc4, 0x01, 0x00), /Document type not supported/, "msgpack bin 8");
  refused(bytes(0x81, 0xa1, "b", 0xd6, 0xff, 0, 0, 0, 0), /Document type not supported/, "msgpack timestamp ext");
  refused(bytes(0x81, 0xa1, "b", 0xcf, 0x80, 0, 0, 0, 0, 0, 0, 0), /integer that is too large/, "uint64 2^63");
  refused(bytes('{"b":9223372036854775808}'), /integer that is too large/, "JSON 2^63");
  refused(bytes('{"b":-9223372036854775809}'), /integer that is too large/, "JSON -2^63-1");
  refused(bytes(0x81, 0x01, 0x02), /keys must be strings/, "integer map key");
  refused(bytes(0x81, 0xa1, "b", 0xa2, 0xc0, 0x80), /valid UTF-8/, "overlong UTF-8 in msgpack");
  refused(bytes(0x81, 0xa1, "b", 0xa3, 0xed, 0xa0, 0x80), /valid UTF-8/, "encoded surrogate in msgpack");
  refused(bytes('{"b":"\\ud800"}'), /valid UTF-8/, "lone surrogate escape in JSON");
  refused(bytes(0x81, 0xa1, "b", 0xcb, 0x7f, 0xf0, 0, 0, 0, 0, 0, 0), /finite/, "msgpack Infinity");
  refused(bytes(0x81, 0xa1, "b", 0x81), /truncated/, "truncated msgpack");
  refused(bytes(0x80, 0xc0), /extra bytes/, "trailing bytes");
  refused(bytes('{"b":'), /malformed JSON/, "truncated JSON");
  const deep = (n: number): string => '{"a":'.repeat(n) + "1" + "}".repeat(n);
  same(decodeFrame(bytes(deep(128))).format, "json", "128 levels accepted");
  refused(bytes(deep(129)), /nested too deeply/, "129 levels");
  // Accept negotiation.
  same(negotiateAccept(undefined), "msgpack", "no Accept");
  same(negotiateAccept("*/*"), "msgpack", "Accept */*");
  same(negotiateAccept("application/json"), "json", "Accept JSON");
  same(negotiateAccept("application/x-msgpack;q=0.5, application/json;q=0.9"), "json", "Accept q-values");
  same(negotiateAccept("application/json;q=0, */*"), "msgpack", "Accept q=0 excludes");
  same(negotiateAccept("text/plain"), undefined, "Accept text/plain (406)");
}

// ---- a live server ------------------------------------------------------------------------------

async function withServer(options: ConstructorParameters<typeof QueueServer>[0], body: (server: QueueServer) => Promise<void>): Promise<void> {
  const server = new QueueServer({ endpoint: "tcp://127.0.0.1:0", ...options });
  await withTimeout(server.start(), WAIT_MS, "server.start");
  try {
    await body(server);
  } finally {
    await withTimeout(server.stop(), WAIT_MS, "server.stop");
  }
}

async function expectError(p: Promise<unknown>, code: string, what: string): Promise<QueueClientError> {
  let err: unknown;
  try {
    await p;
  } catch (e) {
    err = e;
  }
  check(err instanceof QueueClientError, `${what}: want a QueueClientError ${code}, got ${err === undefined ? "success" : String(err)}`);
  check(err.code === code, `${what}: got ${err.code} (${err.message}), want ${code}`);
  return err;
}

async function clientFlow(format: "msgpack" | "json"): Promise<void> {
  await withServer({}, async (server) => {
    const client = new QueueClient({ address: server.endpoint, project: "conf", timeout: WAIT_MS, format });
    const other = new QueueClient({ address: server.endpoint, project: "elsewhere", timeout: WAIT_MS, format });
    try {
      check(await client.health(), "health: want true");
      check((await client.createQueue("jobs")) === true, "first PUT must create");
      check((await client.createQueue("jobs")) === false, "second PUT must find it");
      check(await client.queueExists("jobs"), "jobs must exist");
      check(!(await other.queueExists("jobs")), "another project must not see jobs");
      await expectError(client.createQueue("bad name"), "E400", "queue name with a space");
      await expectError(client.post("absent", { body: 1 }), "E404", "post to an absent queue");

      const ids = await client.post("jobs", [{ body: { n: 1 } }, { body: { n: 2 }, ttl: 120 }, { body: { n: 3 } }]);
      same(ids.length, 3, "posted ids");
      check(new Set(ids).size === 3, `ids must differ: ${show(ids)}`);
      same((await client.list("jobs")).messages.length, 0, "listing without echo hides own messages");
      const page = await client.list("jobs", { echo: true, limit: 2 });
      same(page.messages.map((m) => m.body), [{ n: 1 }, { n: 2 }], "first page");
      same(page.messages.map((m) => m.id), ids.slice(0, 2), "first page ids");
      const rest = await client.list("jobs", { echo: true, marker: page.marker });
      same(rest.messages.map((m) => m.body), [{ n: 3 }], "second page");
      same((await client.get("jobs", ids[1]!))?.ttl, 120, "ttl of message 2");
      same((await client.getMany("jobs", [ids[2]!, "nope", ids[0]!])).map((m) => m.id).sort(), [ids[0]!, ids[2]!].sort(), "getMany");

      const claim = await client.claim("jobs", { ttl: 60, grace: 60, limit: 2 });
      check(claim !== undefined, "claim must take messages");
      same(claim.messages.map((m) => m.id), ids.slice(0, 2), "claim takes the two oldest");
      same(claim.messages.map((m) => m.claimId), [claim.id, claim.id], "claimed hrefs carry the claim id");
      // Claim ttl + grace = 120 s: message 2 (ttl 120) reports 120 either way, message 1 keeps 3600.
      same(claim.messages.map((m) => m.ttl), [3600, 120], "grace never shortens a message");
      const held = await client.stats("jobs");
      same([held.claimed, held.free, held.total], [2, 1, 3], "stats while claimed");
      check(held.oldest?.href.endsWith(ids[0]!) && held.newest?.href.endsWith(ids[2]!), `stats oldest/newest: ${show(held)}`);
      await expectError(client.delete("jobs", ids[0]!), "E403", "deleting a claimed message without its claim");
      await client.delete("jobs", claim.messages[0]!);
      check((await client.get("jobs", ids[0]!)) === undefined, "deleted message must be gone");
      const again = await client.claim("jobs", { limit: 5 });
      same(again?.messages.map((m) => m.id), [ids[2]!], "a second claim takes only the free message");
      await client.releaseClaim("jobs", claim.id);
      check((await client.getClaim("jobs", claim.id)) === undefined, "released claim must be gone");
      const s = await client.stats("jobs");
      same([s.claimed, s.free, s.total], [1, 1, 2], "stats after release");
      await client.deleteMany("jobs", [ids[1]!, ids[2]!]);
      same((await client.stats("jobs")).total, 0, "bulk delete ignores claims");
      await client.deleteQueue("jobs");
      check(!(await client.queueExists("jobs")), "deleted queue must be gone");
      check(server.counters.requests > 20, `server counted ${server.counters.requests} requests`);
    } finally {
      client.close();
      other.close();
    }
  });
}

/** The wire itself, from a plain DEALER: JSON in, pipelining, order, X-Request-ID, 400 and 406. */
async function wireCase(): Promise<void> {
  await withServer({}, async (server) => {
    const dealer = new Dealer({ linger: 0 });
    try {
      dealer.connect(server.endpoint);
      const json = (v: unknown): Buffer => Buffer.from(JSON.stringify(v), "utf8");
      const headers = (id: string, accept = "application/json") => ({ Accept: accept, "X-Request-ID": id, "X-Project-ID": "wire" });
      // Pipelined: all sent before any reply is read.
      await dealer.send(json({ href: "/v1/queues/w", action: "put", headers: headers("1") }));
      // 2^53 + 1 is not a double: written as JSON text, it must be kept exactly (as an int64).
      const post = JSON.stringify({ href: "/v1/queues/w/messages", action: "POST", headers: { ...headers("2"), "Client-ID": "3381af922b9e11e3b19171861300734c" }, body: [{ ttl: 60, body: "BIG" }] });
      await dealer.send(Buffer.from(post.replace('"BIG"', "9007199254740993"), "utf8"));
      await dealer.send(json({ href: "/v1/queues/w/stats", action: "GET", headers: headers("3") }));
      await dealer.send(Buffer.from("not a request"));
      await dealer.send(json({ href: "/v1/queues/w", action: "GET", headers: headers("5", "text/plain") }));
      await dealer.send(json({ href: "/v1/queues/w/claims", action: "GET", headers: headers("6") }));
      const replies: { status: number; headers: Record<string, string>; body: unknown }[] = [];
      const raw: Buffer[] = [];
      for (let i = 0; i < 6; i++) {
        const frames = await withTimeout(dealer.receive(), WAIT_MS, `reply ${i + 1}`);
        same(frames.length, 1, `reply ${i + 1}: frames`);
        raw.push(frames[0]!);
        replies.push(decodeFrame(frames[0]!).value as (typeof replies)[number]);
      }
      same(replies.map((r) => r.status), [201, 201, 200, 400, 406, 405], "statuses in request order");
      // The garbage frame has no readable X-Request-ID; the 406 still echoes its own.
      same(replies.map((r) => r.headers["X-Request-ID"]), ["1", "2", "3", undefined, "5", "6"], "X-Request-ID echoed");
      // JSON when Accept asks for it; a 406 and an undecodable non-JSON frame are answered in msgpack.
      same(raw.map((f) => sniffFormat(f)), ["json", "json", "json", "msgpack", "msgpack", "json"], "reply codecs");
      same(replies[0]!.headers.Location, "/v1/queues/w", "Location of the queue");
      same(replies[1]!.headers["Content-Type"], "application/json", "Content-Type");
      check(/^\/v1\/queues\/w\/messages\?ids=/.test(replies[1]!.headers.Location ?? ""), `post Location ${replies[1]!.headers.Location}`);
      same((replies[2]!.body as { messages: { total: number } }).messages.total, 1, "stats total");
      same(Object.keys(replies[3]!.body as object).sort(), ["description", "title"], "error body keys");
      same(replies[5]!.headers.Allow, "POST", "Allow with 405");
      // Read the 2^53 + 1 back as JSON text.
      await dealer.send(json({ href: replies[1]!.headers.Location, action: "GET", headers: headers("7") }));
      const got = (await withTimeout(dealer.receive(), WAIT_MS, "get many"))[0]!;
      check(got.toString("utf8").includes('"body":9007199254740993'), `2^53+1 must survive exactly: ${got.toString("utf8")}`);
    } finally {
      dealer.close();
    }
  });
}

/** Durable mode: everything acknowledged survives a stop and a restart in the same directory. */
async function durableCase(): Promise<void> {
  const dir = await mkdtemp(path.join(tmpdir(), "emq-queue-conformance-"));
  try {
    let ids: string[] = [];
    let claimId = "";
    await withServer({ dataDir: dir }, async (server) => {
      check(server.durable, "server must report durable mode");
      // A second server on the same directory is refused while the first holds it.
      const second = new QueueServer({ endpoint: "tcp://127.0.0.1:0", dataDir: dir });
      let locked: unknown;
      await withTimeout(second.start(), WAIT_MS, "second start").catch((e: unknown) => (locked = e));
      await second.stop();
      check((locked as { code?: string } | undefined)?.code === "EJOURNALLOCKED", `second server on the same dir: got ${String(locked)}`);
      const client = new QueueClient({ address: server.endpoint, timeout: WAIT_MS });
      try {
        await client.createQueue("keep");
        await client.setMetadata("keep", { owner: "conformance", big: INT64_MAX });
        ids = await client.post("keep", [1, 2, 3, 4].map((n) => ({ body: { n, pad: "x".repeat(n * 100) } })));
        await client.delete("keep", ids[1]!);
        const claim = await client.claim("keep", { limit: 1, ttl: 600, grace: 60 });
        check(claim !== undefined, "claim in durable mode");
        claimId = claim.id;
        await client.createQueue("dropped");
        await client.deleteQueue("dropped");
      } finally {
        client.close();
      }
    });
    await withServer({ dataDir: dir }, async (server) => {
      const client = new QueueClient({ address: server.endpoint, timeout: WAIT_MS });
      try {
        check(await client.queueExists("keep"), "queue must survive the restart");
        check(!(await client.queueExists("dropped")), "a deleted queue must stay deleted");
        same(await client.getMetadata("keep"), { owner: "conformance", big: INT64_MAX }, "metadata after restart");
        const list = await client.list("keep", { echo: true, includeClaimed: true });
        same(list.messages.map((m) => m.id), [ids[0]!, ids[2]!, ids[3]!], "messages after restart (the deleted one stays deleted)");
        same(list.messages.map((m) => (m.body as { n: number }).n), [1, 3, 4], "bodies after restart");
        const claim = await client.getClaim("keep", claimId);
        same(claim?.messages.map((m) => m.id), [ids[0]!], "the claim survives with its message");
        const posted = await client.post("keep", { body: "after restart" });
        check(!ids.includes(posted[0]!), "a new id after the restart must not reuse an old one");
        const s = await client.stats("keep");
        same([s.claimed, s.free, s.total], [1, 3, 4], "stats after restart and one more post");
      } finally {
        client.close();
      }
    });
  } finally {
    await rm(dir, { recursive: true, force: true });
  }
}

/**
 * A journal.lock left by a process that died (SIGKILL, power cut) must not keep the broker from
 * starting. Telling a dead pid from a live one needs process.kill(pid, 0): on Deno that takes
 * --allow-run (without it the journal cannot check, and respects the lock).
 */
async function staleLockCase(): Promise<void> {
  const dir = await mkdtemp(path.join(tmpdir(), "emq-queue-conformance-"));
  try {
    const lock = path.join(dir, "journal.lock");
    await writeFile(lock, "99999999\n"); // above every OS's pid range: no such process
    await withServer({ dataDir: dir }, async (server) => {
      same(await readFile(lock, "utf8"), `${process.pid}\n`, "the lock now names this process");
      const client = new QueueClient({ address: server.endpoint, timeout: WAIT_MS });
      try {
        check(await client.createQueue("after-stale-lock"), "the store works after taking the lock over");
      } finally {
        client.close();
      }
    });
    let gone = false;
    await readFile(lock, "utf8").catch(() => (gone = true));
    check(gone, "stop() must remove the lock it took");
  } finally {
    await rm(dir, { recursive: true, force: true });
  }
}

export const queueApiCases: Case[] = [
  { name: "queue-api codec: msgpack/JSON round trips, int64 bigints, bin/ext/uint64/UTF-8/depth refusals, Accept", run: codecCase },
  { name: "queue-api client (msgpack): queues, post, list/paging, claim, delete, stats, projects (tcp 127.0.0.1)", run: () => clientFlow("msgpack") },
  { name: "queue-api client (json): queues, post, list/paging, claim, delete, stats, projects (tcp 127.0.0.1)", run: () => clientFlow("json") },
  { name: "queue-api wire: pipelined JSON from a DEALER, order, X-Request-ID, 400/405/406 (tcp 127.0.0.1)", run: wireCase },
  { name: "queue-api durable: journal in a temp dir, lock, stop and restart keeps acknowledged state", run: durableCase },
  { name: "queue-api durable: a stale journal.lock (dead pid) is taken over, and removed on stop", run: staleLockCase },
];
