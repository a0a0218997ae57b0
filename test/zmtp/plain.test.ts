// PLAIN (RFC 24) and the authentication hook in the sans-I/O core: spec/vectors/plain.json through
// the typed PLAIN parsers and encoders, byte-exact handshakes between two Sessions (allow, deny,
// sync and async verdicts, role and mechanism mismatches), every split of the handshake bytes,
// NULL holding READY until the application admits the peer, and fast-check runs that feed random
// and mutated handshakes and require a typed ZmtpError or success, never a throw or a hang.

import t from "tap";
import fc from "fast-check";
import { readFileSync } from "node:fs";
import {
  COMMAND,
  FrameDecoder,
  MORE,
  NullMechanism,
  PlainClient,
  PlainServer,
  Session,
  ZmtpError,
  concat,
  encodeError,
  encodeFrame,
  encodePlainError,
  parsePlainCommand,
  encodeGreeting,
  encodeHello,
  encodeInitiate,
  encodeReady,
  encodeWelcome,
  normalizeVerdict,
  parseCommand,
  parseError,
  parseHello,
  parseMetadata,
  type AuthRequest,
  type AuthVerdict,
  type Mechanism,
  type PeerInfo,
  type SessionOptions,
} from "../../src/zmtp/index.js";

const ascii = (s: string) => new TextEncoder().encode(s);
const fromHex = (h: string) => Uint8Array.from(Buffer.from(h, "hex"));
const toHex = (b: Uint8Array) => Buffer.from(b.buffer, b.byteOffset, b.length).toString("hex");
const text = (b: Uint8Array) => Buffer.from(b).toString("latin1");
const errOf = (e: ZmtpError) => ({ code: e.code, reason: e.reason });

// ---- spec/vectors/plain.json --------------------------------------------------------------------

interface PlainCommandExpect {
  name: string;
  dataHex: string;
  usernameHex?: string;
  passwordHex?: string;
  metadata?: [string, string][];
  reason?: string;
}
interface PlainVector {
  name: string;
  description: string;
  hex: string;
  encode?: boolean;
  spelling?: "libzmq";
  expect: { command: PlainCommandExpect };
}
const vectors = JSON.parse(readFileSync(new URL("../../spec/vectors/plain.json", import.meta.url), "utf8")) as {
  schema: string;
  kind: string;
  vectors: PlainVector[];
};
const vector = (name: string) => fromHex(vectors.vectors.find((v) => v.name === name)!.hex);

// The byte strings the handshakes below must produce (cross-checked against the vectors).
const HELLO_ADMIN = vector("plain-hello-admin-password");
const WELCOME = vector("plain-welcome");
const INITIATE_DEALER = vector("plain-initiate-dealer-empty-identity");
const READY_ROUTER = vector("plain-ready-router");
const ERROR_400 = vector("plain-error-400");
const ERROR_300 = vector("plain-error-300");
const ERROR_500 = vector("plain-error-500");
// What our PLAIN server actually sends when it refuses: libzmq's spelling of ERROR (see plain.ts).
const PLAIN_ERROR_400 = vector("plain-error-400-libzmq");
const PLAIN_ERROR_300 = vector("plain-error-300-libzmq");
const PLAIN_ERROR_500 = vector("plain-error-500-libzmq");

/** Decodes one whole command frame. */
function decodeOne(bytes: Uint8Array) {
  const got: { flags: number; body: Uint8Array }[] = [];
  const err = new FrameDecoder((flags, body) => got.push({ flags, body: body.slice() })).push(bytes);
  if (err) throw err;
  if (got.length !== 1 || !(got[0]!.flags & COMMAND)) throw new Error("not one command frame");
  const cmd = parsePlainCommand(got[0]!.body);
  if (cmd instanceof ZmtpError) throw cmd;
  return cmd;
}

t.test("plain.json: well-formed, parsed by the PLAIN parsers, re-encoded byte for byte", async (t) => {
  t.equal(vectors.schema, "emq-zmtp-vectors/1");
  t.equal(vectors.kind, "commands", "generic command vectors: the conformance runner reads them too");
  const names = new Set<string>();
  for (const v of vectors.vectors) {
    t.notOk(names.has(v.name), `${v.name}: unique`);
    names.add(v.name);
    t.match(v.hex, /^([0-9a-f]{2})*$/);
    const bytes = fromHex(v.hex);
    const cmd = decodeOne(bytes);
    // Whole, split at every offset and octet by octet: one and the same command frame.
    const body = bytes.subarray(bytes[0] === 0x06 ? 9 : 2);
    const ways: Uint8Array[][] = [Array.from(bytes, (_, i) => bytes.subarray(i, i + 1))];
    for (let i = 1; i < bytes.length; i++) ways.push([bytes.subarray(0, i), bytes.subarray(i)]);
    let same = 0;
    for (const chunks of ways) {
      const bodies: Uint8Array[] = [];
      const d = new FrameDecoder((_f, b) => bodies.push(b.slice()));
      for (const c of chunks) if (d.push(c)) break;
      if (bodies.length === 1 && toHex(bodies[0]!) === toHex(body)) same++;
    }
    t.equal(same, ways.length, `${v.name}: every split decodes the same command`);
    const c = v.expect.command;
    t.equal(cmd.name, c.name, `${v.name}: name`);
    t.equal(toHex(cmd.data), c.dataHex, `${v.name}: data`);
    let encoded: Uint8Array;
    switch (c.name) {
      case "HELLO": {
        const h = parseHello(cmd.data);
        t.notOk(h instanceof ZmtpError, `${v.name}: HELLO parses`);
        if (h instanceof ZmtpError) continue;
        t.equal(toHex(h.username), c.usernameHex);
        t.equal(toHex(h.password), c.passwordHex);
        encoded = encodeHello(fromHex(c.usernameHex!), fromHex(c.passwordHex!));
        break;
      }
      case "WELCOME":
        t.equal(cmd.data.length, 0);
        encoded = encodeWelcome();
        break;
      case "INITIATE":
      case "READY": {
        const m = parseMetadata(cmd.data);
        t.notOk(m instanceof ZmtpError);
        if (m instanceof ZmtpError) continue;
        t.same([...m].map(([k, val]) => [k, toHex(val)]), c.metadata!.map(([k, h]) => [k.toLowerCase(), h]));
        const props = c.metadata!.map(([k, h]) => [k, fromHex(h)] as const);
        encoded = c.name === "READY" ? encodeReady(props) : encodeInitiate(props);
        break;
      }
      case "ERROR":
        t.equal(parseError(cmd.data), c.reason);
        encoded = (v.spelling === "libzmq" ? encodePlainError : encodeError)(c.reason!);
        break;
      default:
        t.fail(`${v.name}: unexpected command ${c.name}`);
        continue;
    }
    if (v.encode) t.equal(toHex(encodeFrame(COMMAND, encoded)), v.hex, `${v.name}: typed encoder reproduces the bytes`);
  }
  // Pinned lengths: RFC 24 layout, counted by hand.
  t.equal(HELLO_ADMIN.length, 2 + 6 + 1 + 5 + 1 + 8);
  t.equal(toHex(WELCOME), "04080757454c434f4d45");
  t.equal(toHex(ERROR_400), "040a054552524f5203343030");
  t.equal(toHex(PLAIN_ERROR_400), "04095e52524f5203343030", "libzmq's PLAIN ERROR: 5E 'RROR', no name length");
  t.equal(INITIATE_DEALER.length, 2 + 9 + (1 + 11 + 4 + 6) + (1 + 8 + 4));
});

t.test("HELLO parser: exact lengths only; encoder refuses over-long fields", async (t) => {
  const bad = (hex: string, why: string) => {
    const r = parseHello(fromHex(hex));
    t.ok(r instanceof ZmtpError, why);
    if (r instanceof ZmtpError) t.same(errOf(r), { code: "EPROTO", reason: "malformed-command" }, why);
  };
  bad("", "empty");
  bad("05616263", "username runs past the end");
  bad("03616263", "no password length");
  bad("0361626302ff", "password runs past the end");
  bad("00000000", "trailing octets");
  const ok = parseHello(fromHex("0000"));
  t.notOk(ok instanceof ZmtpError, "empty credentials are fine");
  t.throws(() => encodeHello(new Uint8Array(256), new Uint8Array(0)), RangeError);
  t.throws(() => encodeHello(new Uint8Array(0), new Uint8Array(256)), RangeError);
  t.throws(() => new PlainClient("x".repeat(256), ""), RangeError);
  t.throws(() => new PlainClient("", "é".repeat(128)), RangeError, "lengths count UTF-8 octets");
  t.doesNotThrow(() => new PlainClient("x".repeat(255), "y".repeat(255)));
});

t.test("verdicts: defaults, clamped statuses, fail-closed on junk", async (t) => {
  t.same(normalizeVerdict(true), { allow: true, status: 200, reason: "" });
  t.same(normalizeVerdict(false), { allow: false, status: 400, reason: "" });
  t.same(normalizeVerdict({ allow: false, status: 300, reason: "later" }), { allow: false, status: 300, reason: "later" });
  t.same(normalizeVerdict({ allow: false, status: 200 }), { allow: false, status: 400, reason: "" }, "200 is no refusal");
  t.same(normalizeVerdict({ allow: false, status: 404.5 }).status, 400);
  t.same(normalizeVerdict({ allow: false, status: 600 }).status, 400);
  t.same(normalizeVerdict({ allow: true, status: 400 }).allow, true, "allow decides");
  for (const junk of [undefined, null, 1, "yes", {}, { allow: "true" }]) {
    const v = normalizeVerdict(junk);
    t.same([v.allow, v.status], [false, 500], `${JSON.stringify(junk)} refuses with 500`);
  }
});

// ---- two sessions -------------------------------------------------------------------------------

interface Side {
  s: Session;
  ready: PeerInfo[];
  errors: ZmtpError[];
  messages: Uint8Array[][];
  asked: AuthRequest[];
}

/** A session; `answer` (if any) is called for each authentication question, synchronously. */
function side(opts: SessionOptions, answer?: (req: AuthRequest, s: Session) => void): Side {
  const x = { ready: [], errors: [], messages: [], asked: [] } as unknown as Side;
  x.s = new Session(opts, {
    ready: (p) => x.ready.push(p),
    message: (f) => x.messages.push(f.map((b) => b.slice())),
    error: (e) => x.errors.push(e),
    authenticate: (req) => {
      x.asked.push(req);
      answer?.(req, x.s);
    },
  });
  return x;
}

const client = (user = "admin", pass = "password", type: SessionOptions["socketType"] = "DEALER") =>
  side({ socketType: type, mechanism: new PlainClient(user, pass) });

function server(answer?: (req: AuthRequest, s: Session) => void, authenticate = true) {
  return side({ socketType: "ROUTER", mechanism: new PlainServer(), authenticate }, answer);
}

/** Moves staged output both ways until quiet; records each direction's bytes. */
function pump(a: Session, b: Session, bytewise = false): { ab: Uint8Array[]; ba: Uint8Array[] } {
  const log = { ab: [] as Uint8Array[], ba: [] as Uint8Array[] };
  for (let rounds = 0; rounds < 100; rounds++) {
    const ab = concat(a.writer.take());
    const ba = concat(b.writer.take());
    if (ab.length === 0 && ba.length === 0) return log;
    if (ab.length) log.ab.push(ab);
    if (ba.length) log.ba.push(ba);
    for (const [bytes, to] of [
      [ab, b],
      [ba, a],
    ] as const) {
      if (bytewise) for (let i = 0; i < bytes.length; i++) to.input(bytes.subarray(i, i + 1), 1);
      else if (bytes.length) to.input(bytes, 1);
    }
  }
  throw new Error("pump did not settle");
}

const PLAIN_CLIENT_GREETING = encodeGreeting("PLAIN", false);
const PLAIN_SERVER_GREETING = encodeGreeting("PLAIN", true);

t.test("PLAIN handshake, byte-exact: HELLO, WELCOME, INITIATE, READY; then messages both ways", async (t) => {
  for (const bytewise of [false, true]) {
    const c = client();
    const s = server((_req, ss) => ss.authenticated(true));
    c.s.start(0);
    s.s.start(0);
    const log = pump(c.s, s.s, bytewise);
    t.same(
      log.ab.map(toHex),
      [toHex(PLAIN_CLIENT_GREETING), toHex(HELLO_ADMIN), toHex(INITIATE_DEALER)],
      "client: greeting (as-server 0), HELLO, INITIATE",
    );
    t.same(log.ba.map(toHex), [toHex(PLAIN_SERVER_GREETING), toHex(WELCOME), toHex(READY_ROUTER)], "server: greeting (as-server 1), WELCOME, READY");
    t.same(c.errors, []);
    t.same(s.errors, []);
    t.equal(c.s.state, "ready");
    t.equal(s.s.state, "ready");
    t.equal(c.ready[0]!.socketType, "ROUTER");
    t.equal(s.ready[0]!.socketType, "DEALER");
    t.equal(s.asked.length, 1, "asked once");
    const q = s.asked[0]!;
    t.equal(q.mechanism, "PLAIN");
    t.equal(text(q.username!), "admin");
    t.equal(text(q.password!), "password");
    t.equal(q.socketType, "DEALER");
    t.equal(q.identity.length, 0);
    c.s.send([ascii("hi"), ascii("there")]);
    s.s.send([ascii("id"), ascii("back")], 1);
    pump(c.s, s.s, bytewise);
    t.same(s.messages.map((m) => m.map(text)), [["hi", "there"]]);
    t.same(c.messages.map((m) => m.map(text)), [["back"]]);
  }
});

t.test("PLAIN server without authenticate admits any credentials and asks nobody", async (t) => {
  const c = client("anyone", "");
  const s = server(undefined, false);
  c.s.start(0);
  s.s.start(0);
  pump(c.s, s.s);
  t.equal(c.s.state, "ready");
  t.equal(s.s.state, "ready");
  t.equal(s.asked.length, 0);
});

t.test("the request carries the peer's Identity, Socket-Type and metadata; empty credentials", async (t) => {
  const c = side({
    socketType: "DEALER",
    identity: ascii("worker-7"),
    properties: [["X-Tenant", ascii("blue")]],
    mechanism: new PlainClient("", ""),
  });
  const s = server((_r, ss) => ss.authenticated({ allow: true }));
  c.s.start(0);
  s.s.start(0);
  pump(c.s, s.s);
  const q = s.asked[0]!;
  t.equal(text(q.identity), "worker-7");
  t.equal(q.socketType, "DEALER");
  t.equal(text(q.metadata.get("x-tenant")!), "blue");
  t.equal(q.username!.length, 0);
  t.equal(q.password!.length, 0);
  t.equal(s.ready[0]!.identity && text(s.ready[0]!.identity), "worker-7");
});

t.test("deny: ERROR \"400\" on the wire, EACCES on both sides, nothing delivered, no reconnect", async (t) => {
  const c = client("admin", "wrong");
  const s = server((req, ss) => ss.authenticated(text(req.password!) === "password"));
  c.s.start(0);
  s.s.start(0);
  const log = pump(c.s, s.s);
  t.equal(toHex(log.ba.at(-1)!), toHex(PLAIN_ERROR_400), "the server's last words are ERROR 400 (libzmq's spelling)");
  t.same(s.errors.map(errOf), [{ code: "EACCES", reason: "auth-denied" }]);
  t.same(c.errors.map(errOf), [{ code: "EACCES", reason: "auth-denied" }]);
  t.match(s.errors[0]!.message, /status 400/);
  t.match(c.errors[0]!.message, /status 400/);
  t.equal(c.errors[0]!.reconnect, false);
  t.equal(s.errors[0]!.reconnect, false);
  t.equal(s.s.state, "closed");
  t.equal(c.s.state, "closed");
  t.same(c.ready, []);
  t.same(s.ready, []);
  // Whatever the client tries afterwards goes nowhere.
  c.s.input(concat([encodeFrame(0, ascii("sneaky"))]), 2);
  s.s.input(encodeFrame(0, ascii("sneaky")), 2);
  t.same(s.messages, []);
  t.same(c.messages, []);
});

t.test("deny with a status: 300 lets the client retry, 500 and the reason reach our error", async (t) => {
  for (const [status, bytes, retry] of [
    [300, PLAIN_ERROR_300, true],
    [500, PLAIN_ERROR_500, false],
    [404, fromHex("04095e52524f5203343034"), false],
  ] as const) {
    const c = client();
    const s = server((_r, ss) => ss.authenticated({ allow: false, status, reason: "ledger says no" }));
    c.s.start(0);
    s.s.start(0);
    const log = pump(c.s, s.s);
    t.equal(toHex(log.ba.at(-1)!), toHex(bytes), `ERROR "${status}"`);
    t.match(s.errors[0]!.message, new RegExp(`status ${status}: ledger says no`));
    t.same(c.errors.map(errOf), [{ code: "EACCES", reason: "auth-denied" }]);
    t.equal(c.errors[0]!.reconnect, retry, `client reconnects after ${status}: ${retry}`);
  }
});

t.test("async verdict: the handshake waits, then completes (or fails) when the answer comes", async (t) => {
  for (const allow of [true, false]) {
    const c = client();
    const s = server();
    c.s.start(0);
    s.s.start(0);
    pump(c.s, s.s);
    t.equal(s.asked.length, 1);
    t.ok(s.s.authenticating, "server is waiting for the verdict");
    t.equal(s.s.state, "handshake");
    t.equal(c.s.state, "handshake", "client still waits for READY");
    t.equal(s.s.poll(10), 30_000, "the handshake deadline still applies");
    await new Promise((r) => setTimeout(r, 5));
    s.s.authenticated(allow);
    t.notOk(s.s.authenticating);
    pump(c.s, s.s);
    t.equal(c.s.state, allow ? "ready" : "closed");
    t.equal(s.s.state, allow ? "ready" : "closed");
    // A second answer, or one after close, changes nothing.
    s.s.authenticated(!allow);
    t.equal(s.s.state, allow ? "ready" : "closed");
    t.equal(s.errors.length, allow ? 0 : 1);
  }
});

t.test("while the verdict is pending, the peer must stay quiet", async (t) => {
  const cases: [string, Uint8Array, { code: string; reason: string }][] = [
    ["a command", HELLO_ADMIN, { code: "EPROTO", reason: "unexpected-command" }],
    ["a PING", fromHex("040a0450494e4700004c4f4c"), { code: "EPROTO", reason: "unexpected-command" }],
    ["a message", encodeFrame(0, ascii("early")), { code: "EPROTO", reason: "message-before-handshake" }],
    ["ERROR (giving up)", encodeFrame(COMMAND, encodeError("bye")), { code: "EPEERERROR", reason: "peer-error" }],
  ];
  for (const [what, bytes, want] of cases) {
    const s = server();
    s.s.start(0);
    s.s.input(concat([PLAIN_CLIENT_GREETING, HELLO_ADMIN, INITIATE_DEALER]), 1);
    t.ok(s.s.authenticating, what);
    s.s.writer.take();
    s.s.input(bytes, 2);
    t.same(s.errors.map(errOf), [want], `${what} during the wait`);
    s.s.authenticated(true);
    t.equal(s.s.state, "closed", "a late allow is ignored");
    t.equal(s.s.writer.take().length, 0, "no READY after the failure");
    t.same(s.messages, []);
  }
  // Never answered: the handshake timeout ends it.
  const s = server();
  s.s.start(0);
  s.s.input(concat([PLAIN_CLIENT_GREETING, HELLO_ADMIN, INITIATE_DEALER]), 1);
  s.s.poll(30_000);
  t.same(s.errors.map(errOf), [{ code: "ETIMEDOUT", reason: "handshake-timeout" }]);
});

t.test("authenticate requested but no handler: refused with 500", async (t) => {
  const errors: ZmtpError[] = [];
  const s = new Session(
    { socketType: "ROUTER", mechanism: new PlainServer(), authenticate: true },
    { ready: () => t.fail("admitted"), message: () => {}, error: (e) => errors.push(e) },
  );
  s.start(0);
  s.writer.take();
  s.input(concat([PLAIN_CLIENT_GREETING, HELLO_ADMIN, INITIATE_DEALER]), 1);
  t.equal(toHex(concat(s.writer.take())), toHex(concat([WELCOME, PLAIN_ERROR_500])));
  t.same(errors.map(errOf), [{ code: "EACCES", reason: "auth-denied" }]);
});

t.test("incompatible Socket-Type is refused before anybody is asked", async (t) => {
  const c = client("admin", "password", "PUB");
  const s = server((_r, ss) => ss.authenticated(true));
  c.s.start(0);
  s.s.start(0);
  pump(c.s, s.s);
  t.equal(s.asked.length, 0);
  t.same(s.errors.map(errOf), [{ code: "ENOCOMPATPROTO", reason: "socket-type-mismatch" }]);
  t.same(c.errors.map(errOf), [{ code: "EPEERERROR", reason: "peer-error" }], "ERROR 'Invalid socket type' stays a peer error");
});

t.test("role and mechanism mismatches fail at the greeting with a clear reason", async (t) => {
  const pairs: [string, Mechanism, Mechanism, { code: string; reason: string }, RegExp][] = [
    ["server-server", new PlainServer(), new PlainServer(), { code: "EPROTO", reason: "role-mismatch" }, /both sides are PLAIN servers/],
    ["PLAIN-NULL", new PlainClient("a", "b"), new NullMechanism(), { code: "ENOCOMPATPROTO", reason: "mechanism-mismatch" }, /mechanism NULL/],
  ];
  for (const [what, ma, mb, want, msg] of pairs) {
    const a = side({ socketType: "DEALER", mechanism: ma });
    const b = side({ socketType: "ROUTER", mechanism: mb });
    a.s.start(0);
    b.s.start(0);
    const log = pump(a.s, b.s);
    t.same(a.errors.map(errOf), [want], `${what}: side A`);
    t.match(a.errors[0]!.message, msg);
    t.equal(b.errors.length, 1, `${what}: side B fails too`);
    t.equal(log.ab.length, 1, `${what}: A sent only its greeting`);
    t.equal(a.errors[0]!.reconnect, false);
  }
  // Two clients cannot tell at the greeting (libzmq's PLAIN server sends as-server 0 too), so each
  // gets the other's HELLO, which is a protocol error, and neither gets further.
  const a = side({ socketType: "DEALER", mechanism: new PlainClient("a", "b") });
  const b = side({ socketType: "ROUTER", mechanism: new PlainClient("c", "d") });
  a.s.start(0);
  b.s.start(0);
  pump(a.s, b.s);
  for (const [name, x] of [["A", a], ["B", b]] as const) {
    t.same(x.errors.map(errOf), [{ code: "EPROTO", reason: "unexpected-command" }], `client-client: side ${name}`);
    t.match(x.errors[0]!.message, /PLAIN client got HELLO/);
    t.same(x.ready, []);
  }
});

t.test("a client takes the as-server 0 that libzmq's PLAIN server sends", async (t) => {
  const c = client("admin", "password");
  c.s.start(0);
  c.s.writer.take();
  c.s.input(concat([encodeGreeting("PLAIN", false), WELCOME, READY_ROUTER]), 1);
  t.same(c.errors, []);
  t.equal(c.ready.length, 1, "handshake completes");
});

t.test("both spellings of ERROR refuse a PLAIN client with EACCES", async (t) => {
  for (const [what, bytes] of [
    ["RFC 23", ERROR_400],
    ["libzmq", PLAIN_ERROR_400],
  ] as const) {
    for (const after of ["HELLO", "INITIATE"]) {
      const c = client();
      c.s.start(0);
      c.s.writer.take();
      c.s.input(concat([PLAIN_SERVER_GREETING, ...(after === "INITIATE" ? [WELCOME] : []), bytes]), 1);
      t.same(c.errors.map(errOf), [{ code: "EACCES", reason: "auth-denied" }], `${what} spelling after ${after}`);
    }
  }
});

t.test("client: unexpected commands and a malformed WELCOME are protocol errors", async (t) => {
  for (const [what, bytes, reason] of [
    ["READY before WELCOME", READY_ROUTER, "unexpected-command"],
    ["HELLO from a server", HELLO_ADMIN, "unexpected-command"],
    ["WELCOME with data", encodeFrame(COMMAND, concat([encodeWelcome(), Uint8Array.of(1)])), "malformed-command"],
    ["a message", encodeFrame(0, ascii("x")), "message-before-handshake"],
  ] as const) {
    const c = client();
    c.s.start(0);
    c.s.input(concat([PLAIN_SERVER_GREETING, bytes]), 1);
    t.same(c.errors.map(errOf), [{ code: "EPROTO", reason }], what);
  }
  // Server: anything but HELLO first, a second HELLO, a malformed INITIATE.
  for (const [what, bytes, reason] of [
    ["INITIATE first", INITIATE_DEALER, "unexpected-command"],
    ["HELLO twice", concat([HELLO_ADMIN, HELLO_ADMIN]), "unexpected-command"],
    ["truncated HELLO", encodeFrame(COMMAND, fromHex("0548454c4c4f0561")), "malformed-command"],
    ["bad INITIATE metadata", concat([HELLO_ADMIN, encodeFrame(COMMAND, concat([ascii("\x08INITIATE"), Uint8Array.of(5, 65)]))]), "malformed-metadata"],
  ] as const) {
    const s = server();
    s.s.start(0);
    s.s.input(concat([PLAIN_CLIENT_GREETING, bytes]), 1);
    t.same(s.errors.map(errOf), [{ code: "EPROTO", reason }], what);
    t.equal(s.asked.length, 0);
  }
});

t.test("ERROR during the handshake: a 3-digit status is EACCES, anything else a peer error", async (t) => {
  for (const [reason, code] of [
    ["400", "EACCES"],
    ["300", "EACCES"],
    ["599", "EACCES"],
    ["200", "EPEERERROR"],
    ["4000", "EPEERERROR"],
    ["40", "EPEERERROR"],
    ["Invalid socket type", "EPEERERROR"],
  ] as const) {
    // A PLAIN client waiting for WELCOME, one waiting for READY, and a NULL client.
    const waits = [
      PLAIN_SERVER_GREETING,
      concat([PLAIN_SERVER_GREETING, WELCOME]),
    ];
    for (const prefix of waits) {
      const c = client();
      c.s.start(0);
      c.s.input(concat([prefix, encodeFrame(COMMAND, encodeError(reason))]), 1);
      t.same(c.errors.map((e) => e.code), [code], `PLAIN client, ERROR "${reason}"`);
    }
    const n = side({ socketType: "DEALER" });
    n.s.start(0);
    n.s.input(concat([encodeGreeting("NULL", false), encodeFrame(COMMAND, encodeError(reason))]), 1);
    t.same(n.errors.map((e) => e.code), [code], `NULL client, ERROR "${reason}"`);
  }
});

t.test("every split of the client's bytes gives the server the same handshake and output", async (t) => {
  const stream = concat([PLAIN_CLIENT_GREETING, HELLO_ADMIN, INITIATE_DEALER, encodeFrame(MORE, ascii("a")), encodeFrame(0, ascii("b"))]);
  const run = (chunks: Uint8Array[]) => {
    const s = server((_r, ss) => ss.authenticated(true));
    s.s.start(0);
    for (const c of chunks) s.s.input(c, 1);
    return JSON.stringify({
      out: toHex(concat(s.s.writer.take())),
      state: s.s.state,
      asked: s.asked.length,
      errors: s.errors.map(errOf),
      messages: s.messages.map((m) => m.map(text)),
    });
  };
  const want = run([stream]);
  t.same(JSON.parse(want).messages, [["a", "b"]]);
  t.equal(JSON.parse(want).state, "ready");
  let same = 0;
  for (let i = 1; i < stream.length; i++) if (run([stream.subarray(0, i), stream.subarray(i)]) === want) same++;
  t.equal(same, stream.length - 1, "split at every offset");
  t.equal(run(Array.from(stream, (_, i) => stream.subarray(i, i + 1))), want, "octet by octet");

  // The client side: the server's greeting, WELCOME and READY arriving in any split.
  const back = concat([PLAIN_SERVER_GREETING, WELCOME, READY_ROUTER, encodeFrame(0, ascii("z"))]);
  const runC = (chunks: Uint8Array[]) => {
    const c = client();
    c.s.start(0);
    for (const ch of chunks) c.s.input(ch, 1);
    return JSON.stringify({ out: toHex(concat(c.s.writer.take())), state: c.s.state, errors: c.errors.map(errOf), m: c.messages.length });
  };
  const wantC = runC([back]);
  t.equal(JSON.parse(wantC).state, "ready");
  t.equal(JSON.parse(wantC).out, toHex(concat([PLAIN_CLIENT_GREETING, HELLO_ADMIN, INITIATE_DEALER])));
  let sameC = 0;
  for (let i = 1; i < back.length; i++) if (runC([back.subarray(0, i), back.subarray(i)]) === wantC) sameC++;
  t.equal(sameC, back.length - 1, "client: split at every offset");
});

// ---- NULL with authenticate ---------------------------------------------------------------------

const NULL_GREETING = encodeGreeting("NULL", false);
const READY_DEALER = encodeFrame(COMMAND, encodeReady([["Socket-Type", ascii("DEALER")], ["Identity", new Uint8Array(0)]]));

t.test("NULL + authenticate: READY is held until the peer's READY is in and the answer is allow", async (t) => {
  const s = side({ socketType: "ROUTER", authenticate: true });
  s.s.start(0);
  t.equal(toHex(concat(s.s.writer.take())), toHex(NULL_GREETING), "greeting only");
  s.s.input(NULL_GREETING, 1);
  t.equal(s.s.writer.take().length, 0, "no READY after the greeting");
  s.s.input(READY_DEALER, 2);
  t.equal(s.asked.length, 1);
  t.equal(s.asked[0]!.mechanism, "NULL");
  t.equal(s.asked[0]!.socketType, "DEALER");
  t.equal(s.asked[0]!.username, undefined);
  t.equal(s.s.writer.take().length, 0, "still no READY while deciding");
  t.equal(s.s.state, "handshake");
  s.s.authenticated(true);
  t.equal(toHex(concat(s.s.writer.take())), toHex(READY_ROUTER), "READY once allowed");
  t.equal(s.s.state, "ready");
  t.equal(s.ready.length, 1);

  // Two sessions: a plain NULL dealer and the authenticating router, deny.
  const d = side({ socketType: "DEALER" });
  const r = side({ socketType: "ROUTER", authenticate: true }, (_q, rs) => rs.authenticated(false));
  d.s.start(0);
  r.s.start(0);
  const log = pump(d.s, r.s);
  t.same(log.ba.map(toHex), [toHex(NULL_GREETING), toHex(ERROR_400)], "the router sends ERROR 400 and never READY");
  t.same(d.errors.map(errOf), [{ code: "EACCES", reason: "auth-denied" }]);
  t.same(r.errors.map(errOf), [{ code: "EACCES", reason: "auth-denied" }]);

  // And allow, asynchronously, between two real sessions.
  const d2 = side({ socketType: "DEALER" });
  const r2 = side({ socketType: "ROUTER", authenticate: true });
  d2.s.start(0);
  r2.s.start(0);
  pump(d2.s, r2.s);
  t.equal(d2.s.state, "handshake", "the dealer waits for the router's READY");
  r2.s.authenticated({ allow: true });
  pump(d2.s, r2.s);
  t.equal(d2.s.state, "ready");
  t.equal(r2.s.state, "ready");
});

t.test("a sync answer inside the question, and messages in the same chunk, are handled in order", async (t) => {
  const s = side({ socketType: "ROUTER", authenticate: true }, (_q, ss) => ss.authenticated(true));
  s.s.start(0);
  // A (misbehaving but harmless) peer that sends a message right after its READY, in one chunk.
  s.s.input(concat([NULL_GREETING, READY_DEALER, encodeFrame(0, ascii("m"))]), 1);
  t.equal(s.s.state, "ready");
  t.same(s.messages.map((m) => m.map(text)), [["m"]]);
});

// ---- fuzz ---------------------------------------------------------------------------------------

const KNOWN_CODES = new Set(["EPROTO", "EMSGSIZE", "ETIMEDOUT", "ENOCOMPATPROTO", "EPEERERROR", "EACCES"]);

/** Feeds `chunks` to a fresh session and checks it neither throws nor hangs: after the handshake
 * deadline it is ready or failed with a typed error. */
function survive(make: () => Side, chunks: Uint8Array[], answerLater: AuthVerdict | undefined): boolean {
  const x = make();
  x.s.start(0);
  for (const c of chunks) x.s.input(c, 1);
  if (answerLater !== undefined) x.s.authenticated(answerLater);
  x.s.poll(60_000);
  if (x.errors.length > 1) return false;
  for (const e of x.errors) if (!(e instanceof ZmtpError) || !KNOWN_CODES.has(e.code)) return false;
  return x.s.state === "ready" ? x.errors.length === 0 : x.s.state === "closed" && x.errors.length === 1;
}

const cutInto = (bytes: Uint8Array, cuts: number[]): Uint8Array[] => {
  const points = [...new Set(cuts.map((c) => c % (bytes.length + 1)))].sort((a, b) => a - b);
  const out: Uint8Array[] = [];
  let prev = 0;
  for (const p of points) {
    out.push(bytes.subarray(prev, p));
    prev = p;
  }
  out.push(bytes.subarray(prev));
  return out;
};

const verdictArb = fc.oneof(
  fc.constant<AuthVerdict | undefined>(undefined),
  fc.boolean(),
  fc.record({ allow: fc.boolean(), status: fc.integer({ min: 0, max: 999 }) }),
);

t.test("fuzz: random bytes after a valid greeting never throw or hang", async (t) => {
  const M = encodeFrame(0, ascii("m"));
  // Each kind of session, the greeting it needs, and the frames of a valid handshake it expects.
  const makers: [string, Uint8Array, Uint8Array[], (v: AuthVerdict | undefined) => () => Side][] = [
    ["PLAIN server, later verdict", PLAIN_CLIENT_GREETING, [HELLO_ADMIN, INITIATE_DEALER, M], () => () => server()],
    ["PLAIN server, sync verdict", PLAIN_CLIENT_GREETING, [HELLO_ADMIN, INITIATE_DEALER, M], (v) => () => server((_r, s) => s.authenticated(v ?? true))],
    ["PLAIN client", PLAIN_SERVER_GREETING, [WELCOME, READY_ROUTER, M], () => () => client()],
    ["NULL + authenticate", NULL_GREETING, [READY_DEALER, M], (v) => () => side({ socketType: "ROUTER", authenticate: true }, (_r, s) => v !== undefined && s.authenticated(v))],
  ];
  // Raw octets; or a valid start of the handshake followed by well-framed commands with the
  // handshake's names and random data (which get further into the state machines than noise
  // does), cut into random chunks.
  const command = fc
    .record({
      name: fc.constantFrom("HELLO", "WELCOME", "INITIATE", "READY", "ERROR", "PING", "hello"),
      data: fc.oneof(
        fc.uint8Array({ maxLength: 40, size: "max" }),
        fc.constantFrom(fromHex("0561646d696e0870617373776f7264"), INITIATE_DEALER.subarray(11), fromHex("03343030")),
      ),
    })
    .map(({ name, data }) => encodeFrame(COMMAND, concat([Uint8Array.of(name.length), ascii(name), data])));
  const input = (valid: Uint8Array[]) =>
    fc.oneof(
      fc.array(fc.uint8Array({ minLength: 0, maxLength: 80, size: "max" }), { minLength: 1, maxLength: 8, size: "max" }),
      fc
        .tuple(
          fc.integer({ min: 0, max: valid.length }),
          fc.array(fc.oneof(command, fc.constant(M)), { maxLength: 4 }),
          fc.array(fc.nat(), { maxLength: 5 }),
        )
        .map(([k, frames, cuts]) => cutInto(concat([...valid.slice(0, k), ...frames]), cuts)),
    );
  for (const [what, greeting, valid, make] of makers) {
    let admitted = 0;
    fc.assert(
      fc.property(input(valid), verdictArb, (chunks, v) => {
        const ok = survive(make(v), [greeting, ...chunks], v);
        const probe = make(v)();
        probe.s.start(0);
        for (const c of [greeting, ...chunks]) probe.s.input(c, 1);
        if (v !== undefined) probe.s.authenticated(v);
        if (probe.s.state === "ready") admitted++;
        return ok;
      }),
      { numRuns: 400 },
    );
    t.pass(`${what}: 400 random inputs, ${admitted} of which completed the handshake`);
  }
});

t.test("fuzz: mutated PLAIN handshakes never throw or hang", async (t) => {
  const clientBytes = concat([PLAIN_CLIENT_GREETING, HELLO_ADMIN, INITIATE_DEALER, encodeFrame(0, ascii("after"))]);
  const serverBytes = concat([PLAIN_SERVER_GREETING, WELCOME, READY_ROUTER, PLAIN_ERROR_400]);
  const mutation = fc.oneof(
    fc.record({ kind: fc.constant("set" as const), at: fc.nat(), value: fc.integer({ min: 0, max: 255 }) }),
    fc.record({ kind: fc.constant("delete" as const), at: fc.nat(), value: fc.constant(0) }),
    fc.record({ kind: fc.constant("insert" as const), at: fc.nat(), value: fc.integer({ min: 0, max: 255 }) }),
  );
  const mutate = (bytes: Uint8Array, ms: { kind: "set" | "delete" | "insert"; at: number; value: number }[]) => {
    const a = Array.from(bytes);
    for (const m of ms) {
      const i = m.at % (a.length + 1);
      if (m.kind === "set" && i < a.length) a[i] = m.value;
      else if (m.kind === "delete") a.splice(i, 1);
      else if (m.kind === "insert") a.splice(i, 0, m.value);
    }
    return Uint8Array.from(a);
  };
  let refused = 0;
  let admitted = 0;
  fc.assert(
    fc.property(
      fc.array(mutation, { minLength: 1, maxLength: 4 }),
      fc.array(fc.nat(), { maxLength: 6 }),
      verdictArb,
      fc.boolean(),
      (ms, cuts, v, toServer) => {
        const bytes = mutate(toServer ? clientBytes : serverBytes, ms);
        const make = toServer ? () => server() : () => client();
        const ok = survive(make, cutInto(bytes, cuts), toServer ? (v ?? false) : undefined);
        const probe = toServer ? server((_r, s) => s.authenticated(true)) : client();
        probe.s.start(0);
        probe.s.input(bytes, 1);
        if (probe.s.state === "ready") admitted++;
        else refused++;
        return ok;
      },
    ),
    { numRuns: 1000 },
  );
  t.ok(refused > 0 && admitted > 0, `mutations both break and survive the handshake (${refused} broke, ${admitted} survived)`);
});
