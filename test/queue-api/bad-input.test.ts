// Bad input to the queue API over real sockets (issue 6): garbage that is not msgpack or JSON,
// random bytes, truncated msgpack, JSON that is not an object, wrong types in the envelope and in
// each route's body (fast-check), oversize posts and metadata, multi-frame and empty requests, and
// a frame over maxRequestBytes. Each gets a 400 with a {title, description} body (the oversize
// frame costs its sender the connection instead), and after each the same DEALER still gets right
// answers, a second client's pipelined posts running all along are unaffected, the server's
// counters add up, and its log holds nothing but rate-limited "bad queue API request" warnings.
// Then authentication: static tokens (401 with a body), a slow async verifier (replies still in
// request order per peer), and a verifier that throws or rejects (503).
//
// Requests are built and replies read with @msgpack/msgpack and JSON.parse, not with the codec
// under test.

import t, { type Test } from "tap";
import fc from "fast-check";
import { Buffer } from "node:buffer";
import { randomUUID } from "node:crypto";
import { decode as mpDecode, encode as mpEncode } from "@msgpack/msgpack";
import { QueueServer, type QueueServerOptions } from "../../src/queue-api/server.js";
import { QueueClient } from "../../src/queue-api/client.js";
import { Dealer } from "../../src/socket/dealer.js";
import { captureLogger, type LogLine } from "../broker/peers.js";
import { LONG } from "../../src/zmtp/index.js";
import { dialFake, sleep, until, watch, within } from "../socket/fake-peer.js";

const VERBS = new Set(["GET", "HEAD", "PUT", "POST", "PATCH", "DELETE"]);

interface Reply {
  status: number;
  headers: Record<string, string>;
  body: unknown;
  format: "json" | "msgpack";
  /** The frames before the payload (the envelope echoed back). */
  envelope: Buffer[];
}

function decodeReply(frames: Buffer[]): Reply {
  const payload = frames[frames.length - 1]!;
  const json = payload[0] === 0x7b;
  const v = (json ? JSON.parse(payload.toString("utf8")) : mpDecode(payload)) as Omit<Reply, "format" | "envelope">;
  return { status: v.status, headers: v.headers, body: v.body, format: json ? "json" : "msgpack", envelope: frames.slice(0, -1) };
}

const requestOf = (o: { href: string; action: string; headers?: Record<string, unknown>; body?: unknown }): Record<string, unknown> => {
  const doc: Record<string, unknown> = { href: o.href, action: o.action, headers: { "Client-ID": CLIENT, ...o.headers } };
  if (o.body !== undefined) doc.body = o.body;
  return doc;
};
const CLIENT = randomUUID();
const request = requestOf;
const asMsgpack = (v: unknown): Buffer => Buffer.from(mpEncode(v));
const asJson = (v: unknown): Buffer => Buffer.from(JSON.stringify(v));

/** An error reply as v1 has it: the status, a {title, description} body, a Content-Type for its codec. */
function isErrorReply(r: Reply, status: number): boolean {
  const b = r.body as { title?: unknown; description?: unknown } | null;
  return (
    r.status === status &&
    typeof b === "object" &&
    b !== null &&
    typeof b.title === "string" &&
    b.title.length > 0 &&
    typeof b.description === "string" &&
    b.description.length > 0 &&
    r.headers["Content-Type"] === (r.format === "json" ? "application/json" : "application/x-msgpack")
  );
}

// ---- the harness: a server, a raw DEALER, a bystander, and bookkeeping ---------------------------

interface Harness {
  server: QueueServer;
  lines: LogLine[];
  raw: Raw;
  /** Requests and error replies this test expects the server to have counted (beyond the bystander's). */
  expect: { requests: number; errors: number };
  /** Error descriptions seen in replies to bad requests (the warning keys are made from them). */
  badKinds: Set<string>;
  started: number;
  /** X-Auth-Token for the harness's own good requests and the bystander. */
  token: string | undefined;
  by: Bystander;
}

/** A DEALER that sends frames as given and reads replies with a bounded wait. */
class Raw {
  readonly dealer = new Dealer({ linger: 0 });
  readonly events = watch(this.dealer);

  constructor(
    readonly h: () => Harness,
    address: string,
  ) {
    this.dealer.connect(address);
  }

  /** Sends one message (one frame or several) and returns the reply. */
  async ask(frames: Buffer | Buffer[], ms = 3000): Promise<Reply> {
    await this.dealer.send(frames);
    return this.next(ms);
  }

  async next(ms = 3000): Promise<Reply> {
    return decodeReply(await within(this.dealer.receive(), ms, "a reply"));
  }

  /** A bad request: 400 (or `status`) with an error body; counted as a request and an error. */
  async bad(t: Test, frames: Buffer | Buffer[], what: string, status = 400): Promise<Reply> {
    const r = await this.ask(frames);
    const h = this.h();
    h.expect.requests++;
    h.expect.errors++;
    if (!isErrorReply(r, status)) t.fail(`${what}: expected ${status} with {title, description}, got ${JSON.stringify(r).slice(0, 300)}`);
    else h.badKinds.add((r.body as { description: string }).description.slice(0, 40));
    return r;
  }

  /** A good request; counted. */
  async good(frames: Buffer | Buffer[]): Promise<Reply> {
    const r = await this.ask(frames);
    const h = this.h();
    h.expect.requests++;
    if (r.status >= 400) h.expect.errors++;
    return r;
  }

  close(): void {
    this.dealer.close();
  }
}

/** Posts in pipelined batches until stopped, then checks every acknowledged post reads back. */
interface Bystander {
  /** Stops posting, reads every acknowledged post back, closes the client. */
  stop(): Promise<{ requests: number; posted: number; problems: string[] }>;
  /** For teardown: closes the client whatever state it is in. */
  close(): void;
}

function bystander(address: string, authToken?: string): Bystander {
  const c = new QueueClient({ address, authToken, timeout: 5000 });
  const problems: string[] = [];
  const posted = new Map<string, number>();
  let requests = 0;
  let stopped = false;
  let n = 0;
  const loop = async (): Promise<void> => {
    await c.createQueue("bystander");
    requests++;
    while (!stopped) {
      const batch = Array.from({ length: 8 }, () => n++);
      requests += batch.length;
      const ids = await Promise.all(batch.map((k) => c.post("bystander", { body: { k }, ttl: 300 }).then((x) => x[0]!)));
      ids.forEach((id, i) => posted.set(id, batch[i]!));
      await new Promise((r) => setImmediate(r));
    }
  };
  const running = loop().catch((e: unknown) => void problems.push(`bystander: ${String(e)}`));
  return {
    async stop() {
      stopped = true;
      await within(running, 10_000, "the bystander to stop");
      const ids = [...posted.keys()];
      for (let i = 0; i < ids.length; i += 20) {
        const chunk = ids.slice(i, i + 20);
        requests++;
        const got = await c.getMany("bystander", chunk);
        const byId = new Map(got.map((m) => [m.id, m]));
        for (const id of chunk) {
          if ((byId.get(id)?.body as { k?: number } | undefined)?.k !== posted.get(id)) problems.push(`bystander: ${id} does not read back`);
        }
      }
      c.close();
      return { requests, posted: posted.size, problems };
    },
    close() {
      stopped = true;
      c.close();
    },
  };
}

/** A server with a captured log, a raw DEALER on it, and a bystander posting from the start. */
async function harness(t: Test, options: QueueServerOptions = {}, token?: string): Promise<Harness> {
  const lines: LogLine[] = [];
  const server = new QueueServer({ endpoint: "tcp://127.0.0.1:0", logger: captureLogger(lines), ...options });
  await server.start();
  t.teardown(() => server.stop());
  const h: Harness = {
    server,
    lines,
    raw: undefined as unknown as Raw,
    expect: { requests: 0, errors: 0 },
    badKinds: new Set(),
    started: Date.now(),
    token,
    by: bystander(server.endpoint, token),
  };
  t.teardown(() => h.by.close());
  h.raw = new Raw(() => h, server.endpoint);
  t.teardown(() => h.raw.close());
  return h;
}

let uniq = 0;

/** The same DEALER still works: post a message, read it back (msgpack and JSON). */
async function stillWorks(t: Test, h: Harness, what: string): Promise<void> {
  const q = "after";
  const k = ++uniq;
  const request = (o: Parameters<typeof requestOf>[0]) => requestOf({ ...o, headers: { ...(h.token === undefined ? {} : { "X-Auth-Token": h.token }), ...o.headers } });
  const put = await h.raw.good(asMsgpack(request({ href: `/v1/queues/${q}`, action: "PUT" })));
  const post = await h.raw.good(asJson(request({ href: `/v1/queues/${q}/messages`, action: "POST", headers: { Accept: "application/json", "X-Request-ID": `ok-${k}` }, body: [{ ttl: 60, body: { k } }] })));
  const href = (post.body as { resources?: string[] } | null)?.resources?.[0];
  const get = href === undefined ? undefined : await h.raw.good(asMsgpack(request({ href, action: "GET" })));
  const ok =
    (put.status === 201 || put.status === 204) &&
    post.status === 201 &&
    post.format === "json" &&
    post.headers["X-Request-ID"] === `ok-${k}` &&
    get?.status === 200 &&
    (get.body as { body?: { k?: number } }).body?.k === k;
  t.ok(ok, `${what}: the same DEALER still gets right answers`);
}

/** The end of a subtest: bystander intact, counters add up, only rate-limited warnings logged. */
async function settle(t: Test, h: Harness, opts: { expectedErrors?: RegExp } = {}): Promise<void> {
  const b = await h.by.stop();
  t.same(b.problems, [], `a second client's ${b.posted} pipelined posts were all acknowledged and read back`);
  t.ok(b.posted > 0, "the second client did post meanwhile");
  await until(() => h.server.counters.requests === h.expect.requests + b.requests, "the server to count every request", 3000).catch(() => {});
  t.same(
    { ...h.server.counters },
    { requests: h.expect.requests + b.requests, errors: h.expect.errors, unsent: 0 },
    "server.counters: every request counted once, every error reply counted, nothing unsent",
  );
  const errors = h.lines.filter((l) => l.level === "error" && !(opts.expectedErrors?.test(l.msg) ?? false));
  t.same(errors, [], "nothing failed inside the server");
  const warns = h.lines.filter((l) => l.level === "warn");
  t.same([...new Set(warns.map((l) => l.msg))].filter((m) => m !== "bad queue API request"), [], "the only warnings are about bad requests");
  const seconds = Math.ceil((Date.now() - h.started) / 1000) + 1;
  t.ok(warns.length <= h.badKinds.size * seconds, `warnings are rate-limited: ${warns.length} lines for ${h.expect.errors} bad requests of ${h.badKinds.size} kinds in ${seconds} s`);
}

// ---- undecodable frames ------------------------------------------------------------------------

t.test("garbage, random bytes, truncated msgpack, JSON that is not an object: 400 with a body", async (t) => {
  const h = await harness(t);
  await h.raw.good(asMsgpack(request({ href: "/v1/queues/gq", action: "PUT" })));
  const valid = asMsgpack(request({ href: "/v1/queues/gq/messages", action: "POST", body: [{ ttl: 60, body: "hello" }] }));

  const garbage: [string, Buffer, "json" | "msgpack"][] = [
    ["plain text", Buffer.from("hello, queue"), "msgpack"],
    ["an HTTP request", Buffer.from("GET /v1/queues HTTP/1.1\r\nHost: x\r\n\r\n"), "msgpack"],
    ["a NUL byte", Buffer.from([0]), "msgpack"],
    ["0xc1 (never used in msgpack)", Buffer.from([0xc1, 0x80]), "msgpack"],
    ["a msgpack array", asMsgpack([1, 2, 3]), "msgpack"],
    ["a msgpack string", asMsgpack("href"), "msgpack"],
    ["a msgpack integer", asMsgpack(42), "msgpack"],
    ["msgpack nil", asMsgpack(null), "msgpack"],
    ["a msgpack map with a bin value", asMsgpack({ href: new Uint8Array([1, 2]), action: "GET" }), "msgpack"],
    ["a msgpack map with an integer key", Buffer.from([0x81, 0x01, 0x02]), "msgpack"],
    ["a msgpack map with invalid UTF-8", Buffer.from([0x81, 0xa4, 0x68, 0x72, 0x65, 0x66, 0xa2, 0xff, 0xfe]), "msgpack"],
    ["the valid request with a trailing byte", Buffer.concat([valid, Buffer.from([0])]), "msgpack"],
    ["a JSON array", asJson([{ href: "/v1/queues", action: "GET" }]), "json"],
    ["a JSON array after whitespace", Buffer.from("  \n[1]"), "json"],
    ["a JSON number", Buffer.from("42"), "msgpack"],
    ["a JSON string", Buffer.from('"x"'), "msgpack"],
    ["JSON null", Buffer.from("null"), "msgpack"],
    ["JSON true", Buffer.from("true"), "msgpack"],
    ["an unterminated JSON object", Buffer.from('{"href": "/v1/queues", "action": '), "json"],
    ["JSON with a trailing comma", Buffer.from('{"href": "/v1/queues", "action": "GET",}'), "json"],
    ["JSON with invalid UTF-8", Buffer.concat([Buffer.from('{"href": "'), Buffer.from([0xff]), Buffer.from('"}')]), "json"],
    ["JSON nested 200 deep", Buffer.from(`{"href": "/v1/queues", "action": "GET", "body": ${"[".repeat(200)}${"]".repeat(200)}}`), "json"],
  ];
  for (const [what, bytes, format] of garbage) {
    const r = await h.raw.bad(t, bytes, what);
    t.equal(r.format, format, `${what}: 400 answered in ${format}`);
  }
  await stillWorks(t, h, "after the garbage list");

  // Every truncation of a valid request.
  let truncations = 0;
  for (let n = 1; n < valid.length; n++) {
    await h.raw.bad(t, valid.subarray(0, n), `the valid request cut to ${n} bytes`);
    truncations++;
  }
  t.pass(`${truncations} truncations of a ${valid.length}-byte request: each a 400`);
  t.equal((await h.raw.good(valid)).status, 201, "the whole request is still fine");
  await stillWorks(t, h, "after the truncations");

  // Random bytes, and random bytes behind a msgpack map header or a JSON brace.
  const frames = fc.oneof(
    fc.uint8Array({ minLength: 1, maxLength: 300 }),
    fc.tuple(fc.integer({ min: 0x80, max: 0x8f }), fc.uint8Array({ maxLength: 200 })).map(([b, rest]) => new Uint8Array([b, ...rest])),
    fc.tuple(fc.constantFrom(0xde, 0xdf), fc.uint8Array({ maxLength: 200 })).map(([b, rest]) => new Uint8Array([b, ...rest])),
    fc.string({ maxLength: 100 }).map((s) => new TextEncoder().encode(`{${s}`)),
  );
  let runs = 0;
  await fc.assert(
    fc.asyncProperty(frames, async (bytes) => {
      runs++;
      const r = await h.raw.bad(t, Buffer.from(bytes), `random frame ${Buffer.from(bytes).toString("hex").slice(0, 40)}`);
      return r.status === 400;
    }),
    { numRuns: 400 },
  );
  t.pass(`${runs} random frames: each a 400 with a body`);
  await stillWorks(t, h, "after the random frames");
  await settle(t, h);
});

// ---- wrong types ---------------------------------------------------------------------------------

const nonString = fc.oneof(
  fc.integer(),
  fc.double({ noNaN: true, noDefaultInfinity: true }),
  fc.boolean(),
  fc.constant(null),
  fc.array(fc.string({ maxLength: 4 }), { maxLength: 3 }),
  fc.dictionary(fc.string({ maxLength: 4 }), fc.integer(), { maxKeys: 3 }),
);
const notAMap = fc.oneof(fc.integer(), fc.string({ maxLength: 8 }), fc.boolean(), fc.array(fc.integer(), { maxLength: 3 }));

t.test("wrong types in the envelope (fast-check): 400 with a body", async (t) => {
  const h = await harness(t);
  await h.raw.good(asMsgpack(request({ href: "/v1/queues/wq", action: "PUT" })));
  const field = <T>(good: fc.Arbitrary<T>, bad: fc.Arbitrary<unknown>) =>
    fc.oneof(good.map((v) => ({ ok: true, v: v as unknown })), bad.map((v) => ({ ok: false, v })));
  const href = field(fc.constantFrom("/v1/queues/wq/messages", "/v1/queues/wq", "/v1/health"), fc.oneof(nonString, fc.constant(""), fc.constant(undefined)));
  const action = field(
    fc.constantFrom("GET", "post", "Head"),
    fc.oneof(nonString, fc.constant(undefined), fc.string({ maxLength: 8 }).filter((s) => !VERBS.has(s.toUpperCase()))),
  );
  const headers = field(
    fc.constant({ "Client-ID": CLIENT }),
    fc.oneof(
      notAMap,
      fc.tuple(fc.constantFrom("Client-ID", "X-Project-ID", "Accept", "X-Whatever"), fc.oneof(fc.boolean(), fc.array(fc.integer(), { maxLength: 2 }), fc.dictionary(fc.string({ maxLength: 3 }), fc.integer(), { maxKeys: 2 }))).map(([k, v]) => ({ "Client-ID": CLIENT, [k]: v })),
    ),
  );
  let runs = 0;
  await fc.assert(
    fc.asyncProperty(href, action, headers, fc.jsonValue({ maxDepth: 2 }), fc.boolean(), async (hr, ac, he, body, json) => {
      fc.pre(!hr.ok || !ac.ok || !he.ok);
      runs++;
      const doc: Record<string, unknown> = { body };
      if (hr.v !== undefined) doc.href = hr.v;
      if (ac.v !== undefined) doc.action = ac.v;
      doc.headers = he.v;
      const r = await h.raw.bad(t, json ? asJson(doc) : asMsgpack(doc), `wrong types ${JSON.stringify(doc).slice(0, 120)}`);
      return r.status === 400;
    }),
    { numRuns: 300 },
  );
  t.ok(runs >= 250, `${runs} envelopes with a wrongly typed href, action or headers: each a 400`);
  await stillWorks(t, h, "after the wrongly typed envelopes");
  await settle(t, h);
});

t.test("bodies of the wrong type for each route: 400, nothing changes", async (t) => {
  const h = await harness(t);
  const c = new QueueClient({ address: h.server.endpoint, timeout: 5000 });
  t.teardown(() => c.close());
  await c.createQueue("bq");
  await c.setMetadata("bq", { keep: 1 });
  await c.post("bq", [{ body: 1 }, { body: 2 }, { body: 3 }]);
  const claim = (await c.claim("bq", { limit: 1 }))!;
  const clientRequests = 7; // createQueue, setMetadata, post, claim; stats, getMetadata, getClaim
  const routes: { name: string; href: string; action: string; wrong: fc.Arbitrary<unknown>; fixed: unknown[] }[] = [
    {
      name: "POST messages",
      href: "/v1/queues/bq/messages",
      action: "POST",
      wrong: fc.oneof(
        fc.dictionary(fc.string({ maxLength: 4 }), fc.integer(), { maxKeys: 3 }),
        fc.integer(),
        fc.string({ maxLength: 8 }),
        fc.boolean(),
        fc.array(notAMap, { minLength: 1, maxLength: 3 }),
        fc.record({ ttl: fc.oneof(fc.string({ maxLength: 4 }), fc.boolean(), fc.double({ min: 60.01, max: 1e5, noNaN: true }).filter((x) => !Number.isInteger(x)), fc.integer({ max: 59 }), fc.integer({ min: 1_209_601 })), body: fc.jsonValue({ maxDepth: 1 }) }).map((m) => [m]),
        fc.record({ ttl: fc.integer({ min: 60, max: 3600 }) }).map((m) => [m, { ttl: 60, body: "fine" }]),
      ),
      fixed: [null, [], {}, "[]", [{ ttl: 60, body: 1 }, "not a message"], [{ ttl: 60, body: 1 }, { ttl: 59, body: 2 }]],
    },
    {
      name: "PUT metadata",
      href: "/v1/queues/bq/metadata",
      action: "PUT",
      wrong: notAMap,
      fixed: [null, [], "x", 1, true],
    },
    {
      name: "POST claims",
      href: "/v1/queues/bq/claims",
      action: "POST",
      wrong: fc.oneof(
        notAMap,
        fc.record({ ttl: fc.oneof(fc.string({ maxLength: 4 }), fc.boolean(), fc.integer({ max: 59 }), fc.integer({ min: 43_201 })), grace: fc.integer({ min: 60, max: 600 }) }),
        fc.record({ ttl: fc.integer({ min: 60, max: 600 }), grace: fc.oneof(fc.string({ maxLength: 4 }), fc.integer({ max: 59 }), fc.integer({ min: 43_201 })) }),
        fc.record({ ttl: fc.integer({ min: 60, max: 600 }) }),
      ),
      fixed: [null, [], "x", { ttl: "60", grace: 60 }, { grace: 60 }],
    },
    {
      name: "PATCH claim",
      href: `/v1/queues/bq/claims/${claim.id}`,
      action: "PATCH",
      wrong: fc.oneof(notAMap, fc.record({ ttl: fc.oneof(fc.string({ maxLength: 4 }), fc.boolean(), fc.integer({ max: 59 }), fc.integer({ min: 43_201 })) }), fc.constant({})),
      fixed: [null, [], { ttl: "120" }, { ttl: 43_201 }],
    },
  ];
  for (const route of routes) {
    for (const body of route.fixed) {
      const doc = request({ href: route.href, action: route.action, body: body ?? undefined });
      await h.raw.bad(t, asMsgpack(doc), `${route.name} with ${JSON.stringify(body)}`);
    }
    let runs = 0;
    await fc.assert(
      fc.asyncProperty(route.wrong, fc.boolean(), async (body, json) => {
        runs++;
        const doc = request({ href: route.href, action: route.action, body });
        const r = await h.raw.bad(t, json ? asJson(doc) : asMsgpack(doc), `${route.name} with ${JSON.stringify(body).slice(0, 100)}`);
        return r.status === 400;
      }),
      { numRuns: 60 },
    );
    t.pass(`${route.name}: ${route.fixed.length} fixed and ${runs} generated wrong bodies, each a 400`);
  }
  const stats = await c.stats("bq");
  t.same({ total: stats.total, claimed: stats.claimed }, { total: 3, claimed: 1 }, "no wrong post added a message, no wrong claim claimed one");
  t.same(await c.getMetadata("bq"), { keep: 1 }, "no wrong metadata replaced the metadata");
  t.equal((await c.getClaim("bq", claim.id))?.ttl, 300, "no wrong PATCH changed the claim");
  await stillWorks(t, h, "after the wrong bodies");
  h.expect.requests += clientRequests;
  await settle(t, h);
});

// ---- sizes and framing ---------------------------------------------------------------------------

t.test("oversize posts and metadata: 400 with a body, nothing stored", async (t) => {
  const h = await harness(t);
  await h.raw.good(asMsgpack(request({ href: "/v1/queues/big", action: "PUT" })));
  const big = "x".repeat(300 * 1024);
  for (const [name, enc] of [["msgpack", asMsgpack], ["JSON", asJson]] as const) {
    const one = await h.raw.bad(t, enc(request({ href: "/v1/queues/big/messages", action: "POST", body: [{ ttl: 60, body: big }] })), `a 300 KiB post in ${name}`);
    t.match(one.body, { title: String, description: /too large/i }, `${name}: the description says it is too large`);
    const many = Array.from({ length: 10 }, () => ({ ttl: 60, body: "y".repeat(27 * 1024) }));
    await h.raw.bad(t, enc(request({ href: "/v1/queues/big/messages", action: "POST", body: many })), `ten 27 KiB messages (270 KiB) in one ${name} post`);
    const meta = await h.raw.bad(t, enc(request({ href: "/v1/queues/big/metadata", action: "PUT", body: { m: "z".repeat(70 * 1024) } })), `70 KiB of metadata in ${name}`);
    t.match(meta.body, { description: /too large/i });
  }
  const justUnder = await h.raw.good(asMsgpack(request({ href: "/v1/queues/big/messages", action: "POST", body: [{ ttl: 60, body: "x".repeat(250 * 1024) }] })));
  t.equal(justUnder.status, 201, "a 250 KiB post is fine");
  const stats = await h.raw.good(asMsgpack(request({ href: "/v1/queues/big/stats", action: "GET" })));
  t.equal((stats.body as { messages: { total: number } }).messages.total, 1, "only that one was stored");
  await stillWorks(t, h, "after the oversize posts");
  await settle(t, h);
});

t.test("multi-frame and empty requests: 400; a REQ-style delimiter is fine", async (t) => {
  const h = await harness(t);
  const health = asMsgpack(request({ href: "/v1/health", action: "GET" }));
  const empty = Buffer.alloc(0);
  const two = await h.raw.bad(t, [health, health], "two request frames");
  t.match((two.body as { description: string }).description, /exactly one frame/);
  await h.raw.bad(t, [health, health, health], "three request frames");
  await h.raw.bad(t, empty, "an empty frame");
  await h.raw.bad(t, [health, empty], "a request and an empty frame");
  await h.raw.bad(t, [empty, empty, health], "two delimiters");
  const req = await h.raw.good([empty, health]);
  t.equal(req.status, 204, "[empty, request] (as a REQ sends it) is a request");
  t.same(req.envelope, [empty], "and the reply carries the delimiter back");
  await stillWorks(t, h, "after the framing errors");
  await settle(t, h);
});

t.test("a frame over maxRequestBytes drops that connection; the server and other connections go on", async (t) => {
  const h = await harness(t);
  await stillWorks(t, h, "before");
  // A DEALER sending 5 MiB: disconnected, reconnects by itself, and is served again.
  const five = Buffer.alloc(5 * 1024 * 1024, 0x61);
  await h.raw.dealer.send(five);
  await h.raw.events.wait("disconnect", 1, 5000);
  t.pass("the DEALER that sent 5 MiB was disconnected");
  await h.raw.events.wait("handshake", 2, 5000);
  t.pass("and reconnected by itself");
  await stillWorks(t, h, "after its 5 MiB frame");
  t.equal(h.raw.events.count("disconnect"), 1, "one disconnect only");

  // On a raw connection: a valid request, then a frame header announcing 5 MiB. The server answers
  // the request, then closes the connection without waiting for the 5 MiB.
  const conn = await dialFake(h.server.endpoint);
  t.teardown(() => conn.destroy());
  await conn.handshake("DEALER");
  const header = Buffer.alloc(9);
  header[0] = LONG;
  header.writeBigUInt64BE(BigInt(5 * 1024 * 1024), 1);
  // (Sent after the reply: in the same write, the connection is closed before the reply to the
  // request ahead of the header goes out, and the reply is lost with it, as in libzmq.)
  conn.send([asMsgpack(request({ href: "/v1/health", action: "GET", headers: { "X-Request-ID": "before" } }))]);
  const firstReply = await conn.readMessage();
  h.expect.requests++;
  t.equal(decodeReply(firstReply).headers["X-Request-ID"], "before", "a request on that connection is answered");
  conn.write(Buffer.concat([header, Buffer.alloc(1024)]));
  await conn.waitEnd(3000);
  t.pass("the connection that announced 5 MiB is closed before the body arrives");

  // A request just under the limit on a fresh connection is read whole (and refused as too large a post).
  const limit = 4 * 1024 * 1024;
  const under = asMsgpack(request({ href: "/v1/queues/after/messages", action: "POST", body: [{ ttl: 60, body: "x".repeat(limit - 200) }] }));
  t.ok(under.length < limit, "the request is just under maxRequestBytes");
  const r = await h.raw.bad(t, under, "a 4 MiB post");
  t.match((r.body as { description: string }).description, /too large/i, "it gets the post-size 400, not a dropped connection");
  t.equal(h.raw.events.count("disconnect"), 1, "and costs no connection");
  await stillWorks(t, h, "at the end");
  await settle(t, h);
});

// ---- authentication ----------------------------------------------------------------------------

t.test("static tokens: missing or wrong token 401 with a body, the right one works", async (t) => {
  const h = await harness(t, { authTokens: ["s3cret"] }, "s3cret");
  t.equal(h.server.authenticated, true);
  const list = (headers: Record<string, unknown>) => asMsgpack(request({ href: "/v1/queues", action: "GET", headers }));
  for (const [what, headers] of [
    ["no token", {}],
    ["a wrong token", { "X-Auth-Token": "guess" }],
    ["an empty token", { "X-Auth-Token": "" }],
    ["the token with a trailing space", { "X-Auth-Token": "s3cret " }],
    ["a prefix of the token", { "X-Auth-Token": "s3cre" }],
  ] as const) {
    const r = await h.raw.bad(t, list(headers), what, 401);
    t.match(r.body, { title: String, description: /X-Auth-Token/ }, `${what}: 401 says what is needed`);
  }
  const lower = await h.raw.good(asMsgpack(request({ href: "/v1/queues/tq", action: "PUT", headers: { "x-auth-token": "s3cret" } })));
  t.equal(lower.status, 201, "the right token works (header names are case-insensitive)");
  const c = new QueueClient({ address: h.server.endpoint, authToken: "s3cret", timeout: 3000 });
  t.teardown(() => c.close());
  const [id] = await c.post("tq", { body: "authorized" });
  t.equal((await c.get("tq", id!))?.body, "authorized", "a QueueClient with the token works");
  const denied = new QueueClient({ address: h.server.endpoint, timeout: 3000 });
  t.teardown(() => denied.close());
  await t.rejects(denied.post("tq", { body: "nope" }), { code: "E401", status: 401 }, "a QueueClient without it gets E401");
  h.expect.requests += 3;
  h.expect.errors += 1;
  t.equal((await c.stats("tq")).total, 1, "the refused post stored nothing");
  h.expect.requests += 1;
  await stillWorks(t, h, "at the end");
  await settle(t, h);
});

t.test("a slow async verifier: each peer's requests are answered, and applied, in request order", async (t) => {
  const seen: string[] = [];
  const calls = new Map<string, number>();
  // Each peer's later requests are verified sooner (50 ms down to 0): completion order is the
  // reverse of arrival.
  const verifier = async ({ token, peer }: { token: string | undefined; peer: string }): Promise<boolean> => {
    const k = calls.get(peer) ?? 0;
    calls.set(peer, k + 1);
    seen.push(peer);
    await sleep(Math.max(0, 50 - (k % 20) * 3));
    return token === "good";
  };
  const h = await harness(t, { verifier }, "good");
  t.equal(h.server.authenticated, true);
  await h.raw.good(asMsgpack(request({ href: "/v1/queues/vq", action: "PUT", headers: { "X-Auth-Token": "good" } })));
  // 20 pipelined requests from one DEALER: posts with the good token, every third one without.
  const n = 20;
  for (let i = 0; i < n; i++) {
    const headers = { "X-Request-ID": String(i), ...(i % 3 === 2 ? {} : { "X-Auth-Token": "good" }) };
    await h.raw.dealer.send(asMsgpack(request({ href: "/v1/queues/vq/messages", action: "POST", headers, body: [{ ttl: 60, body: i }] })));
  }
  const started = Date.now();
  const replies: Reply[] = [];
  for (let i = 0; i < n; i++) replies.push(await h.raw.next(3000));
  h.expect.requests += n;
  h.expect.errors += replies.filter((r) => r.status >= 400).length;
  t.same(replies.map((r) => r.headers["X-Request-ID"]), Array.from({ length: n }, (_, i) => String(i)), "replies come in request order");
  t.same(replies.map((r) => r.status), Array.from({ length: n }, (_, i) => (i % 3 === 2 ? 401 : 201)), "each with its own verdict");
  t.ok(replies.filter((r) => r.status === 401).every((r) => isErrorReply(r, 401)), "401s carry a body");
  t.ok(Date.now() - started < 2000, `the verifications overlap (${Date.now() - started} ms for ${n})`);
  // The posts that were let through went in the order they were sent.
  const list = await h.raw.good(asMsgpack(request({ href: "/v1/queues/vq/messages?echo=true&limit=20", action: "GET", headers: { "X-Auth-Token": "good" } })));
  t.same((list.body as { messages: { body: number }[] }).messages.map((m) => m.body), Array.from({ length: n }, (_, i) => i).filter((i) => i % 3 !== 2), "and stored in request order");
  // What a pipelining client relies on: a queue created and posted to in one go.
  const c = new QueueClient({ address: h.server.endpoint, authToken: "good", timeout: 3000 });
  t.teardown(() => c.close());
  const [created, posted] = await Promise.all([c.createQueue("fresh"), c.post("fresh", { body: "first" }).catch((e: Error) => e)]);
  h.expect.requests += 2;
  if (posted instanceof Error) h.expect.errors++;
  t.equal(created, true, "PUT fresh: created");
  t.ok(Array.isArray(posted), `a post pipelined right behind the PUT of its queue finds the queue (got ${posted instanceof Error ? posted.message : "ids"})`);
  // Two DEALERs interleaved: each one's own replies stay in order.
  const other = new Raw(() => h, h.server.endpoint);
  t.teardown(() => other.close());
  for (let i = 0; i < 10; i++) {
    await h.raw.dealer.send(asMsgpack(request({ href: "/v1/health", action: "GET", headers: { "X-Request-ID": `a${i}`, "X-Auth-Token": "good" } })));
    await other.dealer.send(asMsgpack(request({ href: "/v1/health", action: "GET", headers: { "X-Request-ID": `b${i}`, "X-Auth-Token": "good" } })));
  }
  const a: string[] = [];
  const b: string[] = [];
  for (let i = 0; i < 10; i++) a.push((await h.raw.next()).headers["X-Request-ID"]!);
  for (let i = 0; i < 10; i++) b.push((await other.next()).headers["X-Request-ID"]!);
  h.expect.requests += 20;
  t.same(a, Array.from({ length: 10 }, (_, i) => `a${i}`), "first DEALER: in order");
  t.same(b, Array.from({ length: 10 }, (_, i) => `b${i}`), "second DEALER: in order");
  t.ok(seen.length >= n + 21, "the verifier saw every request");
  await stillWorks(t, h, "at the end");
  await settle(t, h);
});

t.test("a verifier that throws or rejects: 503 with a body, and the server goes on", async (t) => {
  for (const [what, verifier] of [
    ["throws", (): boolean => {
      throw new Error("token service down");
    }],
    ["rejects", async (): Promise<boolean> => {
      await sleep(5);
      throw new Error("token service timed out");
    }],
  ] as const) {
    await t.test(`a verifier that ${what}`, async (t) => {
      // It fails on the token "boom" only, so the bystander (token "ok") keeps working meanwhile.
      const h = await harness(t, { verifier: (a) => (a.token === "boom" ? verifier() : a.token === "ok") }, "ok");
      for (let i = 0; i < 3; i++) {
        const r = await h.raw.bad(t, asMsgpack(request({ href: "/v1/queues/vv", action: "PUT", headers: { "X-Auth-Token": "boom", "X-Request-ID": `r${i}` } })), `request ${i} while the verifier ${what}`, 503);
        t.equal(r.headers["X-Request-ID"], `r${i}`, "the 503 echoes X-Request-ID");
        t.equal(r.headers["Retry-After"], "30", "and says when to retry");
        t.match(r.body, { description: "Authentication is unavailable." });
      }
      t.ok(h.lines.some((l) => l.level === "error" && l.msg === "the token verifier failed"), "the failure is logged as an error");
      const ok = await h.raw.good(asMsgpack(request({ href: "/v1/queues/vv", action: "PUT", headers: { "X-Auth-Token": "ok" } })));
      t.equal(ok.status, 201, "the failed requests created nothing; a verified one does");
      await stillWorks(t, h, "at the end");
      await settle(t, h, { expectedErrors: /^the token verifier failed$/ });
    });
  }
});
