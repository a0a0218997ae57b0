// The queue API conformance cases: the intent of the reference's §4.1 (queues), §4.2 (messages),
// §4.3 (claims) and §4.4 (storage semantics) (/work/shared/reference/marconi.md), as envelope-level
// exchanges over a real DEALER: the same hrefs, verbs, bodies and statuses the reference lists,
// plus the wire (X-Request-ID, pipelining, REQ, envelopes), exact expiry on an injected clock, echo
// suppression, project isolation, limits at their boundaries, paging and FIFO claims.
//
// conformance.test.ts runs every case twice: requests in msgpack (replies msgpack) and requests in
// JSON with `Accept: application/json` (replies JSON). Every reply's codec is checked in `call`.
// Where the reference gives a 2014.1 and a later answer, the "recommended for us" column of §2.3
// is what we pin (400 for a malformed, released or expired claim id on delete); metadata keys that
// start with `_` are accepted (2014.1). Each case uses fresh queue names and, unless it is about
// the global scope, its own project, so cases do not see each other's queues.

import type { Test } from "tap";
import { Buffer } from "node:buffer";
import { randomUUID } from "node:crypto";
import { QueueServer } from "../../src/queue-api/server.js";
import { type Format, encodeValue, encodedSize } from "../../src/queue-api/codec.js";
import { Request } from "../../src/socket/request.js";
import { within } from "../socket/fake-peer.js";
import { REPLY_WAIT_MS, Wire, type WireReply, encodeRequest, parseReply } from "./wire.js";

// ---- modes and environment ------------------------------------------------------------------------

export interface Mode {
  name: string;
  /** The codec requests are encoded in. */
  format: Format;
  /** The Accept header every request carries (none: the msgpack default). */
  accept?: string;
}

export const MODES: Mode[] = [
  { name: "msgpack", format: "msgpack" },
  { name: "json", format: "json", accept: "application/json" },
];

/** The clock the server reads; cases only move it forward (the store's clock never goes back). */
export interface Clock {
  now: number;
}

export interface Env {
  mode: Mode;
  server: QueueServer;
  /** The shared DEALER. */
  wire: Wire;
  clock: Clock;
  /** Replies checked for their codec, and the ones in the wrong one. */
  replies: { checked: number; wrong: string[] };
  /** Extra DEALERs opened by cases, closed at the end of the mode. */
  extraWires: Wire[];
}

let serial = 0;
/** A fresh name: queue names and project ids never repeat within a run. */
export const fresh = (prefix: string): string => `${prefix}-${(++serial).toString(36)}`;

// ---- the per-case session -----------------------------------------------------------------------------

// Reply bodies are plain decoded documents; the cases index into them freely.
/* eslint-disable @typescript-eslint/no-explicit-any */
type Doc = any;

export interface CallOpts {
  body?: unknown;
  /** Extra or overriding headers; a value of undefined removes a default header. */
  headers?: Record<string, string | undefined>;
  /** null = no X-Project-ID (the global scope); default: the session's project. */
  project?: string | null;
  /** null = no Client-ID; default: the session's. */
  clientId?: string | null;
  /** The codec the reply must be in (default: the mode's). */
  replyFormat?: Format;
  wire?: Wire;
}

export const qpath = (q: string): string => `/v1/queues/${q}`;
/** The id in a message or claim href (last path segment, query dropped). */
export const idOf = (href: string): string => decodeURIComponent(href.split("?")[0]!.split("/").pop()!);
/** The claim_id query parameter of a message href. */
export const claimIdOf = (href: string): string | null => new URLSearchParams(href.split("?")[1] ?? "").get("claim_id");

export class Session {
  project: string | null;
  clientId: string = randomUUID();

  constructor(
    readonly t: Test,
    readonly env: Env,
    project: string | null = fresh("p"),
  ) {
    this.project = project;
  }

  get format(): Format {
    return this.env.mode.format;
  }

  headers(o: CallOpts = {}): Record<string, string> {
    const h: Record<string, string | undefined> = {};
    if (this.env.mode.accept !== undefined) h.Accept = this.env.mode.accept;
    const project = o.project === undefined ? this.project : o.project;
    if (project !== null) h["X-Project-ID"] = project;
    const client = o.clientId === undefined ? this.clientId : o.clientId;
    if (client !== null) h["Client-ID"] = client;
    Object.assign(h, o.headers ?? {});
    const out: Record<string, string> = {};
    for (const [k, v] of Object.entries(h)) if (v !== undefined) out[k] = v;
    return out;
  }

  /** One request on the wire; the reply's codec is checked against what the mode expects. */
  async call(action: string, href: string, o: CallOpts = {}): Promise<WireReply> {
    this.resync();
    const req = { href, action, headers: this.headers(o), ...("body" in o ? { body: o.body } : {}) };
    const r = await (o.wire ?? this.env.wire).request(req, this.format);
    this.checkCodec(r, o.replyFormat ?? this.env.mode.format, `${action} ${href}`);
    return r;
  }

  /** Send raw frames on the shared DEALER and check the reply codec. */
  async raw(frames: Buffer[], replyFormat: Format, what: string): Promise<WireReply> {
    this.resync();
    const r = await this.env.wire.sendFrames(frames, what);
    this.checkCodec(r, replyFormat, what);
    return r;
  }

  /** After a lost reply the shared DEALER's order is off: later cases get a fresh one. */
  private resync(): void {
    if (!this.env.wire.desynced) return;
    this.env.wire.close();
    this.env.wire = Wire.open(this.env.server.endpoint);
  }

  checkCodec(r: WireReply, want: Format, what: string): void {
    this.env.replies.checked++;
    const ct = r.headers["Content-Type"];
    const wantCt = want === "json" ? "application/json" : "application/x-msgpack";
    const firstOk = want === "json" ? r.raw[0] === 0x7b : r.raw[0]! >= 0x80 && r.raw[0]! <= 0x8f;
    if (r.format !== want || ct !== wantCt || !firstOk) {
      const problem = `${what}: reply in ${r.format} (first byte 0x${r.raw[0]?.toString(16)}, Content-Type ${ct}), want ${want}`;
      this.env.replies.wrong.push(problem);
      this.t.fail(problem);
    }
  }

  /** call() and assert the status; returns the reply for further checks. */
  async expect(status: number, action: string, href: string, o: CallOpts = {}, what?: string): Promise<WireReply> {
    const r = await this.call(action, href, o);
    this.t.equal(r.status, status, what ?? `${action} ${href} -> ${status}`, { body: safe(r.body) });
    return r;
  }

  /** A fresh queue in the session's project (PUT -> 201). */
  async queue(prefix = "q", o: CallOpts = {}): Promise<string> {
    const q = fresh(prefix);
    const r = await this.call("PUT", qpath(q), o);
    if (r.status !== 201) this.t.fail(`creating ${q}: ${r.status}`, { body: safe(r.body) });
    return q;
  }

  /** Post messages (201 expected); returns their ids in submission order. */
  async post(q: string, items: { ttl: number; body: unknown }[], o: CallOpts = {}): Promise<string[]> {
    const r = await this.call("POST", `${qpath(q)}/messages`, { ...o, body: items });
    if (r.status !== 201) {
      this.t.fail(`posting ${items.length} to ${q}: ${r.status}`, { body: safe(r.body) });
      return [];
    }
    return ((r.body as Doc).resources as string[]).map(idOf);
  }

  /** Post n messages with bodies {i} for i in [from, from+n). */
  postN(q: string, n: number, ttl = 300, from = 0, o: CallOpts = {}): Promise<string[]> {
    return this.post(q, Array.from({ length: n }, (_, i) => ({ ttl, body: { i: from + i } })), o);
  }

  /** Claim (201 expected): the claim id from Location and the claimed messages. */
  async claim(q: string, ttl: number, grace: number, limit?: number, o: CallOpts = {}): Promise<{ id: string; messages: Doc[] }> {
    const href = `${qpath(q)}/claims${limit === undefined ? "" : `?limit=${limit}`}`;
    const r = await this.call("POST", href, { ...o, body: { ttl, grace } });
    if (r.status !== 201) {
      this.t.fail(`claiming from ${q}: ${r.status}`, { body: safe(r.body) });
      return { id: "", messages: [] };
    }
    return { id: idOf(r.headers.Location!), messages: r.body as Doc[] };
  }

  /** Every message a listing shows, following links[0].href until 204. */
  async listAll(q: string, query = "echo=true&limit=20", o: CallOpts = {}): Promise<Doc[]> {
    const out: Doc[] = [];
    let href = `${qpath(q)}/messages?${query}`;
    for (let page = 0; page < 1000; page++) {
      const r = await this.call("GET", href, o);
      if (r.status === 204) return out;
      if (r.status !== 200) {
        this.t.fail(`listing ${href}: ${r.status}`, { body: safe(r.body) });
        return out;
      }
      out.push(...(r.body as Doc).messages);
      href = (r.body as Doc).links[0].href;
    }
    this.t.fail(`listing ${q} did not end`);
    return out;
  }

  // ---- the clock ----

  get now(): number {
    return this.env.clock.now;
  }

  /** Move the server's clock to `ms` (never backwards). */
  at(ms: number): void {
    if (ms < this.env.clock.now) throw new Error(`clock would go back from ${this.env.clock.now} to ${ms}`);
    this.env.clock.now = ms;
  }

  /** Move the clock to the next whole second plus a margin, so whole-second ages are exact. */
  wholeSecond(): number {
    const next = Math.ceil((this.env.clock.now + 1) / 1000) * 1000 + 1000;
    this.at(next);
    return next;
  }
}

/** Bodies for diagnostics (tap's YAML has no bigint). */
function safe(v: unknown): unknown {
  return JSON.parse(JSON.stringify(v ?? null, (_k, x: unknown) => (typeof x === "bigint" ? `${x}n` : x)));
}

const bodies = (msgs: Doc[]): unknown[] => msgs.map((m) => m.body);
const range = (from: number, n: number): { i: number }[] => Array.from({ length: n }, (_, k) => ({ i: from + k }));
const isoSeconds = (ms: number): string => new Date(ms).toISOString().replace(/\.\d{3}Z$/, "Z");

/** A body of `build(n)` whose encodedSize in `format` is exactly `target` (n found by stepping). */
function sized(target: number, format: Format, build: (n: number) => unknown, n0: number): unknown {
  let n = n0;
  for (let i = 0; i < 8; i++) {
    const size = encodedSize(build(n), format);
    if (size === target) return build(n);
    n += target - size;
  }
  throw new Error(`no padding gives exactly ${target} bytes in ${format}`);
}

/**
 * A request frame with one number that encodeValue cannot write (beyond int64, or a uint64 the
 * server must refuse): the body holds a placeholder string that is swapped for the raw number,
 * JSON text or msgpack bytes.
 */
const PLACEHOLDER = "__raw_number_goes_here__";
function withRawNumber(req: { href: string; action: string; headers: Record<string, string>; body: unknown }, format: Format, json: string, msgpack: number[]): Buffer {
  const frame = encodeRequest(req, format);
  if (format === "json") {
    const text = frame.toString("utf8");
    const needle = JSON.stringify(PLACEHOLDER);
    if (!text.includes(needle)) throw new Error("placeholder not found");
    return Buffer.from(text.replace(needle, json), "utf8");
  }
  const needle = Buffer.concat([Buffer.from([0xa0 | PLACEHOLDER.length]), Buffer.from(PLACEHOLDER)]);
  const at = frame.indexOf(needle);
  if (at < 0) throw new Error("placeholder not found");
  return Buffer.concat([frame.subarray(0, at), Buffer.from(msgpack), frame.subarray(at + needle.length)]);
}
const uint64 = (v: bigint): number[] => [0xcf, ...Buffer.from(v.toString(16).padStart(16, "0"), "hex")];

// ---- the cases --------------------------------------------------------------------------------------

export interface Case {
  name: string;
  run(s: Session): Promise<void>;
  /** Run in the global scope (no X-Project-ID) instead of a fresh project. */
  global?: boolean;
}

const MSG_LIMIT = 262_144;
const META_LIMIT = 65_536;

export const CASES: Case[] = [
  // ======== §4.1 queues ========
  {
    name: "4.1 valid queue names: 201 with Location, metadata {} (PUT again: 204)",
    async run(s) {
      const tag = fresh("n").replace(/-/g, "_");
      for (const q of [`qtestqueue${tag}`, `TESTqueue${tag}`, `hyphen-name${tag}`, `_undersore${tag}`, `Nice-Boat_2${tag}`, "i".repeat(64 - tag.length) + tag]) {
        const r = await s.expect(201, "PUT", qpath(q));
        s.t.equal(r.headers.Location, qpath(q), `Location of ${q.slice(0, 20)}`);
        s.t.equal(r.body, null, "201 for a queue PUT has no body");
        const m = await s.expect(200, "GET", `${qpath(q)}/metadata`);
        s.t.strictSame(m.body, {}, "metadata starts {}");
        const again = await s.expect(204, "PUT", qpath(q), {}, `PUT ${q.slice(0, 20)} again -> 204`);
        s.t.equal(again.headers.Location, qpath(q), "Location on 204 too");
      }
    },
  },
  {
    name: "4.1 invalid queue names: 400 on every route carrying the name",
    async run(s) {
      const bad = ["%C3%A9t%C3%A9" /* UTF-8 été */, "%E9t%E9" /* Latin-1 été */, "@$@^qw", "i".repeat(65), "Nice-Bo@t", "_" + "a".repeat(64), "q%20space", "q.dot"];
      for (const q of bad) {
        const base = `/v1/queues/${q}`;
        for (const [action, href, body] of [
          ["PUT", base, undefined],
          ["GET", base, undefined],
          ["HEAD", base, undefined],
          ["DELETE", base, undefined],
          ["GET", `${base}/metadata`, undefined],
          ["PUT", `${base}/metadata`, { a: 1 }],
          ["GET", `${base}/stats`, undefined],
          ["POST", `${base}/messages`, [{ ttl: 60, body: 1 }]],
          ["GET", `${base}/messages`, undefined],
          ["POST", `${base}/claims`, { ttl: 60, grace: 60 }],
        ] as const) {
          const r = await s.expect(400, action, href, body === undefined ? {} : { body }, `${action} ${href.slice(0, 40)} -> 400`);
          s.t.type((r.body as Doc)?.title, "string", "error body has a title");
        }
      }
      const r = await s.expect(400, "PUT", qpath("@$@^qw"));
      s.t.strictSame(Object.keys(r.body as Doc).sort(), ["description", "title"], "error body is {title, description}");
      s.t.equal((r.body as Doc).title, "Invalid queue identification", "title for a bad queue name");
    },
  },
  {
    name: "4.1 X-Project-ID: 256 chars and spaces ok, 257/264 refused, empty refused on GET/PUT/HEAD/DELETE",
    async run(s) {
      const q = fresh("proj");
      await s.expect(201, "PUT", qpath(q), { project: "JAM Project" }, "project with a space -> 201");
      await s.expect(201, "PUT", qpath(q), { project: "x".repeat(256) }, "256-char project -> 201");
      await s.expect(400, "PUT", qpath(q), { project: "x".repeat(257) }, "257-char project -> 400");
      await s.expect(400, "PUT", qpath(q), { project: "x".repeat(264) }, "264-char project -> 400");
      for (const action of ["GET", "PUT", "HEAD", "DELETE"]) {
        const r = await s.expect(400, action, qpath(q), { project: "" }, `${action} with X-Project-ID "" -> 400`);
        s.t.equal((r.body as Doc).title, "Empty project header not allowed", "title");
      }
    },
  },
  {
    name: "4.1 queue lifecycle in projects 480924, foo and the global scope",
    global: true,
    async run(s) {
      const q = fresh("life");
      for (const project of ["480924", "foo", null]) {
        const o = { project };
        const p = `project ${project ?? "(global)"}`;
        await s.expect(404, "GET", `${qpath(q)}/stats`, o, `${p}: stats before create -> 404`);
        await s.expect(404, "GET", `${qpath(q)}/metadata`, o, `${p}: metadata before create -> 404`);
        const put = await s.expect(201, "PUT", qpath(q), o, `${p}: PUT -> 201`);
        s.t.equal(put.headers.Location, qpath(q), `${p}: Location = queue path`);
        await s.expect(204, "HEAD", qpath(q), o, `${p}: HEAD -> 204`);
        await s.expect(204, "GET", qpath(q), o, `${p}: GET -> 204`);
        const meta = { messages: { ttl: 600 }, padding: "x".repeat(100), project: project ?? "global" };
        const set = await s.expect(204, "PUT", `${qpath(q)}/metadata`, { ...o, body: meta }, `${p}: metadata PUT -> 204`);
        s.t.equal(set.headers.Location, `${qpath(q)}/metadata`, `${p}: metadata Location`);
        const got = await s.expect(200, "GET", `${qpath(q)}/metadata`, o, `${p}: metadata GET -> 200`);
        s.t.strictSame(got.body, meta, `${p}: metadata as set`);
        const st = await s.expect(200, "GET", `${qpath(q)}/stats`, o, `${p}: stats -> 200`);
        s.t.strictSame(st.body, { messages: { claimed: 0, free: 0, total: 0 } }, `${p}: stats of an empty queue`);
      }
      for (const project of ["480924", "foo", null]) {
        const o = { project };
        const p = `project ${project ?? "(global)"}`;
        // Each scope still sees its own metadata: the three are separate queues.
        const got = await s.expect(200, "GET", `${qpath(q)}/metadata`, o);
        s.t.equal((got.body as Doc).project, project ?? "global", `${p}: its own metadata`);
        const del = await s.expect(204, "DELETE", qpath(q), o, `${p}: DELETE -> 204`);
        s.t.equal(del.body, null, "204 has no body");
        await s.expect(404, "HEAD", qpath(q), o, `${p}: HEAD after delete -> 404`);
        await s.expect(404, "GET", qpath(q), o, `${p}: GET after delete -> 404`);
        await s.expect(404, "GET", `${qpath(q)}/stats`, o, `${p}: stats after delete -> 404`);
        await s.expect(404, "GET", `${qpath(q)}/metadata`, o, `${p}: metadata after delete -> 404`);
        await s.expect(204, "DELETE", qpath(q), o, `${p}: DELETE again -> 204`);
      }
    },
  },
  {
    name: "4.1/4.4 PUT with a body creates the queue with metadata {}; PUT on an existing queue keeps its metadata",
    async run(s) {
      const q = fresh("body");
      await s.expect(201, "PUT", qpath(q), { body: { messages: { ttl: 600 } } });
      const m = await s.expect(200, "GET", `${qpath(q)}/metadata`);
      s.t.strictSame(m.body, {}, "the PUT body is not metadata");
      await s.expect(204, "PUT", `${qpath(q)}/metadata`, { body: { kept: true } });
      await s.expect(204, "PUT", qpath(q), { body: { other: 1 } }, "PUT existing -> 204");
      const m2 = await s.expect(200, "GET", `${qpath(q)}/metadata`);
      s.t.strictSame(m2.body, { kept: true }, "metadata kept");
    },
  },
  {
    name: "4.1 Accept: text/plain, plain/text, application/xml -> 406 in msgpack on every route; */* -> msgpack",
    async run(s) {
      const q = await s.queue();
      const [id] = await s.postN(q, 1);
      const refusedQueue = fresh("acc");
      const routes: [string, string, unknown][] = [
        ["GET", "/v1/queues", undefined],
        ["PUT", qpath(refusedQueue), undefined],
        ["HEAD", qpath(q), undefined],
        ["GET", `${qpath(q)}/metadata`, undefined],
        ["GET", `${qpath(q)}/stats`, undefined],
        ["GET", `${qpath(q)}/messages`, undefined],
        ["POST", `${qpath(q)}/messages`, [{ ttl: 60, body: 1 }]],
        ["GET", `${qpath(q)}/messages/${id}`, undefined],
        ["POST", `${qpath(q)}/claims`, { ttl: 60, grace: 60 }],
        ["GET", "/v1/health", undefined],
      ];
      for (const accept of ["text/plain", "plain/text", "application/xml"]) {
        for (const [action, href, body] of routes) {
          const r = await s.expect(406, action, href, { headers: { Accept: accept }, replyFormat: "msgpack", ...(body === undefined ? {} : { body }) }, `Accept ${accept}: ${action} ${href} -> 406`);
          s.t.equal((r.body as Doc)?.title, "Media type not acceptable", "406 title");
        }
      }
      // Nothing was done by the refused requests.
      const st = await s.expect(200, "GET", `${qpath(q)}/stats`);
      s.t.equal((st.body as Doc).messages.total, 1, "the refused POST posted nothing");
      s.t.equal((st.body as Doc).messages.claimed, 0, "the refused claim claimed nothing");
      await s.expect(404, "HEAD", qpath(refusedQueue), {}, "the refused PUT created nothing");
      await s.expect(201, "PUT", qpath(fresh("star")), { headers: { Accept: "*/*" }, replyFormat: "msgpack" }, "Accept */* -> 201 in msgpack");
      await s.expect(200, "GET", `${qpath(q)}/stats`, { headers: { Accept: "application/json;q=0.5, application/x-msgpack;q=0.9" }, replyFormat: "msgpack" }, "q-values pick msgpack");
      await s.expect(200, "GET", `${qpath(q)}/stats`, { headers: { Accept: "application/x-msgpack;q=0.1, application/json" }, replyFormat: "json" }, "q-values pick JSON");
      await s.expect(200, "GET", `${qpath(q)}/stats`, { headers: { Accept: undefined }, replyFormat: "msgpack" }, "no Accept -> msgpack");
    },
  },
  {
    name: "4.1 metadata documents round-trip (_-prefixed keys accepted, unicode, punctuation, 65000-char value)",
    async run(s) {
      const q = await s.queue();
      const docs: Record<string, unknown>[] = [
        {},
        { _queue: "reserved in later versions; accepted here (2014.1)", _default_message_ttl: 3600 },
        { "ünïcödé ключ 鍵": "välue ✓ 値 🎉", nested: { "ø": ["ß", { "€": null }] } },
        { "!@#$%^&*()_+-=[]{};':\",./<>?\\|`~": "punct !@#$%^&*()", " ": "" },
        { big: "v".repeat(65_000) },
        { types: [1, -1, 1.5, true, false, null, "s", [], {}], deep: { a: { b: { c: { d: 1 } } } } },
      ];
      for (const doc of docs) {
        await s.expect(204, "PUT", `${qpath(q)}/metadata`, { body: doc }, `PUT metadata ${JSON.stringify(doc).slice(0, 40)} -> 204`);
        const r = await s.expect(200, "GET", `${qpath(q)}/metadata`);
        s.t.strictSame(r.body, doc, "GET returns it unchanged");
      }
    },
  },
  {
    name: "4.1 metadata: non-map and missing bodies -> 400; absent queue -> 404",
    async run(s) {
      const q = await s.queue();
      await s.expect(204, "PUT", `${qpath(q)}/metadata`, { body: { before: 1 } });
      for (const body of ["not_a_dict", "", "{", "[]", ".", "  ", [], [{ a: 1 }], 42, true]) {
        const r = await s.expect(400, "PUT", `${qpath(q)}/metadata`, { body }, `metadata ${JSON.stringify(body)} -> 400`);
        s.t.equal((r.body as Doc).title, "Invalid request body", "title");
      }
      await s.expect(400, "PUT", `${qpath(q)}/metadata`, {}, "metadata PUT with no body -> 400");
      await s.expect(400, "PUT", `${qpath(q)}/metadata`, { body: null }, "metadata PUT with body null -> 400");
      const r = await s.expect(200, "GET", `${qpath(q)}/metadata`);
      s.t.strictSame(r.body, { before: 1 }, "refused PUTs changed nothing");
      await s.expect(404, "PUT", `${qpath(fresh("absent"))}/metadata`, { body: { a: 1 } }, "metadata PUT on an absent queue -> 404");
    },
  },
  {
    name: "4.1 metadata size: exactly 65536 bytes -> 204 and round-trips; 65537 and 4x -> 400",
    async run(s) {
      const q = await s.queue();
      const build = (n: number) => ({ pad: "m".repeat(n) });
      const exact = sized(META_LIMIT, s.format, build, META_LIMIT - 20);
      s.t.equal(encodedSize(exact, s.format), META_LIMIT, "the document is exactly the limit");
      await s.expect(204, "PUT", `${qpath(q)}/metadata`, { body: exact }, "metadata of exactly 65536 bytes -> 204");
      const r = await s.expect(200, "GET", `${qpath(q)}/metadata`);
      s.t.ok(JSON.stringify(r.body) === JSON.stringify(exact), "round-trips");
      const over = sized(META_LIMIT + 1, s.format, build, META_LIMIT - 20);
      const e = await s.expect(400, "PUT", `${qpath(q)}/metadata`, { body: over }, "metadata of 65537 bytes -> 400");
      s.t.equal((e.body as Doc).title, "Invalid API call", "size error title");
      await s.expect(400, "PUT", `${qpath(q)}/metadata`, { body: sized(4 * META_LIMIT, s.format, build, 4 * META_LIMIT - 20) }, "metadata of 4x the limit -> 400");
      const still = await s.expect(200, "GET", `${qpath(q)}/metadata`);
      s.t.ok(JSON.stringify(still.body) === JSON.stringify(exact), "refused PUTs left the exact-size metadata");
    },
  },
  {
    name: "4.1 metadata PUT replaces the whole document; GET has Content-Location",
    async run(s) {
      const q = await s.queue();
      await s.expect(204, "PUT", `${qpath(q)}/metadata`, { body: { a: 1, b: 2 } });
      await s.expect(204, "PUT", `${qpath(q)}/metadata`, { body: { c: 3 } });
      const r = await s.expect(200, "GET", `${qpath(q)}/metadata`);
      s.t.strictSame(r.body, { c: 3 }, "second PUT replaced the first");
      s.t.equal(r.headers["Content-Location"], `${qpath(q)}/metadata`, "Content-Location = metadata path");
    },
  },
  {
    name: "4.1 queue listing: empty 204, bad limits 400, limit=2, detailed, hrefs resolve, tail and marker=zzz 204",
    async run(s) {
      const none = await s.expect(204, "GET", "/v1/queues", {}, "listing an empty project -> 204");
      s.t.equal(none.body, null, "204 has no body");
      for (const limit of ["21", "0", "-1", "1001", "abc", "1.5"]) await s.expect(400, "GET", `/v1/queues?limit=${limit}`, {}, `limit=${limit} -> 400`);
      await s.expect(400, "GET", "/v1/queues?detailed=maybe", {}, "detailed=maybe -> 400");
      const names = ["alpha", "bravo", "charlie"].map((n) => `${n}${fresh("").replace(/-/g, "")}`);
      for (const n of names) await s.expect(201, "PUT", qpath(n));
      await s.expect(204, "PUT", `${qpath(names[1]!)}/metadata`, { body: { color: "blue" } });
      const r = await s.expect(200, "GET", "/v1/queues?limit=2");
      const body = r.body as Doc;
      s.t.strictSame(Object.keys(body).sort(), ["links", "queues"], "body has queues and links");
      s.t.strictSame(body.queues, [{ name: names[0], href: qpath(names[0]!) }, { name: names[1], href: qpath(names[1]!) }], "limit=2 -> the first two by name, {name, href}");
      s.t.equal(body.links.length, 1, "one link");
      s.t.equal(body.links[0].rel, "next", "rel next");
      const next = new URLSearchParams(body.links[0].href.split("?")[1]);
      s.t.equal(body.links[0].href.split("?")[0], "/v1/queues", "next link path");
      s.t.equal(next.get("limit"), "2", "next keeps limit");
      s.t.equal(next.get("marker"), names[1], "next marker = last name");
      const d = await s.expect(200, "GET", "/v1/queues?detailed=true");
      s.t.strictSame(
        (d.body as Doc).queues,
        names.map((n, i) => ({ name: n, href: qpath(n), metadata: i === 1 ? { color: "blue" } : {} })),
        "detailed=true carries metadata",
      );
      for (const entry of (d.body as Doc).queues) {
        await s.expect(204, "HEAD", entry.href, {}, `listed href ${entry.name} resolves`);
        await s.expect(404, "GET", `${entry.href}/metadata`, { project: fresh("other") }, "the same href in another project -> 404");
      }
      const tail = await s.expect(200, "GET", body.links[0].href, {}, "second page");
      s.t.strictSame(((tail.body as Doc).queues as Doc[]).map((e) => e.name), [names[2]], "second page has the third queue");
      await s.expect(204, "GET", (tail.body as Doc).links[0].href, {}, "following next at the tail -> 204");
      await s.expect(204, "GET", "/v1/queues?marker=zzz", {}, "marker=zzz -> 204");
      const one = await s.expect(200, "GET", "/v1/queues?limit=1");
      s.t.equal((one.body as Doc).queues.length, 1, "limit=1 -> 1");
      const twenty = await s.expect(200, "GET", "/v1/queues?limit=20");
      s.t.equal((twenty.body as Doc).queues.length, 3, "limit=20 -> all 3");
    },
  },
  {
    name: "4.1/4.4 queue paging: 11 queues -> default page 10; 15 -> 10 detailed then 5 plain via the marker, then 204",
    async run(s) {
      const names = Array.from({ length: 15 }, (_, i) => `page${String(i).padStart(2, "0")}`);
      for (const n of names.slice(0, 11)) await s.expect(201, "PUT", qpath(n));
      const p11 = await s.expect(200, "GET", "/v1/queues");
      s.t.equal((p11.body as Doc).queues.length, 10, "11 queues, no limit -> exactly 10");
      for (const n of names.slice(11)) await s.expect(201, "PUT", qpath(n));
      for (const n of names) await s.expect(204, "PUT", `${qpath(n)}/metadata`, { body: { n } });
      const first = await s.expect(200, "GET", "/v1/queues?detailed=true");
      const fb = first.body as Doc;
      s.t.strictSame(fb.queues, names.slice(0, 10).map((n) => ({ name: n, href: qpath(n), metadata: { n } })), "page 1: 10 with metadata");
      const nextHref = new URLSearchParams(fb.links[0].href.split("?")[1]);
      nextHref.delete("detailed");
      const second = await s.expect(200, "GET", `/v1/queues?${nextHref}`);
      s.t.strictSame((second.body as Doc).queues, names.slice(10).map((n) => ({ name: n, href: qpath(n) })), "page 2: the other 5, no metadata");
      await s.expect(204, "GET", (second.body as Doc).links[0].href, {}, "page 3 -> 204");
      // Global and project scopes are separate: the global listing shows none of these.
      const global = new Set<string>();
      let href = "/v1/queues?limit=20";
      for (;;) {
        const r = await s.call("GET", href, { project: null });
        if (r.status !== 200) break;
        for (const e of (r.body as Doc).queues) global.add(e.name);
        href = (r.body as Doc).links[0].href;
      }
      s.t.notOk(names.some((n) => global.has(n)), "the global listing does not show project queues");
    },
  },
  {
    name: "4.1 queue existence: GET and HEAD -> 204 on an existing queue, 404 on an absent one",
    async run(s) {
      const q = await s.queue();
      const g = await s.expect(204, "GET", qpath(q));
      s.t.equal(g.body, null, "no body");
      const h = await s.expect(204, "HEAD", qpath(q));
      s.t.equal(h.body, null, "no body");
      const a = fresh("absent");
      await s.expect(404, "GET", qpath(a));
      await s.expect(404, "HEAD", qpath(a));
    },
  },
  {
    name: "4.1 stats: empty queue exact; post 20, claim 1 -> claimed/free/total; oldest/newest {href, age, created}",
    async run(s) {
      const q = await s.queue();
      const empty = await s.expect(200, "GET", `${qpath(q)}/stats`);
      s.t.strictSame(empty.body, { messages: { claimed: 0, free: 0, total: 0 } }, "empty queue stats, no oldest/newest");
      const postedAt = s.now;
      const ids = await s.postN(q, 20);
      const r20 = await s.expect(200, "GET", `${qpath(q)}/stats`);
      const m20 = (r20.body as Doc).messages;
      s.t.strictSame([m20.claimed, m20.free, m20.total], [0, 20, 20], "20 free");
      s.t.strictSame(Object.keys(m20.oldest).sort(), ["age", "created", "href"], "oldest has href, age, created");
      s.t.strictSame(m20.oldest, { href: `${qpath(q)}/messages/${ids[0]}`, age: 0, created: isoSeconds(postedAt) }, "oldest = the first posted");
      s.t.strictSame(m20.newest, { href: `${qpath(q)}/messages/${ids[19]}`, age: 0, created: isoSeconds(postedAt) }, "newest = the last posted");
      s.t.match(m20.oldest.href, new RegExp(`^/v1/queues/${q}/messages/[^/?]+$`), "oldest href is a message href");
      await s.claim(q, 60, 60, 1);
      const r1 = await s.expect(200, "GET", `${qpath(q)}/stats`);
      const m1 = (r1.body as Doc).messages;
      s.t.strictSame([m1.claimed, m1.free, m1.total], [1, 19, 20], "claim 1 -> claimed 1, free 19, total 20");
      s.t.equal(m1.oldest.href, `${qpath(q)}/messages/${ids[0]}`, "oldest counts claimed messages too");
    },
  },
  {
    name: "4.4 stats after two batches 1.2 s apart: free 12, oldest != newest, oldest.age > 0, created ordered",
    async run(s) {
      const q = await s.queue();
      const t0 = s.wholeSecond();
      const first = await s.postN(q, 6);
      s.at(t0 + 1200);
      const second = await s.postN(q, 6, 300, 6);
      const r = await s.expect(200, "GET", `${qpath(q)}/stats`);
      const m = (r.body as Doc).messages;
      s.t.strictSame([m.claimed, m.free, m.total], [0, 12, 12], "free 12, total 12");
      s.t.not(m.oldest.href, m.newest.href, "oldest != newest");
      s.t.equal(m.oldest.href, `${qpath(q)}/messages/${first[0]}`, "oldest is the first batch's first");
      s.t.equal(m.newest.href, `${qpath(q)}/messages/${second[5]}`, "newest is the second batch's last");
      s.t.equal(m.oldest.age, 1, "oldest.age = 1 (whole seconds)");
      s.t.equal(m.newest.age, 0, "newest.age = 0");
      s.t.ok(m.oldest.created < m.newest.created, `oldest.created ${m.oldest.created} < newest.created ${m.newest.created}`);
      s.t.equal(m.oldest.created, isoSeconds(t0), "created is ISO-8601 UTC");
    },
  },
  {
    name: "2.9/4.1 absent queue: what each operation answers",
    async run(s) {
      const q = fresh("nothere");
      const m = `${qpath(q)}/messages`;
      await s.expect(404, "GET", qpath(q), {}, "exists -> 404");
      await s.expect(404, "GET", `${qpath(q)}/metadata`, {}, "get metadata -> 404");
      await s.expect(404, "PUT", `${qpath(q)}/metadata`, { body: {} }, "set metadata -> 404");
      await s.expect(404, "GET", `${qpath(q)}/stats`, {}, "stats -> 404");
      await s.expect(404, "POST", m, { body: [{ ttl: 60, body: 1 }] }, "post -> 404");
      await s.expect(204, "GET", m, {}, "list -> 204");
      await s.expect(204, "GET", `${m}?ids=a,b,c`, {}, "get many -> 204");
      await s.expect(404, "GET", `${m}/a`, {}, "get message a -> 404");
      await s.expect(204, "DELETE", `${m}/a`, {}, "delete message -> 204");
      await s.expect(204, "DELETE", `${m}?ids=a,b,c`, {}, "bulk delete -> 204");
      await s.expect(204, "POST", `${qpath(q)}/claims`, { body: { ttl: 60, grace: 60 } }, "claim -> 204");
      await s.expect(404, "GET", `${qpath(q)}/claims/a`, {}, "get claim -> 404");
      await s.expect(404, "PATCH", `${qpath(q)}/claims/a`, { body: { ttl: 60 } }, "renew claim -> 404");
      await s.expect(204, "DELETE", `${qpath(q)}/claims/a`, {}, "release claim -> 204");
      await s.expect(204, "DELETE", qpath(q), {}, "delete queue -> 204");
      await s.expect(404, "HEAD", qpath(q), {}, "still absent: nothing above created it");
    },
  },
  {
    name: "health: GET and HEAD /v1/health -> 204 with no body; GET /v1/ -> 200 home document",
    async run(s) {
      for (const action of ["GET", "HEAD"]) {
        const r = await s.expect(204, action, "/v1/health", { project: null, clientId: null });
        s.t.equal(r.body, null, `${action} health: no body`);
      }
      const home = await s.expect(200, "GET", "/v1/");
      s.t.type((home.body as Doc).resources?.["rel/queues"], "object", "home document lists rel/queues");
    },
  },

  // ======== §4.2 messages ========
  {
    name: "4.2 post one: 201 with Location and Content-Type, {partial:false, resources}; GET resources[0] -> 200 same body",
    async run(s) {
      const q = await s.queue();
      const body = { event: "BackupStarted", backup_id: "c378813c-3f0b-11e2-ad92-7823d2b0f3ce" };
      const r = await s.expect(201, "POST", `${qpath(q)}/messages`, { body: [{ ttl: 300, body }] });
      const b = r.body as Doc;
      s.t.strictSame(Object.keys(b).sort(), ["partial", "resources"], "body is {partial, resources}");
      s.t.equal(b.partial, false, "partial is false");
      s.t.equal(b.resources.length, 1, "one resource");
      s.t.match(b.resources[0], new RegExp(`^/v1/queues/${q}/messages/[^/?]+$`), "resource is a message href");
      s.t.equal(r.headers.Location, `${qpath(q)}/messages?ids=${idOf(b.resources[0])}`, "Location = messages?ids=");
      s.t.ok(r.headers["Content-Type"], "Content-Type set");
      const g = await s.expect(200, "GET", b.resources[0]);
      s.t.strictSame(g.body, { href: b.resources[0], ttl: 300, age: 0, body }, "GET -> {href, ttl, age, body}");
    },
  },
  {
    name: "4.2 post bodies 239, map, array: resources in order; GET each (other project 404); ?ids= returns all",
    async run(s) {
      const q = await s.queue();
      const docs = [
        { ttl: 60, body: 239 },
        { ttl: 3600, body: { key: "value" } },
        { ttl: 1200, body: [1, 3] },
        { ttl: 61, body: null },
      ];
      const r = await s.expect(201, "POST", `${qpath(q)}/messages`, { body: docs });
      const resources = (r.body as Doc).resources as string[];
      s.t.equal(resources.length, 4, "4 resources");
      s.t.equal((r.body as Doc).partial, false, "partial false");
      s.t.equal(r.headers.Location, `${qpath(q)}/messages?ids=${resources.map(idOf).join(",")}`, "Location lists the ids in submission order");
      for (const [i, href] of resources.entries()) {
        await s.expect(404, "GET", href, { project: fresh("other") }, `message ${i} from another project -> 404`);
        await s.expect(404, "GET", href, { project: null }, `message ${i} from the global scope -> 404`);
        const g = await s.expect(200, "GET", href, {}, `message ${i} -> 200`);
        const m = g.body as Doc;
        s.t.equal(m.href, href, "href equal");
        s.t.strictSame(m.body, docs[i]!.body, "body");
        s.t.equal(m.ttl, docs[i]!.ttl, "ttl");
        s.t.ok(m.age >= 0, "age >= 0");
      }
      const many = await s.expect(200, "GET", r.headers.Location!, {}, "GET the Location -> 200");
      s.t.ok(Array.isArray(many.body), "get-many is a bare array");
      s.t.strictSame((many.body as Doc[]).map((m) => [m.href, m.ttl, m.body]), docs.map((d, i) => [resources[i], d.ttl, d.body]), "all four, in order, with their ttls");
    },
  },
  {
    name: "4.2 post 20 -> 201; GET the Location -> all 20 in order",
    async run(s) {
      const q = await s.queue();
      const r = await s.expect(201, "POST", `${qpath(q)}/messages`, { body: range(0, 20).map((b) => ({ ttl: 300, body: b })) });
      const g = await s.expect(200, "GET", r.headers.Location!);
      s.t.strictSame(bodies(g.body as Doc[]), range(0, 20), "20 in order");
      const more = await s.expect(201, "POST", `${qpath(q)}/messages`, { body: range(0, 50).map((b) => ({ ttl: 300, body: b })) }, "50 in one post -> 201 (no count limit)");
      s.t.equal((more.body as Doc).resources.length, 50, "50 resources");
    },
  },
  {
    name: "4.2 listing hides claimed messages by default; include_claimed=true&echo=true lists them",
    async run(s) {
      const q = await s.queue();
      const [id] = await s.postN(q, 1);
      const c = await s.claim(q, 60, 60);
      s.t.equal(c.messages.length, 1, "claimed it");
      await s.expect(204, "GET", `${qpath(q)}/messages`, {}, "default list -> 204");
      await s.expect(204, "GET", `${qpath(q)}/messages?echo=true`, {}, "echo=true alone -> 204 (claimed)");
      await s.expect(204, "GET", `${qpath(q)}/messages?include_claimed=true`, {}, "include_claimed alone -> 204 (own message)");
      const r = await s.expect(200, "GET", `${qpath(q)}/messages?include_claimed=true&echo=true`);
      s.t.strictSame(((r.body as Doc).messages as Doc[]).map((m) => m.href), [`${qpath(q)}/messages/${id}`], "lists it");
      const other = await s.expect(200, "GET", `${qpath(q)}/messages?include_claimed=true`, { clientId: randomUUID() });
      s.t.equal((other.body as Doc).messages.length, 1, "another client sees it with include_claimed");
      await s.expect(204, "GET", `${qpath(q)}/messages`, { clientId: randomUUID() }, "another client: default list -> 204");
    },
  },
  {
    name: "4.2 paging: 10 messages, limit=3&echo=true -> 3,3,3,1 then 204; Content-Location; next link; the feed continues",
    async run(s) {
      const q = await s.queue();
      const ids = await s.postN(q, 10);
      let href = `${qpath(q)}/messages?limit=3&echo=true`;
      const pages: unknown[][] = [];
      const links: string[] = [];
      for (let i = 0; i < 10; i++) {
        const r = await s.call("GET", href);
        if (r.status === 204) break;
        s.t.equal(r.status, 200, `page ${i + 1} -> 200`);
        s.t.equal(r.headers["Content-Location"], href, `page ${i + 1}: Content-Location = request href`);
        const b = r.body as Doc;
        s.t.strictSame(Object.keys(b).sort(), ["links", "messages"], "body has messages and links");
        for (const m of b.messages) s.t.strictSame(Object.keys(m).sort(), ["age", "body", "href", "ttl"], "message is {href, ttl, age, body}");
        pages.push(bodies(b.messages));
        const next = b.links[0];
        s.t.equal(next.rel, "next", "rel next");
        const qs = new URLSearchParams(next.href.split("?")[1]);
        s.t.equal(next.href.split("?")[0], `${qpath(q)}/messages`, "next path");
        s.t.strictSame([qs.get("limit"), qs.get("echo")], ["3", "true"], "next keeps limit and echo");
        s.t.type(qs.get("marker"), "string", "next has a marker");
        links.push(next.href);
        href = next.href;
      }
      s.t.strictSame(pages, [range(0, 3), range(3, 3), range(6, 3), range(9, 1)], "pages 3,3,3,1 in order");
      // Markers are positions: a next link followed again gives the same page.
      const again = await s.expect(200, "GET", links[1]!);
      s.t.strictSame(bodies((again.body as Doc).messages), range(6, 3), "following a next link twice gives the same page");
      for (const id of ids) await s.expect(200, "GET", `${qpath(q)}/messages/${id}`, {}, "listed message GETs 200");
      // The tail link is where new messages show up (Marconi's feed model).
      await s.postN(q, 2, 300, 10);
      const tail = await s.expect(200, "GET", links[3]!, {}, "the tail link after 2 more posts -> 200");
      s.t.strictSame(bodies((tail.body as Doc).messages), range(10, 2), "exactly the 2 new ones");
      await s.expect(204, "GET", (tail.body as Doc).links[0].href, {}, "and then 204 again");
      // Default page size, limit=1 and limit=20.
      const def = await s.expect(200, "GET", `${qpath(q)}/messages?echo=true`);
      s.t.strictSame(bodies((def.body as Doc).messages), range(0, 10), "no limit -> 10 of 12");
      const one = await s.expect(200, "GET", `${qpath(q)}/messages?echo=true&limit=1`);
      s.t.strictSame(bodies((one.body as Doc).messages), range(0, 1), "limit=1 -> 1");
      const all = await s.expect(200, "GET", `${qpath(q)}/messages?echo=true&limit=20`);
      s.t.strictSame(bodies((all.body as Doc).messages), range(0, 12), "limit=20 -> all 12");
      const big = await s.queue();
      await s.postN(big, 25);
      const twenty = await s.expect(200, "GET", `${qpath(big)}/messages?echo=true&limit=20`);
      s.t.equal((twenty.body as Doc).messages.length, 20, "limit=20 of 25 -> 20");
      s.t.strictSame(bodies(await s.listAll(big, "echo=true&limit=7")), range(0, 25), "following next with limit=7 reads all 25 once, in order");
    },
  },
  {
    name: "4.2 bad list limits (10^19, -100, 0, 30, -10^19, 21, x) and bad booleans -> 400",
    async run(s) {
      const q = await s.queue();
      await s.postN(q, 1);
      for (const limit of ["10000000000000000000", "-100", "0", "30", "-10000000000000000000", "21", "x"]) {
        await s.expect(400, "GET", `${qpath(q)}/messages?limit=${limit}`, {}, `limit=${limit} -> 400`);
      }
      await s.expect(400, "GET", `${qpath(q)}/messages?echo=perhaps`, {}, "echo=perhaps -> 400");
      await s.expect(400, "GET", `${qpath(q)}/messages?include_claimed=2`, {}, "include_claimed=2 -> 400");
      await s.expect(200, "GET", `${qpath(q)}/messages?echo=True`, {}, "echo=True -> 200");
    },
  },
  {
    name: "4.2 ids: 20 -> 200 on GET and 204 on DELETE; 21 -> 400 on GET; 21 and 22 -> 400 on DELETE",
    async run(s) {
      const q = await s.queue();
      const ids = await s.postN(q, 22);
      const g20 = await s.expect(200, "GET", `${qpath(q)}/messages?ids=${ids.slice(0, 20).join(",")}`, {}, "GET 20 ids -> 200");
      s.t.equal((g20.body as Doc[]).length, 20, "20 returned");
      await s.expect(400, "GET", `${qpath(q)}/messages?ids=${ids.slice(0, 21).join(",")}`, {}, "GET 21 ids -> 400");
      await s.expect(400, "DELETE", `${qpath(q)}/messages?ids=${ids.slice(0, 21).join(",")}`, {}, "DELETE 21 ids -> 400");
      await s.expect(400, "DELETE", `${qpath(q)}/messages?ids=${ids.join(",")}`, {}, "DELETE 22 ids -> 400");
      const st = await s.expect(200, "GET", `${qpath(q)}/stats`);
      s.t.equal((st.body as Doc).messages.total, 22, "refused deletes deleted nothing");
      await s.expect(204, "DELETE", `${qpath(q)}/messages?ids=${ids.slice(0, 20).join(",")}`, {}, "DELETE 20 ids -> 204");
      const after = await s.expect(200, "GET", `${qpath(q)}/stats`);
      s.t.equal((after.body as Doc).messages.total, 2, "20 deleted");
    },
  },
  {
    name: "4.2 delete one -> 204, GET 404, again 204; non-existing ids: GET 404, ?ids= 204, DELETE 204",
    async run(s) {
      const q = await s.queue();
      const [id, keep] = await s.postN(q, 2);
      const d = await s.expect(204, "DELETE", `${qpath(q)}/messages/${id}`);
      s.t.equal(d.body, null, "no body");
      await s.expect(404, "GET", `${qpath(q)}/messages/${id}`, {}, "deleted -> 404");
      await s.expect(204, "DELETE", `${qpath(q)}/messages/${id}`, {}, "delete again -> 204");
      await s.expect(404, "GET", `${qpath(q)}/messages/non-existing`, {}, "GET non-existing -> 404");
      await s.expect(404, "GET", `${qpath(q)}/messages/${"f".repeat(24)}`, {}, "GET a 24-hex id we never gave -> 404");
      await s.expect(204, "GET", `${qpath(q)}/messages?ids=not_there1,not_there2`, {}, "?ids= of absent -> 204");
      await s.expect(204, "DELETE", `${qpath(q)}/messages/not_there`, {}, "DELETE absent -> 204");
      await s.expect(200, "GET", `${qpath(q)}/messages/${keep}`, {}, "the other message is untouched");
    },
  },
  {
    name: "4.2 bulk delete: no ids -> 400; Location ids -> 204, then GET 204; bogus ids ignored; after queue delete 204",
    async run(s) {
      const q = await s.queue();
      const r = await s.expect(201, "POST", `${qpath(q)}/messages`, { body: range(0, 5).map((b) => ({ ttl: 300, body: b })) });
      const location = r.headers.Location!;
      await s.expect(400, "DELETE", `${qpath(q)}/messages`, {}, "DELETE the collection without ids -> 400");
      await s.expect(400, "DELETE", `${qpath(q)}/messages?ids=`, {}, "DELETE with empty ids -> 400");
      const st = await s.expect(200, "GET", `${qpath(q)}/stats`);
      s.t.equal((st.body as Doc).messages.total, 5, "nothing deleted");
      const withBogus = `${location},bogus`;
      const g = await s.expect(200, "GET", withBogus, {}, "GET with an extra bogus id -> 200");
      s.t.equal((g.body as Doc[]).length, 5, "the 5 real ones");
      await s.expect(204, "DELETE", withBogus, {}, "DELETE with an extra bogus id -> 204");
      await s.expect(204, "GET", location, {}, "GET them -> 204");
      await s.expect(204, "DELETE", location, {}, "DELETE again -> 204");
      const ids2 = await s.postN(q, 2);
      await s.claim(q, 60, 60);
      await s.expect(204, "DELETE", `${qpath(q)}/messages?ids=${ids2.join(",")}`, {}, "bulk delete ignores claims -> 204");
      await s.expect(204, "GET", `${qpath(q)}/messages?ids=${ids2.join(",")}`, {}, "claimed messages deleted in bulk");
      await s.expect(204, "DELETE", qpath(q));
      await s.expect(204, "DELETE", location, {}, "DELETE after the queue is gone -> 204");
    },
  },
  {
    name: "4.2 post size: two messages totalling the limit -10, -1, 0 -> 201; +1, +10 -> 400 (encodedSize in the request codec)",
    async run(s) {
      const q = await s.queue();
      const build = (n: number) => [
        { ttl: 60, body: { pad: "a".repeat(100_000) } },
        { ttl: 60, body: { pad: "b".repeat(n) } },
      ];
      for (const delta of [-10, -1, 0, 1, 10]) {
        const body = sized(MSG_LIMIT + delta, s.format, build, MSG_LIMIT - 100_100);
        s.t.equal(encodedSize(body, s.format), MSG_LIMIT + delta, `body array is ${MSG_LIMIT + delta} bytes`);
        const want = delta <= 0 ? 201 : 400;
        const r = await s.expect(want, "POST", `${qpath(q)}/messages`, { body }, `post of limit${delta >= 0 ? "+" : ""}${delta} bytes -> ${want}`);
        if (want === 400) s.t.equal((r.body as Doc).title, "Invalid API call", "size error title");
      }
      const st = await s.expect(200, "GET", `${qpath(q)}/stats`);
      s.t.equal((st.body as Doc).messages.total, 6, "only the three accepted posts are there");
      // One message alone, and 20 small ones padded just over the limit.
      const single = sized(MSG_LIMIT, s.format, (n) => [{ ttl: 60, body: "s".repeat(n) }], MSG_LIMIT - 20);
      await s.expect(201, "POST", `${qpath(q)}/messages`, { body: single }, "a single message of exactly the limit -> 201");
      const twenty = sized(MSG_LIMIT + 1, s.format, (n) => Array.from({ length: 20 }, (_, i) => ({ ttl: 60, body: i === 19 ? " ".repeat(n) : " ".repeat(13_000) })), 10_000);
      await s.expect(400, "POST", `${qpath(q)}/messages`, { body: twenty }, "20 messages padded to limit+1 -> 400");
    },
  },
  {
    name: "4.2 message ttl bounds: -1, 59, 1209601 -> 400; 60, 1209600 -> 201; not an int -> 400",
    async run(s) {
      const q = await s.queue();
      for (const ttl of [-1, 59, 1_209_601, 0]) {
        const r = await s.expect(400, "POST", `${qpath(q)}/messages`, { body: [{ ttl, body: 1 }] }, `ttl ${ttl} -> 400`);
        s.t.equal((r.body as Doc).title, "Invalid API call", "title");
      }
      for (const ttl of [60, 1_209_600]) {
        const r = await s.expect(201, "POST", `${qpath(q)}/messages`, { body: [{ ttl, body: 1 }] }, `ttl ${ttl} -> 201`);
        const g = await s.expect(200, "GET", (r.body as Doc).resources[0]);
        s.t.equal((g.body as Doc).ttl, ttl, "ttl as posted");
      }
      for (const ttl of ["200", 60.5, null, true]) {
        await s.expect(400, "POST", `${qpath(q)}/messages`, { body: [{ ttl, body: 1 }] }, `ttl ${JSON.stringify(ttl)} -> 400`);
      }
      await s.expect(400, "POST", `${qpath(q)}/messages`, { body: [{ ttl: 60, body: 1 }, { ttl: 59, body: 2 }] }, "one bad ttl in a batch -> 400");
      const st = await s.expect(200, "GET", `${qpath(q)}/stats`);
      s.t.equal((st.body as Doc).messages.total, 2, "a refused batch posts nothing (all or nothing)");
    },
  },
  {
    name: "4.2 bad post documents (null, '[', [], {}, '.', missing ttl/body, non-map items) -> 400",
    async run(s) {
      const q = await s.queue();
      const href = `${qpath(q)}/messages`;
      await s.expect(400, "POST", href, {}, "no body -> 400");
      await s.expect(400, "POST", href, { body: null }, "body null -> 400");
      for (const body of ["[", [], {}, ".", { ttl: 60, body: 1 }, [1], [[{ ttl: 60, body: 1 }]], [{ body: 1 }], [{ ttl: 60 }], ["x"]]) {
        const r = await s.expect(400, "POST", href, { body }, `post ${JSON.stringify(body)} -> 400`);
        s.t.equal((r.body as Doc).title, "Invalid request body", "title");
      }
      const st = await s.expect(200, "GET", `${qpath(q)}/stats`);
      s.t.equal((st.body as Doc).messages.total, 0, "nothing posted");
      const extra = await s.expect(201, "POST", href, { body: [{ ttl: 60, body: "x", extra: "dropped" }] }, "other keys in an item are dropped -> 201");
      const g = await s.expect(200, "GET", (extra.body as Doc).resources[0]);
      s.t.strictSame(Object.keys(g.body as Doc).sort(), ["age", "body", "href", "ttl"], "the message has only href, ttl, age, body");
    },
  },
  {
    name: "4.2 integers: 2^63 (and 2^64-1 / -2^63-1) in a document -> 400; ±(2^63-1) round-trip exactly",
    async run(s) {
      const q = await s.queue();
      const req = { href: `${qpath(q)}/messages`, action: "POST", headers: s.headers(), body: [{ ttl: 60, body: { n: PLACEHOLDER } }] };
      const overs: [string, number[]][] = [
        ["9223372036854775808", uint64(1n << 63n)],
        [s.format === "json" ? "-9223372036854775809" : "18446744073709551615", uint64((1n << 64n) - 1n)],
      ];
      for (const [json, mp] of overs) {
        const r = await s.raw([withRawNumber(req, s.format, json, mp)], s.format, "post with an integer beyond int64");
        s.t.equal(r.status, 400, `integer ${s.format === "json" ? json : Buffer.from(mp).toString("hex")} -> 400`);
        s.t.equal((r.body as Doc).title, "Invalid request body", "title");
      }
      const claimReq = { href: `${qpath(q)}/claims`, action: "POST", headers: s.headers(), body: { ttl: PLACEHOLDER, grace: 60 } };
      const c = await s.raw([withRawNumber(claimReq, s.format, "10000000000000000000", uint64(10n ** 19n))], s.format, "claim ttl 10^19");
      s.t.equal(c.status, 400, "claim ttl 10^19 as an integer -> 400");
      const max = (1n << 63n) - 1n;
      const r = await s.expect(201, "POST", `${qpath(q)}/messages`, { body: [{ ttl: 60, body: { max, min: -max - 1n, safe: 9007199254740993n } }] }, "int64 bounds -> 201");
      const g = await s.expect(200, "GET", (r.body as Doc).resources[0]);
      s.t.equal((g.body as Doc).body.max, max, "2^63-1 exact");
      s.t.equal((g.body as Doc).body.min, -max - 1n, "-2^63 exact");
      s.t.equal((g.body as Doc).body.safe, 9007199254740993n, "2^53+1 exact");
    },
  },
  {
    name: "4.2 Client-ID: '', 0xdeadbeef, 35/37 chars, 1234, aa2-bb3, missing -> 400 on POST and list; braces, urn:uuid:, bare hex, upper case accepted",
    async run(s) {
      const q = await s.queue();
      const u = randomUUID();
      const refused = ["", "0xdeadbeef", u.slice(0, 35), "1234", "aa2-bb3", `${u}a`, "not-a-uuid-at-all-but-long-enough-xx", `${u.slice(0, 35)}g`];
      for (const id of refused) {
        await s.expect(400, "POST", `${qpath(q)}/messages`, { clientId: id, body: [{ ttl: 60, body: 1 }] }, `POST with Client-ID ${JSON.stringify(id)} -> 400`);
        await s.expect(400, "GET", `${qpath(q)}/messages`, { clientId: id }, `list with Client-ID ${JSON.stringify(id)} -> 400`);
      }
      await s.expect(400, "POST", `${qpath(q)}/messages`, { clientId: null, body: [{ ttl: 60, body: 1 }] }, "POST without Client-ID -> 400");
      await s.expect(400, "GET", `${qpath(q)}/messages`, { clientId: null }, "list without Client-ID -> 400");
      const st = await s.expect(200, "GET", `${qpath(q)}/stats`);
      s.t.equal((st.body as Doc).messages.total, 0, "nothing posted");
      for (const id of [`{${u}}`, `urn:uuid:${u}`, u.replace(/-/g, ""), u.toUpperCase(), `{urn:uuid:${u.toUpperCase()}}`]) {
        await s.expect(201, "POST", `${qpath(q)}/messages`, { clientId: id, body: [{ ttl: 60, body: id }] }, `POST with Client-ID ${id} -> 201`);
        await s.expect(204, "GET", `${qpath(q)}/messages`, { clientId: id }, `list with Client-ID ${id}: all posted by the same client -> 204`);
      }
    },
  },
  {
    name: "4.2 queue names on message routes: 64-char absent -> 404, 65 chars and non-ASCII -> 400",
    async run(s) {
      const tag = fresh("").replace(/-/g, "");
      await s.expect(404, "POST", `${qpath("a".repeat(64 - tag.length) + tag)}/messages`, { body: [{ ttl: 60, body: 1 }] }, "64-char absent queue -> 404");
      await s.expect(400, "POST", `${qpath("a".repeat(65))}/messages`, { body: [{ ttl: 60, body: 1 }] }, "65-char queue -> 400");
      await s.expect(400, "POST", `${qpath("%E2%9C%93")}/messages`, { body: [{ ttl: 60, body: 1 }] }, "non-ASCII queue -> 400");
      await s.expect(404, "POST", `${qpath(fresh("absent"))}/messages`, { body: [{ ttl: 60, body: 1 }] }, "absent queue -> 404 (v1 is not lazy)");
      await s.expect(204, "GET", `${qpath(fresh("absent"))}/messages`, {}, "list an absent queue -> 204");
    },
  },
  {
    name: "4.2 malformed or too-large markers -> 204",
    async run(s) {
      const q = await s.queue();
      await s.postN(q, 3);
      for (const marker of ["abc", "-1", "99999999999999999999", "1.5", "%00"]) {
        await s.expect(204, "GET", `${qpath(q)}/messages?echo=true&marker=${marker}`, {}, `marker=${marker} -> 204`);
      }
      await s.expect(200, "GET", `${qpath(q)}/messages?echo=true`, {}, "no marker -> 200");
    },
  },
  {
    name: "2.3/4.2/4.4 delete with claim_id: the recommended column",
    async run(s) {
      const q = await s.queue();
      const ids = await s.postN(q, 6);
      const a = await s.claim(q, 120, 60, 2); // ids 0, 1
      const b = await s.claim(q, 120, 60, 2); // ids 2, 3
      const m = (id: string) => `${qpath(q)}/messages/${id}`;
      // no claim_id, message under a live claim -> 403
      const r403 = await s.expect(403, "DELETE", m(ids[0]!), {}, "claimed, no claim_id -> 403");
      s.t.equal((r403.body as Doc).title, "Unable to delete", "403 title");
      // malformed claim_id -> 400, message survives (2014.1 answered 204 without deleting)
      await s.expect(400, "DELETE", `${m(ids[0]!)}?claim_id=invalid`, {}, "claimed, claim_id=invalid -> 400");
      await s.expect(400, "DELETE", `${m(ids[4]!)}?claim_id=invalid`, {}, "free, claim_id=invalid -> 400");
      await s.expect(200, "GET", m(ids[4]!), {}, "the free message survives");
      // another live claim's id -> 403
      await s.expect(403, "DELETE", `${m(ids[0]!)}?claim_id=${b.id}`, {}, "the other live claim's id -> 403");
      await s.expect(200, "GET", m(ids[0]!), {}, "message survives");
      // its own claim -> 204 (the claim's href as given), repeat -> 204
      s.t.equal(a.messages[0].href, `${m(ids[0]!)}?claim_id=${a.id}`, "claimed href carries ?claim_id=");
      await s.expect(204, "DELETE", a.messages[0].href, {}, "its own claim's href -> 204");
      await s.expect(404, "GET", m(ids[0]!), {}, "deleted");
      await s.expect(204, "DELETE", a.messages[0].href, {}, "repeat -> 204");
      // a live claim's id on a message that is not claimed -> 400
      await s.expect(400, "DELETE", `${m(ids[4]!)}?claim_id=${a.id}`, {}, "live claim id, unclaimed message -> 400");
      await s.expect(200, "GET", m(ids[4]!), {}, "message survives");
      // released claim -> 400 (2014.1: 403), message survives
      await s.expect(204, "DELETE", `${qpath(q)}/claims/${a.id}`);
      await s.expect(400, "DELETE", `${m(ids[1]!)}?claim_id=${a.id}`, {}, "released claim's id -> 400");
      await s.expect(200, "GET", m(ids[1]!), {}, "message survives");
      await s.expect(204, "DELETE", m(ids[1]!), {}, "released, no claim_id -> 204");
      await s.expect(404, "GET", m(ids[1]!), {}, "deleted");
      // claim_id on an absent message -> 204
      await s.expect(204, "DELETE", `${m("nope")}?claim_id=${b.id}`, {}, "absent message with a claim_id -> 204");
      await s.expect(204, "DELETE", `${m(ids[0]!)}?claim_id=${b.id}`, {}, "already deleted message with a claim_id -> 204");
      // b's messages are still claimed by b
      await s.expect(204, "DELETE", b.messages[1].href, {}, "b's own message with b -> 204");
      const cl = await s.expect(200, "GET", `${qpath(q)}/claims/${b.id}`);
      s.t.strictSame(((cl.body as Doc).messages as Doc[]).map((x) => idOf(x.href)), [ids[2]], "claim b holds the one left");
    },
  },
  {
    name: "4.2 the Location ?ids= href has one /messages (bug 1240897); requests without Client-ID where v1 needs none",
    async run(s) {
      const q = await s.queue("loc", { clientId: null });
      const r = await s.expect(201, "POST", `${qpath(q)}/messages`, { body: [{ ttl: 60, body: 1 }, { ttl: 60, body: 2 }] });
      const loc = r.headers.Location!;
      s.t.equal(loc.split("/messages").length, 2, "one /messages in Location");
      s.t.notMatch(loc, /\/messages\/messages/, "no /messages/messages");
      const ids = ((r.body as Doc).resources as string[]).map(idOf);
      const o = { clientId: null };
      await s.expect(200, "GET", `${qpath(q)}/messages/${ids[0]}`, o, "get by id without Client-ID -> 200");
      await s.expect(200, "GET", loc, o, "get many without Client-ID -> 200");
      await s.expect(200, "GET", `${qpath(q)}/stats`, o, "stats without Client-ID -> 200");
      const c = await s.claim(q, 60, 60, 1, o);
      s.t.equal(c.messages.length, 1, "claim without Client-ID -> 201");
      await s.expect(200, "GET", `${qpath(q)}/claims/${c.id}`, o, "claim GET without Client-ID -> 200");
      await s.expect(204, "PATCH", `${qpath(q)}/claims/${c.id}`, { ...o, body: { ttl: 90 } }, "renew without Client-ID -> 204");
      await s.expect(204, "DELETE", c.messages[0].href, o, "delete without Client-ID -> 204");
      await s.expect(204, "DELETE", `${qpath(q)}/claims/${c.id}`, o, "release without Client-ID -> 204");
      await s.expect(204, "DELETE", `${qpath(q)}/messages?ids=${ids[1]}`, o, "bulk delete without Client-ID -> 204");
      await s.expect(204, "DELETE", qpath(q), o, "delete queue without Client-ID -> 204");
    },
  },

  // ======== §4.3 claims ========
  {
    name: "4.3 claim: 11 messages, no limit -> exactly 10, then limit=2 -> 1 left; 201 with Location, hrefs with ?claim_id=",
    async run(s) {
      const q = await s.queue();
      const ids = await s.postN(q, 11);
      const r = await s.expect(201, "POST", `${qpath(q)}/claims`, { body: { ttl: 60, grace: 60 } });
      const cid = idOf(r.headers.Location!);
      s.t.match(r.headers.Location, new RegExp(`^/v1/queues/${q}/claims/[^/?]+$`), "Location is the claim href");
      s.t.ok(r.headers["Content-Type"], "Content-Type");
      s.t.ok(Array.isArray(r.body), "the body is a bare array");
      const msgs = r.body as Doc[];
      s.t.equal(msgs.length, 10, "exactly 10 (the default)");
      s.t.strictSame(msgs.map((m) => m.href), ids.slice(0, 10).map((id) => `${qpath(q)}/messages/${id}?claim_id=${cid}`), "oldest first, hrefs with ?claim_id=");
      for (const m of msgs) s.t.strictSame(Object.keys(m).sort(), ["age", "body", "href", "ttl"], "claimed message is {href, ttl, age, body}");
      s.t.strictSame(bodies(msgs), range(0, 10), "bodies");
      const two = await s.expect(201, "POST", `${qpath(q)}/claims?limit=2`, { body: { ttl: 60, grace: 60 } }, "limit=2 -> 201");
      s.t.strictSame(bodies(two.body as Doc[]), range(10, 1), "only 1 left to claim");
      const none = await s.expect(204, "POST", `${qpath(q)}/claims?limit=2`, { body: { ttl: 60, grace: 60 } }, "nothing left -> 204");
      s.t.equal(none.body, null, "no body");
      s.t.equal(none.headers.Location, undefined, "no Location");
    },
  },
  {
    name: "4.3 claim GET: {age, ttl, href, messages}, Content-Location",
    async run(s) {
      const q = await s.queue();
      await s.postN(q, 3);
      const r = await s.expect(201, "POST", `${qpath(q)}/claims?limit=2`, { body: { ttl: 100, grace: 60 } });
      const loc = r.headers.Location!;
      const g = await s.expect(200, "GET", loc, {}, "GET the Location -> 200");
      const b = g.body as Doc;
      s.t.strictSame(Object.keys(b).sort(), ["age", "href", "messages", "ttl"], "{age, ttl, href, messages}");
      s.t.equal(b.href, loc, "href = Location");
      s.t.equal(b.ttl, 100, "ttl");
      s.t.equal(b.age, 0, "age 0");
      s.t.strictSame(b.messages, r.body, "the same messages the claim returned");
      s.t.equal(g.headers["Content-Location"], loc, "Content-Location");
    },
  },
  {
    name: "4.3 claim limit: 0, 21, -1, x -> 400; 1 and 20 -> 201",
    async run(s) {
      const q = await s.queue();
      await s.postN(q, 25);
      for (const limit of ["0", "21", "-1", "x"]) await s.expect(400, "POST", `${qpath(q)}/claims?limit=${limit}`, { body: { ttl: 60, grace: 60 } }, `limit=${limit} -> 400`);
      const one = await s.expect(201, "POST", `${qpath(q)}/claims?limit=1`, { body: { ttl: 60, grace: 60 } });
      s.t.equal((one.body as Doc[]).length, 1, "limit=1 -> 1");
      const twenty = await s.expect(201, "POST", `${qpath(q)}/claims?limit=20`, { body: { ttl: 60, grace: 60 } });
      s.t.equal((twenty.body as Doc[]).length, 20, "limit=20 -> 20");
    },
  },
  {
    name: "4.3 claim ttl and grace bounds",
    async run(s) {
      const q = await s.queue();
      await s.postN(q, 5);
      const href = `${qpath(q)}/claims?limit=1`;
      for (const v of [1e19, -100, 1, 59, 43_201, -1e19, 0]) {
        await s.expect(400, "POST", href, { body: { ttl: v, grace: 60 } }, `ttl ${v} -> 400`);
        await s.expect(400, "POST", href, { body: { ttl: 60, grace: v } }, `grace ${v} -> 400`);
      }
      for (const [ttl, grace] of [[-1, -1], [59, 60], [60, 59], [60, 43_201], [43_201, 60]]) {
        await s.expect(400, "POST", href, { body: { ttl, grace } }, `(ttl, grace) = (${ttl}, ${grace}) -> 400`);
      }
      for (const body of [{ ttl: 60 }, { grace: 60 }, { ttl: "60", grace: 60 }, { ttl: 60, grace: 60.5 }]) {
        await s.expect(400, "POST", href, { body }, `claim ${JSON.stringify(body)} -> 400`);
      }
      const st = await s.expect(200, "GET", `${qpath(q)}/stats`);
      s.t.equal((st.body as Doc).messages.claimed, 0, "no refused claim claimed anything");
      for (const [ttl, grace] of [[60, 60], [43_200, 43_200]]) {
        const r = await s.expect(201, "POST", href, { body: { ttl, grace } }, `(ttl, grace) = (${ttl}, ${grace}) -> 201`);
        const g = await s.expect(200, "GET", r.headers.Location!);
        s.t.equal((g.body as Doc).ttl, ttl, "claim ttl");
      }
    },
  },
  {
    name: "4.3 renew: ttl -1, 1, 59, 43201, 10^19 -> 400; {ttl:300} -> 204 and GET shows 300; grace ignored",
    async run(s) {
      const q = await s.queue();
      await s.postN(q, 2);
      const c = await s.claim(q, 60, 60);
      const href = `${qpath(q)}/claims/${c.id}`;
      for (const ttl of [-1, 1, 59, 43_201, 1e19, "300", 0]) await s.expect(400, "PATCH", href, { body: { ttl } }, `PATCH ttl ${JSON.stringify(ttl)} -> 400`);
      const g0 = await s.expect(200, "GET", href);
      s.t.equal((g0.body as Doc).ttl, 60, "refused renewals changed nothing");
      const r = await s.expect(204, "PATCH", href, { body: { ttl: 300 } });
      s.t.equal(r.body, null, "no body");
      const g = await s.expect(200, "GET", href);
      s.t.equal((g.body as Doc).ttl, 300, "ttl 300");
      await s.expect(204, "PATCH", href, { body: { ttl: 400, grace: 1 } }, "PATCH ignores grace (even an invalid one) -> 204");
      const g2 = await s.expect(200, "GET", href);
      s.t.equal((g2.body as Doc).ttl, 400, "ttl 400");
      await s.expect(204, "PATCH", href, { body: { ttl: 43_200 } }, "PATCH ttl 43200 -> 204");
      await s.expect(204, "PATCH", href, { body: { ttl: 60 } }, "PATCH ttl 60 -> 204");
    },
  },
  {
    name: "4.3 bad claim documents on POST and PATCH (null, '[', [], {}, '.', 'fail') -> 400",
    async run(s) {
      const q = await s.queue();
      await s.postN(q, 1);
      const c = await s.claim(q, 60, 60);
      const post = `${qpath(q)}/claims`;
      const patch = `${qpath(q)}/claims/${c.id}`;
      await s.expect(204, "DELETE", patch);
      const c2 = await s.claim(q, 60, 60);
      const patch2 = `${qpath(q)}/claims/${c2.id}`;
      await s.expect(204, "DELETE", patch2);
      for (const body of [undefined, null, "[", [], {}, ".", "fail", [{ ttl: 60, grace: 60 }]]) {
        const o = body === undefined ? {} : { body };
        await s.expect(400, "POST", post, o, `POST claim ${JSON.stringify(body)} -> 400`);
      }
      const c3 = await s.claim(q, 60, 60);
      const p3 = `${qpath(q)}/claims/${c3.id}`;
      for (const body of [undefined, null, "[", [], {}, ".", "fail"]) {
        const o = body === undefined ? {} : { body };
        await s.expect(400, "PATCH", p3, o, `PATCH claim ${JSON.stringify(body)} -> 400`);
      }
    },
  },
  {
    name: "4.3 delete each claimed message via its href -> 204; delete the claim -> 204",
    async run(s) {
      const q = await s.queue();
      await s.postN(q, 4);
      const c = await s.claim(q, 60, 60, 3);
      for (const m of c.messages) await s.expect(204, "DELETE", m.href, {}, `DELETE ${m.href.split("/").pop()} -> 204`);
      for (const m of c.messages) await s.expect(404, "GET", m.href.split("?")[0], {}, "deleted");
      // A claim is its messages (Marconi finds a claim through them): with the last one deleted it is gone.
      await s.expect(404, "GET", `${qpath(q)}/claims/${c.id}`, {}, "the emptied claim -> 404");
      await s.expect(204, "DELETE", `${qpath(q)}/claims/${c.id}`, {}, "DELETE the claim -> 204");
      const c2 = await s.claim(q, 60, 60);
      s.t.strictSame(bodies(c2.messages), range(3, 1), "the unclaimed fourth message is still claimable");
      await s.expect(204, "DELETE", `${qpath(q)}/claims/${c2.id}`, {}, "DELETE a claim that holds messages -> 204");
      await s.expect(404, "GET", `${qpath(q)}/claims/${c2.id}`, {}, "then GET -> 404");
      const st = await s.expect(200, "GET", `${qpath(q)}/stats`);
      s.t.strictSame(((m) => [m.claimed, m.free, m.total])((st.body as Doc).messages), [0, 1, 1], "one free message left");
    },
  },
  {
    name: "4.3 claim lifecycle (test_lifecycle) on the injected clock",
    async run(s) {
      const q = await s.queue();
      const t0 = s.wholeSecond();
      const ids = await s.postN(q, 5);
      const c = await s.claim(q, 100, 60);
      s.t.equal(c.messages.length, 5, "claim -> 201 with all 5");
      s.t.strictSame(c.messages.map((m) => m.ttl), [300, 300, 300, 300, 300], "message ttls kept (300 > 100 + 60)");
      await s.expect(204, "POST", `${qpath(q)}/claims?limit=3`, { body: { ttl: 100, grace: 60 } }, "claim again -> 204");
      await s.expect(204, "GET", `${qpath(q)}/messages?echo=true`, {}, "default list -> 204");
      const inc = await s.expect(200, "GET", `${qpath(q)}/messages?echo=true&include_claimed=true`);
      s.t.equal((inc.body as Doc).messages.length, 5, "include_claimed lists the claimed count");
      const href = `${qpath(q)}/claims/${c.id}`;
      const g = await s.expect(200, "GET", href);
      s.t.equal(g.headers["Content-Location"], href, "Content-Location");
      s.t.equal((g.body as Doc).ttl, 100, "ttl 100");
      s.t.equal((g.body as Doc).age, 0, "age 0");
      s.at(t0 + 2500);
      const g2 = await s.expect(200, "GET", href);
      s.t.equal((g2.body as Doc).age, 2, "age 2 after 2.5 s");
      await s.expect(403, "DELETE", `${qpath(q)}/messages/${ids[0]}`, {}, "delete without claim_id -> 403");
      await s.expect(204, "DELETE", c.messages[0].href, {}, "with claim_id -> 204");
      await s.expect(404, "GET", href, { project: fresh("other") }, "claim from another project -> 404");
      await s.expect(404, "GET", `${qpath(q)}/messages/${ids[0]}`, {}, "deleted message -> 404");
      await s.expect(204, "PATCH", href, { body: { ttl: 60 } }, "PATCH ttl 60 -> 204");
      s.at(t0 + 3400);
      const g3 = await s.expect(200, "GET", href);
      s.t.equal((g3.body as Doc).ttl, 60, "ttl 60");
      s.t.equal((g3.body as Doc).age, 0, "age restarted (0 < 3.4 s elapsed)");
      await s.expect(204, "DELETE", href, { project: fresh("other") }, "DELETE claim from another project -> 204");
      await s.expect(200, "GET", href, {}, "which did nothing");
      await s.expect(204, "DELETE", href, {}, "DELETE claim -> 204");
      await s.expect(400, "DELETE", c.messages[1].href, {}, "delete with the released claim's id -> 400");
      await s.expect(200, "GET", `${qpath(q)}/messages/${ids[1]}`, {}, "the message is still there");
      await s.expect(404, "GET", href, {}, "claim GET -> 404");
      await s.expect(404, "PATCH", href, { body: { ttl: 60 } }, "claim PATCH -> 404");
      const again = await s.expect(200, "GET", `${qpath(q)}/messages?echo=true`);
      s.t.strictSame(bodies((again.body as Doc).messages), range(1, 4), "released messages list again");
    },
  },
  {
    name: "4.3 claims: absent queue -> 204; unknown claim ids: GET/PATCH 404, DELETE 204",
    async run(s) {
      const a = fresh("absent");
      await s.expect(204, "POST", `${qpath(a)}/claims`, { body: { ttl: 60, grace: 60 } }, "claim on an absent queue -> 204");
      await s.expect(404, "GET", `${qpath(a)}/claims/a`, {}, "GET a claim in an absent queue -> 404");
      const q = await s.queue();
      await s.expect(204, "POST", `${qpath(q)}/claims`, { body: { ttl: 60, grace: 60 } }, "claim on an empty queue -> 204");
      for (const id of ["a", "f".repeat(24), "%20"]) {
        await s.expect(404, "GET", `${qpath(q)}/claims/${id}`, {}, `GET claim ${id} -> 404`);
        await s.expect(404, "PATCH", `${qpath(q)}/claims/${id}`, { body: { ttl: 60 } }, `PATCH claim ${id} -> 404`);
        await s.expect(204, "DELETE", `${qpath(q)}/claims/${id}`, {}, `DELETE claim ${id} -> 204`);
      }
    },
  },
  {
    name: "4.3 release: the messages list and claim again at once (bug 1210633)",
    async run(s) {
      const q = await s.queue();
      await s.postN(q, 3);
      const c = await s.claim(q, 600, 60);
      await s.expect(204, "GET", `${qpath(q)}/messages?echo=true`, {}, "claimed: not listed");
      await s.expect(204, "DELETE", `${qpath(q)}/claims/${c.id}`);
      const r = await s.expect(200, "GET", `${qpath(q)}/messages?echo=true`, {}, "released: listed again");
      s.t.strictSame(bodies((r.body as Doc).messages), range(0, 3), "all three, in order");
      const st = await s.expect(200, "GET", `${qpath(q)}/stats`);
      s.t.strictSame(((m) => [m.claimed, m.free])((st.body as Doc).messages), [0, 3], "stats: all free");
      const c2 = await s.claim(q, 60, 60);
      s.t.strictSame(bodies(c2.messages), range(0, 3), "claimable again, oldest first");
    },
  },
  {
    name: "FIFO claims: oldest free first, across posts from several clients on several DEALERs",
    async run(s) {
      const q = await s.queue();
      const wires = [Wire.open(s.env.server.endpoint), Wire.open(s.env.server.endpoint)];
      s.env.extraWires.push(...wires);
      const clients = [randomUUID(), randomUUID(), randomUUID()];
      const plan: [number, number][] = [[0, 2], [1, 1], [2, 2], [0, 1], [1, 3], [2, 1]];
      let n = 0;
      for (const [who, count] of plan) {
        await s.post(q, range(n, count).map((b) => ({ ttl: 300, body: b })), { clientId: clients[who]!, wire: who === 0 ? undefined : wires[who - 1] });
        n += count;
      }
      const c1 = await s.claim(q, 60, 60, 2);
      s.t.strictSame(bodies(c1.messages), range(0, 2), "first claim: the two oldest");
      const c2 = await s.claim(q, 60, 60, 3, { wire: wires[0] });
      s.t.strictSame(bodies(c2.messages), range(2, 3), "second claim (another DEALER): the next three");
      await s.expect(204, "DELETE", `${qpath(q)}/claims/${c1.id}`);
      const c3 = await s.claim(q, 60, 60, 4, { wire: wires[1] });
      s.t.strictSame(bodies(c3.messages), [...range(0, 2), ...range(5, 2)], "after a release the released (older) ones come first, then the oldest free");
      const c4 = await s.claim(q, 60, 60, 20);
      s.t.strictSame(bodies(c4.messages), range(7, 3), "the rest");
      const all = await s.listAll(q, "echo=true&include_claimed=true&limit=4");
      s.t.strictSame(bodies(all), range(0, 10), "listing order is arrival order");
    },
  },

  // ======== §4.4 storage semantics ========
  {
    name: "4.4 echo: 15 own messages -> 204 without echo; limit=20&echo=true -> 15; echo=true -> 10 then 5 then 204",
    async run(s) {
      const q = await s.queue();
      await s.postN(q, 15);
      await s.expect(204, "GET", `${qpath(q)}/messages`, {}, "echo false -> nothing");
      await s.expect(204, "GET", `${qpath(q)}/messages?echo=false`, {}, "echo=false -> nothing");
      const all = await s.expect(200, "GET", `${qpath(q)}/messages?limit=20&echo=true`);
      s.t.equal((all.body as Doc).messages.length, 15, "limit=20&echo=true -> 15");
      const p1 = await s.expect(200, "GET", `${qpath(q)}/messages?echo=true`);
      s.t.strictSame(bodies((p1.body as Doc).messages), range(0, 10), "page of 10");
      const p2 = await s.expect(200, "GET", (p1.body as Doc).links[0].href);
      s.t.strictSame(bodies((p2.body as Doc).messages), range(10, 5), "then 5 via the marker");
      await s.expect(204, "GET", (p2.body as Doc).links[0].href, {}, "then 204");
    },
  },
  {
    name: "4.4 12 messages, claim 10 (ttl 70, grace 60): include_claimed lists 12, default lists 2",
    async run(s) {
      const q = await s.queue();
      await s.postN(q, 12);
      const c = await s.claim(q, 70, 60);
      s.t.equal(c.messages.length, 10, "10 claimed");
      const inc = await s.expect(200, "GET", `${qpath(q)}/messages?echo=true&include_claimed=true&limit=20`);
      s.t.strictSame(bodies((inc.body as Doc).messages), range(0, 12), "include_claimed: all 12");
      const def = await s.expect(200, "GET", `${qpath(q)}/messages?echo=true&limit=20`);
      s.t.strictSame(bodies((def.body as Doc).messages), range(10, 2), "default: the 2 unclaimed");
    },
  },
  {
    name: "4.4 claim 15 of 20: stats 15/5/20; GET has the 15, ttl 70; renew 100; release -> 404",
    async run(s) {
      const q = await s.queue();
      await s.postN(q, 20);
      const c = await s.claim(q, 70, 60, 15);
      const st = await s.expect(200, "GET", `${qpath(q)}/stats`);
      s.t.strictSame(((m) => [m.claimed, m.free, m.total])((st.body as Doc).messages), [15, 5, 20], "claimed 15 / free 5 / total 20");
      const href = `${qpath(q)}/claims/${c.id}`;
      const g = await s.expect(200, "GET", href);
      s.t.equal((g.body as Doc).ttl, 70, "ttl 70");
      s.t.strictSame(bodies((g.body as Doc).messages), range(0, 15), "the same 15");
      await s.expect(204, "PATCH", href, { body: { ttl: 100 } });
      const g2 = await s.expect(200, "GET", href);
      s.t.equal((g2.body as Doc).ttl, 100, "ttl 100");
      s.t.strictSame(bodies((g2.body as Doc).messages), range(0, 15), "same bodies");
      await s.expect(204, "DELETE", href);
      await s.expect(404, "GET", href, {}, "released -> 404");
      const st2 = await s.expect(200, "GET", `${qpath(q)}/stats`);
      s.t.strictSame(((m) => [m.claimed, m.free, m.total])((st2.body as Doc).messages), [0, 20, 20], "all free again");
    },
  },
  {
    name: "4.4 grace extension table (ttl 120; (777,0)->777, (777,23)->800, (100,22)->122, (60,30)->120) via the store, read over the wire",
    async run(s) {
      // Graces below 60 are refused over the wire (§1.5), so these rows claim through the server's
      // own store; the result is read back with GET over the wire.
      for (const [ttl, grace, want] of [[777, 0, 777], [777, 23, 800], [100, 22, 122], [60, 30, 120]] as const) {
        const q = await s.queue();
        const [id] = await s.post(q, [{ ttl: 120, body: { ttl, grace } }]);
        const claim = s.env.server.store.claim(s.project, q, ttl, grace, 10);
        s.t.ok(claim, `store claim (${ttl}, ${grace})`);
        const g = await s.expect(200, "GET", `${qpath(q)}/messages/${id}`);
        s.t.equal((g.body as Doc).ttl, want, `(${ttl}, ${grace}) -> ttl ${want}`);
        await s.expect(400, "POST", `${qpath(q)}/claims`, { body: { ttl, grace } }, `over the wire, grace ${grace} < 60 -> 400`);
      }
    },
  },
  {
    name: "2.2 grace extension over the wire (ttl 120; (777,60)->837, (100,60)->160, (61,60)->121, (60,60)->120), exact to the ms",
    async run(s) {
      for (const [ttl, grace, want] of [[777, 60, 837], [100, 60, 160], [61, 60, 121], [60, 60, 120]] as const) {
        const q = await s.queue();
        const t0 = s.wholeSecond();
        const [id] = await s.post(q, [{ ttl: 120, body: 1 }]);
        const c = await s.claim(q, ttl, grace);
        s.t.equal(c.messages[0].ttl, want, `claim (${ttl}, ${grace}): claimed message ttl ${want}`);
        const g = await s.expect(200, "GET", `${qpath(q)}/messages/${id}`);
        s.t.equal((g.body as Doc).ttl, want, `GET: ttl ${want}`);
        s.at(t0 + want * 1000 - 1);
        await s.expect(200, "GET", `${qpath(q)}/messages/${id}`, {}, `alive at ${want} s - 1 ms`);
        s.at(t0 + want * 1000);
        await s.expect(404, "GET", `${qpath(q)}/messages/${id}`, {}, `gone at ${want} s`);
      }
    },
  },
  {
    name: "4.4 stats of an empty queue have no oldest/newest (again after the last message goes)",
    async run(s) {
      const q = await s.queue();
      const [id] = await s.postN(q, 1);
      await s.expect(204, "DELETE", `${qpath(q)}/messages/${id}`);
      const st = await s.expect(200, "GET", `${qpath(q)}/stats`);
      s.t.strictSame(st.body, { messages: { claimed: 0, free: 0, total: 0 } }, "exactly zeros, no oldest/newest");
    },
  },

  // ======== exact expiry on the injected clock ========
  {
    name: "expiry: ttl 60 visible at 59.999 s, gone at 60.000 s for get, get-many, list, stats and claim",
    async run(s) {
      const [qa, qb, qc] = [await s.queue(), await s.queue(), await s.queue()];
      const t0 = s.wholeSecond();
      const [a] = await s.post(qa, [{ ttl: 60, body: "a" }]);
      const [b] = await s.post(qb, [{ ttl: 60, body: "b" }]);
      await s.post(qc, [{ ttl: 60, body: "c" }]);
      s.at(t0 + 59_999);
      const g = await s.expect(200, "GET", `${qpath(qa)}/messages/${a}`, {}, "59.999 s: get -> 200");
      s.t.equal((g.body as Doc).age, 59, "age 59");
      await s.expect(200, "GET", `${qpath(qa)}/messages?ids=${a}`, {}, "59.999 s: get-many -> 200");
      const l = await s.expect(200, "GET", `${qpath(qa)}/messages?echo=true`, {}, "59.999 s: list -> 200");
      s.t.equal((l.body as Doc).messages.length, 1, "listed");
      const st = await s.expect(200, "GET", `${qpath(qa)}/stats`);
      s.t.equal((st.body as Doc).messages.total, 1, "59.999 s: stats total 1");
      s.t.equal((st.body as Doc).messages.oldest.age, 59, "oldest age 59");
      const c = await s.claim(qb, 60, 60);
      s.t.strictSame(bodies(c.messages), ["b"], "59.999 s: claim -> 201 with it");
      s.at(t0 + 60_000);
      await s.expect(404, "GET", `${qpath(qa)}/messages/${a}`, {}, "60.000 s: get -> 404");
      await s.expect(204, "GET", `${qpath(qa)}/messages?ids=${a}`, {}, "60.000 s: get-many -> 204");
      await s.expect(204, "GET", `${qpath(qa)}/messages?echo=true&include_claimed=true`, {}, "60.000 s: list -> 204");
      const st2 = await s.expect(200, "GET", `${qpath(qa)}/stats`);
      s.t.strictSame(st2.body, { messages: { claimed: 0, free: 0, total: 0 } }, "60.000 s: stats all zero");
      await s.expect(204, "POST", `${qpath(qc)}/claims`, { body: { ttl: 60, grace: 60 } }, "60.000 s: claim -> 204");
      await s.expect(200, "GET", `${qpath(qb)}/messages/${b}`, {}, "the message claimed at 59.999 s lives on (grace)");
    },
  },
  {
    name: "expiry: a claim ends at its ttl exactly and frees its messages; GET/PATCH 404; its id no longer deletes",
    async run(s) {
      const q = await s.queue();
      const t0 = s.wholeSecond();
      await s.postN(q, 3, 600);
      const c = await s.claim(q, 60, 60);
      const href = `${qpath(q)}/claims/${c.id}`;
      s.at(t0 + 59_999);
      await s.expect(200, "GET", href, {}, "59.999 s: claim GET -> 200");
      await s.expect(204, "GET", `${qpath(q)}/messages?echo=true`, {}, "59.999 s: still hidden");
      await s.expect(204, "POST", `${qpath(q)}/claims`, { body: { ttl: 60, grace: 60 } }, "59.999 s: nothing to claim");
      const st = await s.expect(200, "GET", `${qpath(q)}/stats`);
      s.t.strictSame(((m) => [m.claimed, m.free])((st.body as Doc).messages), [3, 0], "59.999 s: 3 claimed");
      s.at(t0 + 60_000);
      await s.expect(404, "GET", href, {}, "60.000 s: claim GET -> 404");
      await s.expect(404, "PATCH", href, { body: { ttl: 300 } }, "60.000 s: claim PATCH -> 404 (cannot renew an expired claim)");
      const l = await s.expect(200, "GET", `${qpath(q)}/messages?echo=true`, {}, "60.000 s: listed again");
      s.t.strictSame(bodies((l.body as Doc).messages), range(0, 3), "all three");
      const st2 = await s.expect(200, "GET", `${qpath(q)}/stats`);
      s.t.strictSame(((m) => [m.claimed, m.free])((st2.body as Doc).messages), [0, 3], "60.000 s: 3 free");
      await s.expect(400, "DELETE", c.messages[0].href, {}, "the expired claim's id -> 400 (an expired claim is gone)");
      await s.expect(204, "DELETE", c.messages[0].href.split("?")[0], {}, "without claim_id -> 204");
      const c2 = await s.claim(q, 60, 60);
      s.t.strictSame(bodies(c2.messages), range(1, 2), "claimable by a new claim");
    },
  },
  {
    name: "expiry: renew moves the claim's end and extends its messages to it exactly",
    async run(s) {
      const q = await s.queue();
      const t0 = s.wholeSecond();
      const [id] = await s.post(q, [{ ttl: 60, body: "m" }]);
      const c = await s.claim(q, 60, 60);
      const href = `${qpath(q)}/claims/${c.id}`;
      s.at(t0 + 30_000);
      await s.expect(204, "PATCH", href, { body: { ttl: 200 } }, "30 s: renew to 200");
      s.at(t0 + 229_999);
      const g = await s.expect(200, "GET", href, {}, "229.999 s: claim alive");
      s.t.equal((g.body as Doc).age, 199, "claim age counts from the renewal");
      s.t.equal((g.body as Doc).ttl, 200, "claim ttl 200");
      await s.expect(200, "GET", `${qpath(q)}/messages/${id}`, {}, "229.999 s: message alive (extended past its own 60 s + grace)");
      s.at(t0 + 230_000);
      await s.expect(404, "GET", href, {}, "230 s: claim gone");
      await s.expect(404, "GET", `${qpath(q)}/messages/${id}`, {}, "230 s: message gone with it (no grace on renew)");
      // Renewing to a shorter ttl ends the claim earlier.
      const q2 = await s.queue();
      const t1 = s.wholeSecond();
      await s.post(q2, [{ ttl: 600, body: "n" }]);
      const c2 = await s.claim(q2, 200, 60);
      s.at(t1 + 10_000);
      await s.expect(204, "PATCH", `${qpath(q2)}/claims/${c2.id}`, { body: { ttl: 60 } });
      s.at(t1 + 69_999);
      await s.expect(204, "GET", `${qpath(q2)}/messages?echo=true`, {}, "69.999 s: still claimed");
      s.at(t1 + 70_000);
      await s.expect(200, "GET", `${qpath(q2)}/messages?echo=true`, {}, "70 s: free again");
    },
  },
  {
    name: "expiry: ages are whole seconds (message and claim), claim age restarts on renew",
    async run(s) {
      const q = await s.queue();
      const t0 = s.wholeSecond();
      const [id] = await s.post(q, [{ ttl: 600, body: 1 }]);
      const m = `${qpath(q)}/messages/${id}`;
      s.at(t0 + 999);
      s.t.equal(((await s.expect(200, "GET", m)).body as Doc).age, 0, "0.999 s: age 0");
      s.at(t0 + 1000);
      s.t.equal(((await s.expect(200, "GET", m)).body as Doc).age, 1, "1.000 s: age 1");
      const c = await s.claim(q, 100, 60);
      s.t.equal(c.messages[0].age, 1, "claimed message keeps its age");
      const href = `${qpath(q)}/claims/${c.id}`;
      s.at(t0 + 6500);
      s.t.equal(((await s.expect(200, "GET", href)).body as Doc).age, 5, "claim age 5 at 5.5 s after it");
      await s.expect(204, "PATCH", href, { body: { ttl: 100 } });
      s.at(t0 + 8999);
      s.t.equal(((await s.expect(200, "GET", href)).body as Doc).age, 2, "claim age 2, 2.499 s after the renewal");
      s.t.equal(((await s.expect(200, "GET", m)).body as Doc).age, 8, "message age unaffected by the renewal");
    },
  },
  {
    name: "expiry: a claimed message's reported ttl stays consistent with its age and its real expiry (§2.1/§2.2)",
    async run(s) {
      // Claimed at age 50 with (60, 60): it now lives until 50 + 60 + 60 = 170 s after its creation,
      // so with age counted from creation, ttl must say 170 (reference §2.2: ttl = expiry - creation).
      const q = await s.queue();
      const t0 = s.wholeSecond();
      const [id] = await s.post(q, [{ ttl: 60, body: 1 }]);
      s.at(t0 + 50_000);
      const c = await s.claim(q, 60, 60);
      s.t.equal(c.messages[0].ttl, 170, "claimed message ttl = 170 (its expiry - its creation)");
      s.at(t0 + 169_999);
      const g = await s.expect(200, "GET", `${qpath(q)}/messages/${id}`, {}, "169.999 s: alive");
      s.t.ok((g.body as Doc).age < (g.body as Doc).ttl, `age ${(g.body as Doc).age} < ttl ${(g.body as Doc).ttl} while alive`);
      s.at(t0 + 170_000);
      await s.expect(404, "GET", `${qpath(q)}/messages/${id}`, {}, "170 s: gone");
      // Renewed at 30 s to 200: the message lives until 230 s after its creation.
      const q2 = await s.queue();
      const t1 = s.wholeSecond();
      const [id2] = await s.post(q2, [{ ttl: 60, body: 2 }]);
      const c2 = await s.claim(q2, 60, 60);
      s.at(t1 + 30_000);
      await s.expect(204, "PATCH", `${qpath(q2)}/claims/${c2.id}`, { body: { ttl: 200 } });
      const g2 = await s.expect(200, "GET", `${qpath(q2)}/messages/${id2}`);
      s.t.equal((g2.body as Doc).ttl, 230, "after renewing at 30 s to 200: ttl 230 (expiry - creation)");
    },
  },

  // ======== echo and projects ========
  {
    name: "echo suppression by Client-ID: own messages hidden from listing only; every accepted form is the same client",
    async run(s) {
      const q = await s.queue();
      const a = randomUUID();
      const b = randomUUID();
      const aForms = [`{${a.toUpperCase()}}`, `urn:uuid:${a}`, a.replace(/-/g, ""), a];
      const aIds = await s.post(q, range(0, 3).map((x) => ({ ttl: 300, body: x })), { clientId: aForms[0]! });
      await s.post(q, range(3, 2).map((x) => ({ ttl: 300, body: x })), { clientId: b });
      for (const form of aForms) {
        const r = await s.expect(200, "GET", `${qpath(q)}/messages`, { clientId: form }, `A as ${form.slice(0, 12)}...: list -> 200`);
        s.t.strictSame(bodies((r.body as Doc).messages), range(3, 2), "A sees only B's messages");
        const e = await s.expect(200, "GET", `${qpath(q)}/messages?echo=true`, { clientId: form });
        s.t.strictSame(bodies((e.body as Doc).messages), range(0, 5), "echo=true: all five");
      }
      const rb = await s.expect(200, "GET", `${qpath(q)}/messages`, { clientId: b });
      s.t.strictSame(bodies((rb.body as Doc).messages), range(0, 3), "B sees only A's");
      const other = await s.expect(200, "GET", `${qpath(q)}/messages`, { clientId: randomUUID() });
      s.t.strictSame(bodies((other.body as Doc).messages), range(0, 5), "a third client sees all");
      const o = { clientId: a };
      await s.expect(200, "GET", `${qpath(q)}/messages/${aIds[0]}`, o, "A gets its own message by id");
      const many = await s.expect(200, "GET", `${qpath(q)}/messages?ids=${aIds.join(",")}`, o, "A gets its own by ?ids=");
      s.t.equal((many.body as Doc[]).length, 3, "all three (echo ignored)");
      await s.expect(200, "GET", `${qpath(q)}/messages?ids=${aIds.join(",")}&echo=false`, o, "echo=false is ignored by ?ids=");
      const st = await s.expect(200, "GET", `${qpath(q)}/stats`, o);
      s.t.equal((st.body as Doc).messages.total, 5, "stats count A's own");
      const c = await s.claim(q, 60, 60, 20, o);
      s.t.strictSame(bodies(c.messages), range(0, 5), "A's claim takes its own messages too");
    },
  },
  {
    name: "X-Project-ID isolation: the same queue name in two projects and the global scope are three queues",
    global: true,
    async run(s) {
      const q = fresh("shared");
      const scopes: (string | null)[] = [fresh("p1"), fresh("p2"), null];
      for (const project of scopes) await s.expect(201, "PUT", qpath(q), { project }, `PUT in ${project ?? "global"} -> 201`);
      for (const [i, project] of scopes.entries()) {
        await s.post(q, [{ ttl: 300, body: { scope: project ?? "global", i } }], { project });
        await s.expect(204, "PUT", `${qpath(q)}/metadata`, { project, body: { scope: project ?? "global" } });
      }
      for (const project of scopes) {
        const o = { project };
        const l = await s.expect(200, "GET", `${qpath(q)}/messages?echo=true`, o);
        s.t.strictSame(bodies((l.body as Doc).messages).map((b: Doc) => b.scope), [project ?? "global"], `${project ?? "global"}: lists only its own message`);
        const m = await s.expect(200, "GET", `${qpath(q)}/metadata`, o);
        s.t.strictSame(m.body, { scope: project ?? "global" }, "its own metadata");
        const st = await s.expect(200, "GET", `${qpath(q)}/stats`, o);
        s.t.equal((st.body as Doc).messages.total, 1, "its own stats");
      }
      await s.expect(204, "DELETE", qpath(q), { project: scopes[0] });
      await s.expect(404, "HEAD", qpath(q), { project: scopes[0] }, "deleted in p1");
      await s.expect(204, "HEAD", qpath(q), { project: scopes[1] }, "still there in p2");
      await s.expect(204, "HEAD", qpath(q), { project: null }, "still there globally");
      await s.expect(204, "DELETE", qpath(q), { project: null });
      await s.expect(204, "HEAD", qpath(q), { project: scopes[1] }, "p2 untouched by the global delete");
      await s.expect(204, "DELETE", qpath(q), { project: scopes[1] });
    },
  },
  {
    name: "X-Project-ID isolation: message and claim ids from another project -> 404 / 204 no-op",
    async run(s) {
      const q = fresh("iso");
      const mine = s.project;
      const theirs = fresh("other");
      await s.expect(201, "PUT", qpath(q));
      await s.expect(201, "PUT", qpath(q), { project: theirs });
      await s.post(q, [{ ttl: 300, body: "theirs" }], { project: theirs });
      const ids = await s.postN(q, 3);
      const c = await s.claim(q, 60, 60, 2);
      const o = { project: theirs };
      const m = (id: string) => `${qpath(q)}/messages/${id}`;
      const ch = `${qpath(q)}/claims/${c.id}`;
      await s.expect(404, "GET", m(ids[2]!), o, "GET message from another project -> 404");
      await s.expect(204, "GET", `${qpath(q)}/messages?ids=${ids.join(",")}`, o, "?ids= from another project -> 204");
      await s.expect(204, "DELETE", m(ids[2]!), o, "DELETE from another project -> 204");
      await s.expect(204, "DELETE", `${qpath(q)}/messages?ids=${ids.join(",")}`, o, "bulk DELETE from another project -> 204");
      await s.expect(204, "DELETE", c.messages[0].href, o, "DELETE with claim_id from another project -> 204");
      await s.expect(404, "GET", ch, o, "GET claim from another project -> 404");
      await s.expect(404, "PATCH", ch, { ...o, body: { ttl: 300 } }, "PATCH claim from another project -> 404");
      await s.expect(204, "DELETE", ch, o, "DELETE claim from another project -> 204 no-op");
      await s.expect(404, "GET", m(ids[0]!), { project: null }, "GET message from the global scope -> 404");
      await s.expect(404, "GET", ch, { project: null }, "GET claim from the global scope -> 404");
      const many = await s.expect(200, "GET", `${qpath(q)}/messages?ids=${ids.join(",")}`, { project: mine });
      s.t.equal((many.body as Doc[]).length, 3, "all three messages still there");
      const g = await s.expect(200, "GET", ch, {}, "the claim is still alive");
      s.t.equal((g.body as Doc).ttl, 60, "and not renewed");
      s.t.equal((g.body as Doc).messages.length, 2, "with both messages");
      const t = await s.expect(200, "GET", `${qpath(q)}/messages?echo=true`, o);
      s.t.strictSame(bodies((t.body as Doc).messages), ["theirs"], "the other project's queue holds only its own");
      const tc = await s.claim(q, 60, 60, 20, o);
      s.t.strictSame(bodies(tc.messages), ["theirs"], "a claim in the other project takes only its own");
    },
  },
  {
    name: "listing never leaks a neighbouring project (bug 1236605: ...693 vs ...694)",
    async run(s) {
      const base = fresh("bug1236605-").replace(/-/g, "");
      const p693 = `${base}693`;
      const p694 = `${base}694`;
      const p69 = `${base}69`;
      for (const n of ["a", "b"]) await s.expect(201, "PUT", qpath(`q693${n}`), { project: p693 });
      for (const n of ["a", "b", "c"]) await s.expect(201, "PUT", qpath(`q694${n}`), { project: p694 });
      await s.expect(201, "PUT", qpath("q69"), { project: p69 });
      const l = await s.expect(200, "GET", "/v1/queues?limit=20", { project: p693 });
      s.t.strictSame(((l.body as Doc).queues as Doc[]).map((e) => e.name), ["q693a", "q693b"], "693 lists only its own");
      const tail = await s.expect(204, "GET", (l.body as Doc).links[0].href, { project: p693 }, "and its tail is 204, not 694's queues");
      s.t.equal(tail.body, null, "no body");
      const m = await s.expect(200, "GET", "/v1/queues?marker=q693b", { project: p694 });
      s.t.strictSame(((m.body as Doc).queues as Doc[]).map((e) => e.name), ["q694a", "q694b", "q694c"], "694 with a marker lists only its own");
      const short = await s.expect(200, "GET", "/v1/queues", { project: p69 });
      s.t.strictSame(((short.body as Doc).queues as Doc[]).map((e) => e.name), ["q69"], "a prefix project lists only its own");
      await s.expect(204, "GET", "/v1/queues", { project: `${base}6` }, "a shorter prefix project has none");
    },
  },

  // ======== the wire ========
  {
    name: "wire: X-Request-ID is echoed on success, errors and 406; absent when not sent",
    async run(s) {
      const q = await s.queue();
      const ok = await s.call("GET", `${qpath(q)}/stats`, { headers: { "X-Request-ID": "req-1" } });
      s.t.equal(ok.headers["X-Request-ID"], "req-1", "echoed on 200");
      const bad = await s.call("PUT", qpath("bad@name"), { headers: { "x-request-id": "req-2" } });
      s.t.strictSame([bad.status, bad.headers["X-Request-ID"]], [400, "req-2"], "echoed on 400 (header names are case-insensitive)");
      const na = await s.call("GET", `${qpath(q)}/stats`, { headers: { "X-Request-ID": "req-3", Accept: "text/plain" }, replyFormat: "msgpack" });
      s.t.strictSame([na.status, na.headers["X-Request-ID"]], [406, "req-3"], "echoed on 406");
      const num = await s.raw([Buffer.from(encodeValue({ href: `${qpath(q)}/stats`, action: "GET", headers: { ...s.headers(), "X-Request-ID": 7 } }, s.format))], s.format, "numeric X-Request-ID");
      s.t.strictSame([num.status, num.headers["X-Request-ID"]], [200, "7"], "a numeric X-Request-ID is echoed as a string");
      const none = await s.call("GET", `${qpath(q)}/stats`);
      s.t.equal(none.headers["X-Request-ID"], undefined, "no X-Request-ID when none was sent");
      s.t.strictSame(Object.keys(none.headers).sort(), ["Content-Type"], "a plain 200 carries just Content-Type");
    },
  },
  {
    name: "wire: header names are case-insensitive (client-id, x-project-id, ACCEPT)",
    async run(s) {
      const q = await s.queue();
      const lower = { project: null, clientId: null, headers: { "x-project-id": s.project!, "client-id": s.clientId } };
      await s.expect(201, "POST", `${qpath(q)}/messages`, { ...lower, body: [{ ttl: 60, body: "lc" }] }, "POST with lower-case client-id and x-project-id -> 201");
      const l = await s.expect(200, "GET", `${qpath(q)}/messages?echo=true`, lower, "list with lower-case headers -> 200");
      s.t.strictSame(bodies((l.body as Doc).messages), ["lc"], "in the session's project");
      await s.expect(204, "GET", `${qpath(q)}/messages`, { clientId: null, headers: { "CLIENT-ID": s.clientId.toUpperCase() } }, "CLIENT-ID in upper case is the same client (echo off -> 204)");
      if (s.env.mode.accept !== undefined) {
        await s.expect(200, "GET", `${qpath(q)}/stats`, { headers: { Accept: undefined, ACCEPT: s.env.mode.accept } }, "ACCEPT upper case is honoured");
      } else {
        await s.expect(200, "GET", `${qpath(q)}/stats`, { headers: { ACCEPT: "application/json" }, replyFormat: "json" }, "ACCEPT upper case is honoured (JSON asked)");
      }
    },
  },
  {
    name: "capacity: a full store answers 503 with Retry-After, no Location, nothing half-done",
    async run(s) {
      const small = new QueueServer({ endpoint: "tcp://127.0.0.1:0", now: () => s.env.clock.now, maxQueues: 2, maxMessagesPerQueue: 3 });
      await small.start();
      const wire = Wire.open(small.endpoint);
      try {
        const o = { wire };
        const [a, b, c] = [fresh("cap"), fresh("cap"), fresh("cap")];
        await s.expect(201, "PUT", qpath(a), o);
        await s.expect(201, "PUT", qpath(b), o);
        const full = await s.expect(503, "PUT", qpath(c), o, "a third queue -> 503");
        s.t.equal(full.headers["Retry-After"], "30", "Retry-After: 30");
        s.t.equal(full.headers.Location, undefined, "no Location on the failed PUT");
        s.t.equal((full.body as Doc).title, "Service temporarily unavailable", "503 title");
        await s.expect(404, "HEAD", qpath(c), o, "not created");
        await s.expect(201, "POST", `${qpath(a)}/messages`, { ...o, body: range(0, 2).map((x) => ({ ttl: 60, body: x })) });
        const over = await s.expect(503, "POST", `${qpath(a)}/messages`, { ...o, body: range(2, 2).map((x) => ({ ttl: 60, body: x })) }, "a post that would pass the per-queue limit -> 503");
        s.t.equal(over.headers["Retry-After"], "30", "Retry-After: 30");
        const st = await s.expect(200, "GET", `${qpath(a)}/stats`, o);
        s.t.equal((st.body as Doc).messages.total, 2, "all or nothing: none of the refused batch was enqueued");
        await s.expect(201, "POST", `${qpath(a)}/messages`, { ...o, body: [{ ttl: 60, body: 2 }] }, "one more fits -> 201");
        await s.expect(204, "DELETE", qpath(b), o);
        await s.expect(201, "PUT", qpath(c), o, "after a delete there is room again -> 201");
      } finally {
        wire.close();
        await small.stop();
      }
    },
  },
  {
    name: "wire: 200 requests pipelined on one DEALER come back in request order with their ids",
    async run(s) {
      const q = await s.queue();
      const n = 200;
      const want: number[] = [];
      const pending: Promise<WireReply>[] = [];
      for (let i = 0; i < n; i++) {
        const id = `pipe-${i}`;
        const kind = i % 4;
        const headers = { "X-Request-ID": id };
        if (kind === 0) pending.push(s.call("POST", `${qpath(q)}/messages`, { headers, body: [{ ttl: 300, body: i }] }));
        else if (kind === 1) pending.push(s.call("GET", `${qpath(q)}/stats`, { headers }));
        else if (kind === 2) pending.push(s.call("GET", qpath("no@good"), { headers }));
        else pending.push(s.call("HEAD", qpath(q), { headers }));
        want.push([201, 200, 400, 204][kind]!);
      }
      const replies = await within(Promise.all(pending), 10_000, "200 pipelined replies");
      const ids = replies.map((r) => r.headers["X-Request-ID"]);
      s.t.strictSame(ids, Array.from({ length: n }, (_, i) => `pipe-${i}`), "replies in request order, each with its id");
      s.t.strictSame(replies.map((r) => r.status), want, "each with its own status");
      const totals = replies.filter((_, i) => i % 4 === 1).map((r) => (r.body as Doc).messages.total);
      s.t.strictSame(totals, Array.from({ length: n / 4 }, (_, k) => k + 1), "each stats reply saw exactly the posts before it");
      const all = await s.listAll(q);
      s.t.strictSame(bodies(all), Array.from({ length: n / 4 }, (_, k) => 4 * k), "messages in arrival order");
    },
  },
  {
    name: "wire: two DEALERs pipelining at once each get their own replies in order",
    async run(s) {
      const q = await s.queue();
      const other = Wire.open(s.env.server.endpoint);
      s.env.extraWires.push(other);
      const a: Promise<WireReply>[] = [];
      const b: Promise<WireReply>[] = [];
      for (let i = 0; i < 50; i++) {
        a.push(s.call("GET", `${qpath(q)}/stats`, { headers: { "X-Request-ID": `a${i}` } }));
        b.push(s.call("GET", `${qpath(q)}/stats`, { headers: { "X-Request-ID": `b${i}` }, wire: other }));
      }
      const [ra, rb] = await within(Promise.all([Promise.all(a), Promise.all(b)]), 10_000, "two pipelines");
      s.t.strictSame(ra.map((r) => r.headers["X-Request-ID"]), Array.from({ length: 50 }, (_, i) => `a${i}`), "DEALER 1: its own, in order");
      s.t.strictSame(rb.map((r) => r.headers["X-Request-ID"]), Array.from({ length: 50 }, (_, i) => `b${i}`), "DEALER 2: its own, in order");
    },
  },
  {
    name: "wire: a REQ socket works (its empty delimiter is the envelope)",
    async run(s) {
      const req = new Request({ linger: 0 });
      try {
        req.connect(s.env.server.endpoint);
        const q = fresh("req");
        const exchange = async (action: string, href: string, body?: unknown): Promise<WireReply> => {
          await req.send(encodeRequest({ href, action, headers: s.headers(), ...(body === undefined ? {} : { body }) }, s.format));
          const frames = await within(req.receive(), REPLY_WAIT_MS, `REQ reply to ${action} ${href}`);
          s.t.equal(frames.length, 1, "REQ hands back exactly one frame");
          const r = parseReply(frames);
          s.checkCodec(r, s.format, `REQ ${action} ${href}`);
          return r;
        };
        s.t.equal((await exchange("PUT", qpath(q))).status, 201, "REQ: PUT -> 201");
        const p = await exchange("POST", `${qpath(q)}/messages`, [{ ttl: 60, body: "via REQ" }]);
        s.t.equal(p.status, 201, "REQ: POST -> 201");
        const g = await exchange("GET", (p.body as Doc).resources[0]);
        s.t.strictSame([g.status, (g.body as Doc).body], [200, "via REQ"], "REQ: GET -> 200 with the body");
        s.t.equal((await exchange("GET", qpath("x@y"))).status, 400, "REQ: errors come back too");
      } finally {
        req.close();
      }
    },
  },
  {
    name: "wire: envelopes are echoed (delimiter, extra hops); more than one payload frame -> 400",
    async run(s) {
      const q = await s.queue();
      const frame = encodeRequest({ href: `${qpath(q)}/stats`, action: "GET", headers: s.headers() }, s.format);
      const empty = Buffer.alloc(0);
      const d = await s.raw([empty, frame], s.format, "DEALER with a delimiter");
      s.t.equal(d.status, 200, "[empty, payload] -> 200");
      s.t.strictSame(d.envelope.map((f) => f.toString("hex")), [""], "reply is [empty, payload]");
      const hops = await s.raw([Buffer.from("hop-1"), Buffer.from("hop-2"), empty, frame], s.format, "extra hops");
      s.t.equal(hops.status, 200, "[hop, hop, empty, payload] -> 200");
      s.t.strictSame(hops.envelope.map((f) => f.toString()), ["hop-1", "hop-2", ""], "hops echoed in order");
      const two = await s.raw([frame, frame], s.format, "two payload frames");
      s.t.equal(two.status, 400, "two frames, no delimiter -> 400");
      s.t.strictSame(two.envelope, [], "answered with no envelope");
      const twoAfter = await s.raw([empty, frame, frame], s.format, "two payload frames after a delimiter");
      s.t.equal(twoAfter.status, 400, "[empty, payload, payload] -> 400");
      s.t.strictSame(twoAfter.envelope.map((f) => f.length), [0], "answered with the envelope");
      const none = await s.raw([empty], "msgpack", "no payload after the delimiter");
      s.t.equal(none.status, 400, "[empty] alone -> 400");
    },
  },
  {
    name: "wire: lower-case action, absolute href and the seed's 'header' key work; bad action, href, frame -> 400",
    async run(s) {
      const q = await s.queue();
      // Maps built directly (not WireRequests): some are malformed on purpose.
      const mapFrame = (map: unknown): Buffer => Buffer.from(encodeValue(map, s.format));
      const lower = await s.raw([mapFrame({ href: qpath(q), action: "head", headers: s.headers() })], s.format, "lower-case action");
      s.t.equal(lower.status, 204, 'action "head" -> 204');
      const abs = await s.raw([mapFrame({ href: `zmq://127.0.0.1:9/v1/queues/${q}/stats`, action: "GET", headers: s.headers() })], s.format, "absolute href");
      s.t.equal(abs.status, 200, "zmq://host/v1/... -> 200");
      const seed = await s.raw([mapFrame({ href: `${qpath(q)}/stats`, action: "GET", header: s.headers() })], s.format, "seed 'header'");
      s.t.equal(seed.status, 200, "'header' instead of 'headers' -> 200");
      const unknown = await s.raw([mapFrame({ href: qpath(q), action: "FETCH", headers: s.headers() })], s.format, "unknown action");
      s.t.equal(unknown.status, 400, "action FETCH -> 400");
      const noHref = await s.raw([mapFrame({ action: "GET", headers: s.headers() })], s.format, "no href");
      s.t.equal(noHref.status, 400, "no href -> 400");
      const noAction = await s.raw([mapFrame({ href: qpath(q), headers: s.headers() })], s.format, "no action");
      s.t.equal(noAction.status, 400, "no action -> 400");
      const notMap = await s.raw([mapFrame([qpath(q), "GET"])], s.format, "array request");
      s.t.equal(notMap.status, 400, "a request that is not a map -> 400 (in the codec it was sent in)");
      const garbage = await s.raw([Buffer.from([0x01, 0x02, 0x03])], "msgpack", "garbage");
      s.t.equal(garbage.status, 400, "a frame that is neither codec -> 400 in msgpack");
      const badHeaders = await s.raw([mapFrame({ href: qpath(q), action: "GET", headers: "nope" })], s.format, "headers not a map");
      s.t.equal(badHeaders.status, 400, "headers not a map -> 400");
    },
  },
  {
    name: "wire: 405 with Allow for a verb the resource lacks; 404 for unknown paths",
    async run(s) {
      const q = await s.queue();
      await s.postN(q, 1);
      const cases: [string, string, string][] = [
        ["POST", "/v1/queues", "GET"],
        ["PATCH", qpath(q), "GET, HEAD, PUT, DELETE"],
        ["POST", `${qpath(q)}/metadata`, "GET, PUT"],
        ["DELETE", `${qpath(q)}/stats`, "GET"],
        ["PUT", `${qpath(q)}/messages`, "GET, POST, DELETE"],
        ["PATCH", `${qpath(q)}/messages/abc`, "GET, DELETE"],
        ["GET", `${qpath(q)}/claims`, "POST"],
        ["POST", `${qpath(q)}/claims/abc`, "GET, PATCH, DELETE"],
        ["POST", "/v1/health", "GET, HEAD"],
      ];
      for (const [action, href, allow] of cases) {
        const r = await s.expect(405, action, href, { body: {} });
        s.t.equal(r.headers.Allow, allow, `Allow: ${allow}`);
        s.t.type((r.body as Doc)?.title, "string", "405 has an error body");
      }
      for (const href of ["/v1/nothing", "/v2/queues", "/queues", `${qpath(q)}/messages/id/extra`, `${qpath(q)}/other`, "/v1/queues/q/claims/c/x", "v1/queues"]) {
        await s.expect(404, "GET", href, {}, `GET ${href} -> 404`);
      }
    },
  },
];
