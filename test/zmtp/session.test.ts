// The Session state machine: two sessions wired to each other in memory, scripted libzmq-style
// peers fed byte by byte, handshake refusals, and the clock-driven parts (handshake timeout,
// heartbeats, peer TTL) driven through poll(now).

import t from "tap";
import {
  COMMAND,
  MORE,
  Session,
  ZmtpError,
  concat,
  encodeCommand,
  encodeError,
  encodeFrame,
  encodeGreeting,
  encodePing,
  encodeReady,
  type Command,
  type PeerInfo,
  type Property,
  type SessionOptions,
} from "../../src/zmtp/index.js";

const ascii = (s: string) => new TextEncoder().encode(s);
const hex = (h: string) => Uint8Array.from(Buffer.from(h.replace(/\s+/g, ""), "hex"));
const toHex = (b: Uint8Array) => Buffer.from(b.buffer, b.byteOffset, b.length).toString("hex");
const text = (b: Uint8Array) => Buffer.from(b).toString("latin1");

// Byte strings from spec/vectors (libzmq testutil.hpp / test_heartbeats.cpp).
const GREETING_31 = hex("ff00000000000000017f03014e554c4c" + "00".repeat(48));
const GREETING_30 = hex("ff00000000000000017f03004e554c4c" + "00".repeat(48));
const READY_DEALER = hex("04290552454144590b536f636b65742d54797065000000064445414c4552084964656e7469747900000000");
const READY_ROUTER = hex("04290552454144590b536f636b65742d5479706500000006524f55544552084964656e7469747900000000");
const PING_LOL = hex("040a0450494e4700004c4f4c");
const PONG_LOL = hex("040804504f4e474c4f4c");
const ERROR_INVALID_TYPE = hex("041a054552524f5213496e76616c696420736f636b65742074797065");

const ready = (type: string, extra: Property[] = []) => encodeFrame(COMMAND, encodeReady([["Socket-Type", ascii(type)], ...extra]));
const msg = (...frames: Uint8Array[]) => concat(frames.map((f, i) => encodeFrame(i < frames.length - 1 ? MORE : 0, f)));

interface Events {
  ready: PeerInfo[];
  messages: Uint8Array[][];
  commands: Command[];
  errors: ZmtpError[];
  reschedules: number;
}

function make(opts: SessionOptions) {
  const ev: Events = { ready: [], messages: [], commands: [], errors: [], reschedules: 0 };
  const s = new Session(opts, {
    ready: (p) => ev.ready.push(p),
    message: (f) => ev.messages.push(f.map((b) => b.slice())),
    command: (c) => ev.commands.push(c),
    error: (e) => ev.errors.push(e),
    reschedule: () => ev.reschedules++,
  });
  return { s, ev };
}

/** Moves staged output between two sessions until both are quiet; optionally one octet at a time. */
function pump(a: Session, b: Session, now: number, bytewise = false): void {
  for (let rounds = 0; rounds < 100; rounds++) {
    const ab = a.writer.take();
    const ba = b.writer.take();
    if (ab.length === 0 && ba.length === 0) return;
    for (const [chunks, to] of [
      [ab, b],
      [ba, a],
    ] as const) {
      for (const c of chunks) {
        if (bytewise) for (let i = 0; i < c.length; i++) to.input(c.subarray(i, i + 1), now);
        else to.input(c, now);
      }
    }
  }
  throw new Error("pump did not settle");
}

/** A session plus a scripted peer: returns what the session staged, as one buffer. */
const out = (s: Session) => concat(s.writer.take());

/** A DEALER (by default) session that has completed the handshake with a scripted ROUTER. */
function readySession(opts: Partial<SessionOptions> = {}, now = 0) {
  const x = make({ socketType: "DEALER", ...opts });
  x.s.start(now);
  x.s.input(concat([GREETING_31, READY_ROUTER]), now);
  x.s.writer.take();
  return x;
}

t.test("two sessions: NULL handshake and multipart messages both ways", async (t) => {
  for (const bytewise of [false, true]) {
    const a = make({ socketType: "DEALER", identity: ascii("dealer-1"), properties: [["X-App", ascii("emq")]] });
    const b = make({ socketType: "ROUTER" });
    a.s.start(0);
    b.s.start(0);
    t.equal(a.s.state, "greeting");
    t.equal(toHex(out(a.s)), toHex(GREETING_31), "DEALER sends only its 64-octet greeting first");
    t.equal(toHex(out(b.s)), toHex(GREETING_31));
    // Re-stage the greetings (we took them above) by feeding them across directly.
    a.s.input(GREETING_31, 1);
    b.s.input(GREETING_31, 1);
    t.equal(a.s.state, "handshake");
    pump(a.s, b.s, 2, bytewise);
    t.equal(a.s.state, "ready");
    t.equal(b.s.state, "ready");
    t.same(a.ev.errors, []);
    t.same(b.ev.errors, []);
    t.equal(a.ev.ready.length, 1);
    t.equal(b.ev.ready.length, 1);
    const pa = a.ev.ready[0]!;
    const pb = b.ev.ready[0]!;
    t.equal(pa.socketType, "ROUTER");
    t.equal(pa.minor, 1);
    t.equal(pa.identity.length, 0, "ROUTER sends an empty Identity");
    t.equal(pb.socketType, "DEALER");
    t.equal(text(pb.identity), "dealer-1");
    t.equal(text(pb.metadata.get("x-app")!), "emq", "application metadata arrives");
    t.equal(a.s.peer, pa);

    const big = Uint8Array.from({ length: 100_000 }, (_, i) => i & 0xff);
    const sent: Uint8Array[][] = [
      [ascii("hello")],
      [new Uint8Array(0)],
      [ascii("a"), new Uint8Array(0), ascii("c")],
      [Uint8Array.from({ length: 256 }, (_, i) => i), big, ascii("tail")],
    ];
    for (const m of sent) a.s.send(m);
    // ROUTER strips its routing-id frame with start = 1.
    b.s.send([ascii("routing-id"), ascii("reply"), ascii("2")], 1);
    pump(a.s, b.s, 3, bytewise);
    t.equal(b.ev.messages.length, sent.length);
    b.ev.messages.forEach((m, i) => t.same(m.map(toHex), sent[i]!.map(toHex), `message ${i} intact`));
    t.same(a.ev.messages.map((m) => m.map(text)), [["reply", "2"]]);
    t.same(a.ev.errors, []);
    t.same(b.ev.errors, []);
  }
});

t.test("what our DEALER sends is byte-exact (greeting, then READY once the peer's greeting is in)", async (t) => {
  const { s } = make({ socketType: "DEALER" });
  s.start(0);
  t.equal(toHex(out(s)), toHex(GREETING_31));
  s.input(GREETING_31.subarray(0, 63), 0);
  t.equal(out(s).length, 0, "no READY before the whole peer greeting");
  s.input(GREETING_31.subarray(63), 0);
  t.equal(toHex(out(s)), toHex(READY_DEALER), "libzmq's zmtp_ready_dealer, 43 octets");
  // start() twice does nothing.
  s.start(5);
  t.equal(out(s).length, 0);
});

t.test("libzmq-style staged greeting: 10, 1, 53 octets, then READY", async (t) => {
  const { s, ev } = make({ socketType: "DEALER" });
  s.start(0);
  out(s);
  s.input(GREETING_31.subarray(0, 10), 1);
  t.equal(s.state, "greeting");
  t.same(ev.errors, []);
  s.input(GREETING_31.subarray(10, 11), 2);
  t.equal(s.state, "greeting");
  t.same(ev.errors, []);
  s.input(GREETING_31.subarray(11), 3);
  t.equal(s.state, "handshake");
  t.equal(toHex(out(s)), toHex(READY_DEALER));
  s.input(READY_ROUTER, 4);
  t.equal(s.state, "ready");
  t.same(ev.errors, []);
  t.equal(ev.ready[0]!.minor, 1);
  t.equal(ev.ready[0]!.socketType, "ROUTER");
});

t.test("greeting, READY and messages in one chunk; 3.0 peer reports minor 0", async (t) => {
  const { s, ev } = make({ socketType: "DEALER" });
  s.start(0);
  s.input(concat([GREETING_30, READY_ROUTER, msg(ascii("x"), ascii("y")), msg(ascii("z"))]), 1);
  t.same(ev.errors, []);
  t.equal(ev.ready[0]!.minor, 0, "ZMTP 3.0 peer");
  t.same(ev.messages.map((m) => m.map(text)), [["x", "y"], ["z"]]);
  // libzmq's testutil greeting has all-zero padding: also fine.
  const z = make({ socketType: "SUB" });
  z.s.start(0);
  z.s.input(hex("ff00000000000000007f03004e554c4c" + "00".repeat(48)), 0);
  z.s.input(ready("XPUB"), 0);
  t.equal(z.s.state, "ready");
  t.equal(z.ev.ready[0]!.minor, 0);
});

t.test("PING is answered with PONG echoing the context, truncated to 16 octets", async (t) => {
  const { s, ev } = readySession();
  s.input(PING_LOL, 1);
  t.equal(toHex(out(s)), toHex(PONG_LOL));
  const ctx = Uint8Array.from({ length: 65 }, (_, i) => 0x41 + (i % 26));
  s.input(encodeFrame(COMMAND, encodeCommand("PING", concat([Uint8Array.of(0, 0), ctx]))), 2);
  t.equal(toHex(out(s)), toHex(encodeFrame(COMMAND, encodeCommand("PONG", ctx.subarray(0, 16)))));
  // PONG is swallowed; PING/PONG never reach handler.command.
  s.input(PONG_LOL, 3);
  t.same(ev.commands, []);
  t.same(ev.errors, []);
  // A malformed PING (TTL cut short) is a protocol error.
  s.input(hex("04060450494e4700"), 4);
  t.equal(ev.errors[0]?.code, "EPROTO");
  t.equal(ev.errors[0]?.reason, "malformed-command");
});

t.test("unknown and subscription commands after the handshake go to handler.command", async (t) => {
  const { s, ev } = readySession();
  s.input(encodeFrame(COMMAND, encodeCommand("JOIN", ascii("group"))), 1);
  s.input(hex("040b0953554253435249424541"), 1);
  s.input(encodeFrame(COMMAND, encodeCommand("READY", new Uint8Array(0))), 1); // a second READY: ignored
  t.same(ev.errors, []);
  t.same(ev.commands.map((c) => [c.name, text(c.data)]), [["JOIN", "group"], ["SUBSCRIBE", "A"], ["READY", ""]]);
  t.equal(s.state, "ready");
  // Commands may sit between messages.
  s.input(concat([msg(ascii("1")), PING_LOL, msg(ascii("2"))]), 2);
  t.same(ev.messages.map((m) => m.map(text)), [["1"], ["2"]]);
  // ...and even between the frames of one message; MORE on a command is ignored.
  s.input(concat([encodeFrame(MORE, ascii("p")), PING_LOL, encodeFrame(COMMAND | MORE, encodeCommand("JOIN")), encodeFrame(0, ascii("q"))]), 3);
  t.same(ev.messages.slice(2).map((m) => m.map(text)), [["p", "q"]]);
  t.equal(ev.commands.at(-1)!.name, "JOIN");
  t.same(ev.errors, []);
});

t.test("socket-type refusals stage our ERROR and do not reconnect", async (t) => {
  const { s, ev } = make({ socketType: "DEALER" });
  s.start(0);
  s.input(GREETING_31, 1);
  out(s);
  s.input(ready("PUB"), 2);
  t.equal(toHex(out(s)), toHex(ERROR_INVALID_TYPE), "ERROR 'Invalid socket type' staged");
  t.equal(ev.errors.length, 1);
  t.equal(ev.errors[0]!.code, "ENOCOMPATPROTO");
  t.equal(ev.errors[0]!.reason, "socket-type-mismatch");
  t.equal(ev.errors[0]!.reconnect, false);
  t.equal(s.state, "closed");
  t.same(ev.ready, []);
  // Later input is ignored.
  s.input(msg(ascii("late")), 3);
  t.same(ev.messages, []);
  t.equal(ev.errors.length, 1);

  for (const [type, peer] of [
    ["REQ", "DEALER"],
    ["PUB", "PUB"],
    ["PAIR", "ROUTER"],
    ["SUB", "FOO"],
    ["ROUTER", "router"],
  ] as const) {
    const x = make({ socketType: type });
    x.s.start(0);
    x.s.input(concat([GREETING_31, ready(peer)]), 0);
    t.same(x.ev.errors.map((e) => e.reason), ["socket-type-mismatch"], `${type} refuses ${peer}`);
  }
  const missing = make({ socketType: "DEALER" });
  missing.s.start(0);
  missing.s.input(GREETING_31, 0);
  out(missing.s);
  missing.s.input(encodeFrame(COMMAND, encodeReady([["Identity", new Uint8Array(0)]])), 0);
  t.same(missing.ev.errors.map((e) => [e.code, e.reason, e.reconnect]), [["EPROTO", "socket-type-missing", false]]);
  t.equal(toHex(out(missing.s)), toHex(encodeFrame(COMMAND, encodeError("Missing Socket-Type"))));
  // Property names are case-insensitive.
  const lower = make({ socketType: "PAIR" });
  lower.s.start(0);
  lower.s.input(concat([GREETING_31, encodeFrame(COMMAND, encodeReady([["socket-TYPE", ascii("PAIR")]]))]), 0);
  t.equal(lower.s.state, "ready");
});

t.test("every compatible pair completes the handshake (RFC 23 table)", async (t) => {
  const pairs: [SessionOptions["socketType"], SessionOptions["socketType"]][] = [
    ["REQ", "REP"], ["REQ", "ROUTER"], ["REP", "DEALER"], ["DEALER", "DEALER"], ["DEALER", "ROUTER"],
    ["ROUTER", "ROUTER"], ["PUB", "SUB"], ["PUB", "XSUB"], ["XPUB", "SUB"], ["XPUB", "XSUB"],
    ["PUSH", "PULL"], ["PAIR", "PAIR"],
  ];
  for (const [x, y] of pairs) {
    const a = make({ socketType: x });
    const b = make({ socketType: y });
    a.s.start(0);
    b.s.start(0);
    pump(a.s, b.s, 0);
    t.ok(a.s.state === "ready" && b.s.state === "ready", `${x} <-> ${y}`);
  }
});

t.test("handshake timeout via poll(now)", async (t) => {
  const { s, ev } = make({ socketType: "DEALER" });
  t.equal(s.poll(0), Infinity, "idle: nothing to do");
  s.start(1000);
  t.equal(s.poll(1000), 31_000, "default 30 s handshake limit");
  s.input(GREETING_31.subarray(0, 20), 5000);
  t.equal(s.poll(30_999), 31_000, "input does not extend the handshake deadline");
  t.same(ev.errors, []);
  t.equal(s.poll(31_000), Infinity);
  t.same(ev.errors.map((e) => [e.code, e.reason, e.reconnect]), [["ETIMEDOUT", "handshake-timeout", true]]);
  t.equal(s.state, "closed");
  t.equal(s.poll(40_000), Infinity);
  t.equal(ev.errors.length, 1, "reported once");

  const custom = make({ socketType: "DEALER", handshakeInterval: 500 });
  custom.s.start(0);
  custom.s.input(GREETING_31, 100); // in the handshake phase now
  t.equal(custom.s.poll(100), 500);
  custom.s.poll(500);
  t.equal(custom.ev.errors[0]?.reason, "handshake-timeout");

  const none = make({ socketType: "DEALER", handshakeInterval: 0 });
  none.s.start(0);
  t.equal(none.s.poll(1e9), Infinity, "0 = no limit");
  t.same(none.ev.errors, []);

  const done = make({ socketType: "DEALER", handshakeInterval: 500 });
  done.s.start(0);
  done.s.input(concat([GREETING_31, READY_ROUTER]), 400);
  t.equal(done.s.poll(10_000), Infinity, "no deadline once ready (heartbeats off)");
  t.same(done.ev.errors, []);
});

t.test("heartbeats: PING every interval, timeout when the peer is silent", async (t) => {
  const { s, ev } = readySession({ heartbeatInterval: 1000, heartbeatTimeout: 3000, heartbeatTimeToLive: 5000 }, 100);
  t.ok(ev.reschedules > 0, "reschedule asked for on ready");
  t.equal(s.poll(100), 1100, "first PING due one interval after the handshake");
  t.equal(out(s).length, 0);
  const pingTtl50 = toHex(encodeFrame(COMMAND, encodePing(50)));
  t.equal(pingTtl50, "04070450494e470032", "PING carries our TTL in deciseconds");
  t.equal(s.poll(1100), 2100, "next PING (timeout at 4100 is later)");
  t.equal(toHex(out(s)), pingTtl50);
  t.equal(s.poll(2100), 3100);
  t.equal(toHex(out(s)), pingTtl50, "PINGs keep going at the interval without replies");
  t.equal(s.poll(3100), 4100, "timeout counts from the first unanswered PING");
  out(s);
  t.same(ev.errors, []);
  t.equal(s.poll(4099), 4100);
  t.same(ev.errors, []);
  s.poll(4100);
  t.same(ev.errors.map((e) => [e.code, e.reason, e.reconnect]), [["ETIMEDOUT", "heartbeat-timeout", true]]);
  t.equal(s.state, "closed");

  // heartbeatTimeout defaults to the interval.
  const d = readySession({ heartbeatInterval: 1000 }, 0);
  d.s.poll(1000);
  t.equal(toHex(out(d.s)), "04070450494e470000", "TTL 0 by default");
  t.equal(d.s.poll(1999), 2000);
  d.s.poll(2000);
  t.equal(d.ev.errors[0]?.reason, "heartbeat-timeout");
});

t.test("heartbeats: any incoming frame counts as life", async (t) => {
  const { s, ev } = readySession({ heartbeatInterval: 1000, heartbeatTimeout: 1500 }, 0);
  s.poll(1000); // PING at 1000, timeout due at 2500
  out(s);
  s.input(msg(ascii("data")), 1200); // not a PONG, but traffic
  t.equal(s.poll(1200), 2000, "timeout cancelled; next PING at 2000");
  s.poll(2000); // PING at 2000 (the previous one was answered), timeout due at 3500
  out(s);
  s.input(PONG_LOL, 2900);
  t.equal(s.poll(2900), 3000);
  t.equal(s.poll(3000), 4000, "answered: the new PING restarts the timeout (4500), next PING first");
  out(s);
  t.same(ev.errors, [], "no timeout");
  // Peers that answer every PING keep the connection up indefinitely.
  for (let now = 4000; now <= 20_000; now += 1000) {
    s.poll(now);
    const sent = out(s);
    t.equal(toHex(sent), "04070450494e470000");
    s.input(PONG_LOL, now + 10);
  }
  t.same(ev.errors, []);
  t.equal(s.state, "ready");
});

t.test("peer TTL: a PING's TTL bounds the silence we tolerate", async (t) => {
  const { s, ev } = readySession({}, 0);
  const before = ev.reschedules;
  s.input(encodeFrame(COMMAND, encodePing(10, ascii("x"))), 100); // TTL 1 s
  t.ok(ev.reschedules > before, "reschedule on a new TTL");
  t.equal(toHex(out(s)), toHex(encodeFrame(COMMAND, encodeCommand("PONG", ascii("x")))));
  t.equal(s.poll(100), 1100);
  s.input(msg(ascii("alive")), 600);
  t.equal(s.poll(1100), 1600, "traffic moves the deadline");
  t.same(ev.errors, []);
  s.poll(1600);
  t.same(ev.errors.map((e) => [e.code, e.reason, e.reconnect]), [["ETIMEDOUT", "heartbeat-timeout", true]]);

  // A later PING with another TTL replaces it.
  const c = readySession({}, 0);
  c.s.input(encodeFrame(COMMAND, encodePing(10)), 0);
  t.equal(c.s.poll(0), 1000);
  c.s.input(encodeFrame(COMMAND, encodePing(30)), 500);
  t.equal(c.s.poll(500), 3500, "new TTL of 3 s");
  c.s.poll(3499);
  t.same(c.ev.errors, []);

  // TTL 0 arms nothing.
  const z = readySession({}, 0);
  z.s.input(PING_LOL, 100);
  t.equal(z.s.poll(1e9), Infinity);
  t.same(z.ev.errors, []);
});

t.test("protocol violations during and after the handshake", async (t) => {
  // Message before the handshake completes.
  const early = make({ socketType: "DEALER" });
  early.s.start(0);
  early.s.input(concat([GREETING_31, msg(ascii("too soon"))]), 0);
  t.same(early.ev.errors.map((e) => [e.code, e.reason, e.reconnect]), [["EPROTO", "message-before-handshake", false]]);
  t.same(early.ev.messages, []);

  // Any command but READY/ERROR during the NULL handshake.
  const ping = make({ socketType: "DEALER" });
  ping.s.start(0);
  ping.s.input(concat([GREETING_31, PING_LOL]), 0);
  t.same(ping.ev.errors.map((e) => [e.code, e.reason]), [["EPROTO", "unexpected-command"]]);

  // Malformed READY metadata.
  const bad = make({ socketType: "DEALER" });
  bad.s.start(0);
  bad.s.input(concat([GREETING_31, hex("04140552454144590b536f636b65742d547970650000")]), 0);
  t.same(bad.ev.errors.map((e) => [e.code, e.reason]), [["EPROTO", "malformed-metadata"]]);

  // ERROR from the peer, during the handshake and after it.
  const refused = make({ socketType: "DEALER" });
  refused.s.start(0);
  refused.s.input(concat([GREETING_31, ERROR_INVALID_TYPE]), 0);
  t.same(refused.ev.errors.map((e) => [e.code, e.reason, e.reconnect]), [["EPEERERROR", "peer-error", false]]);
  t.match(refused.ev.errors[0]!.message, /Invalid socket type/);
  const later = readySession();
  later.s.input(encodeFrame(COMMAND, encodeError("400")), 1);
  t.same(later.ev.errors.map((e) => [e.code, e.reason]), [["EPEERERROR", "peer-error"]]);
  t.match(later.ev.errors[0]!.message, /400/);
  const malformedError = readySession();
  malformedError.s.input(hex("0406054552524f52"), 1);
  t.same(malformedError.ev.errors.map((e) => [e.code, e.reason]), [["EPROTO", "malformed-command"]]);

  // Mechanism mismatch: the peer says PLAIN or CURVE.
  for (const mech of ["PLAIN", "CURVE"]) {
    const m = make({ socketType: "DEALER" });
    m.s.start(0);
    m.s.input(encodeGreeting(mech, mech === "PLAIN"), 0);
    t.same(m.ev.errors.map((e) => [e.code, e.reason, e.reconnect]), [["ENOCOMPATPROTO", "mechanism-mismatch", false]], mech);
    t.equal(out(m.s).length, 64, "only our greeting was sent, no READY");
  }

  // Old protocol versions are refused after 11 octets, without waiting for 64.
  const v2 = make({ socketType: "DEALER" });
  v2.s.start(0);
  v2.s.input(hex("ff00000000000000017f02"), 0);
  t.same(v2.ev.errors.map((e) => [e.code, e.reason]), [["ENOCOMPATPROTO", "unsupported-version"]]);
  // A ZMTP 1.0 peer (no 7F) after 10; a non-ZMTP peer after 1.
  const v1 = make({ socketType: "DEALER" });
  v1.s.start(0);
  v1.s.input(hex("ff000000000000000100"), 0);
  t.same(v1.ev.errors.map((e) => e.reason), ["greeting-signature"]);
  const http = make({ socketType: "DEALER" });
  http.s.start(0);
  http.s.input(ascii("G"), 0);
  t.same(http.ev.errors.map((e) => e.reason), ["greeting-signature"]);

  // Commands inside a malformed frame name.
  const name = readySession();
  name.s.input(hex("0400"), 1);
  t.same(name.ev.errors.map((e) => e.reason), ["malformed-command"]);
});

t.test("maxMessageSize is enforced per frame, before allocation", async (t) => {
  const { s, ev } = readySession({ maxMessageSize: 64 });
  s.input(msg(new Uint8Array(64), new Uint8Array(64)), 1);
  t.equal(ev.messages.length, 1, "64-octet frames allowed (the limit is per frame, not per message)");
  s.input(hex("020000010000000000"), 2); // LONG, 2^40: refused from the header alone
  t.same(ev.errors.map((e) => [e.code, e.reason, e.reconnect]), [["EMSGSIZE", "frame-too-large", false]]);

  const unlimited = readySession({ maxMessageSize: -1 });
  unlimited.s.input(msg(new Uint8Array(100_000)), 1);
  t.equal(unlimited.ev.messages[0]![0]!.length, 100_000, "-1 = unlimited");

  // As in libzmq (v2_decoder::size_ready), the limit covers command frames too, so a limit below
  // the size of the peer's READY (41 octets for a ROUTER) fails the handshake.
  const tiny = make({ socketType: "DEALER", maxMessageSize: 40 });
  tiny.s.start(0);
  tiny.s.input(concat([GREETING_31, READY_ROUTER]), 0);
  t.same(tiny.ev.errors.map((e) => [e.code, e.reason]), [["EMSGSIZE", "frame-too-large"]]);
  const fits = make({ socketType: "DEALER", maxMessageSize: 41 });
  fits.s.start(0);
  fits.s.input(concat([GREETING_31, READY_ROUTER, msg(new Uint8Array(0)), msg(new Uint8Array(42))]), 0);
  t.equal(fits.s.state, "closed");
  t.equal(fits.ev.messages.length, 1);
  t.same(fits.ev.errors.map((e) => e.code), ["EMSGSIZE"]);
});

t.test("close() stops the session; later input and polls do nothing", async (t) => {
  const { s, ev } = readySession({ heartbeatInterval: 100 });
  s.input(concat([msg(ascii("a")), hex("0101")]), 1); // a message, then half of the next frame
  s.close();
  t.equal(s.state, "closed");
  s.input(concat([ascii("b"), msg(ascii("c"))]), 2);
  t.equal(s.poll(1e6), Infinity);
  t.same(ev.messages.map((m) => m.map(text)), [["a"]]);
  t.same(ev.errors, []);
  const idle = make({ socketType: "DEALER" });
  idle.s.input(GREETING_31, 0);
  t.equal(idle.s.state, "idle", "input before start() is ignored");
});

t.test("a handler that closes the session mid-chunk stops delivery", async (t) => {
  const got: string[] = [];
  const s: Session = new Session(
    { socketType: "DEALER" },
    {
      ready: () => {},
      message: (f) => {
        got.push(text(f[0]!));
        if (got.length === 2) s.close();
      },
      error: () => t.fail("no error"),
    },
  );
  s.start(0);
  s.input(concat([GREETING_31, READY_ROUTER, msg(ascii("1")), msg(ascii("2")), msg(ascii("3"))]), 0);
  t.same(got, ["1", "2"]);
});
