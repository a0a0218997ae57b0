// Our sockets against a scripted raw peer: libzmq's staged greeting, 3.0 peers, PING/PONG bytes,
// unknown commands, wrong socket types, handshake and heartbeat timeouts, oversize frames and
// garbage. Everything over real sockets on 127.0.0.1.

import t from "tap";
import { Buffer } from "node:buffer";
import { Dealer, Router } from "../../src/index.js";
import { commandFrame, greeting, readyCommand, scope, sleep, watch, within } from "./fake-peer.js";

const hex = (s: string): Buffer => Buffer.from(s.replace(/\s+/g, ""), "hex");
const text = (s: string): string => Buffer.from(s).toString("hex");

/** Our DEALER's READY with no routing id (libzmq's zmtp_ready_dealer vector). */
const DEALER_READY = Buffer.concat([
  hex("04 29 05"),
  Buffer.from("READY"),
  hex("0b"),
  Buffer.from("Socket-Type"),
  hex("00 00 00 06"),
  Buffer.from("DEALER"),
  hex("08"),
  Buffer.from("Identity"),
  hex("00 00 00 00"),
]);

t.test("libzmq's staged greeting: 10 octets, then 1, then 53", async (t) => {
  const s = scope(t);
  const fake = await s.listener();
  const dealer = s.sock(new Dealer({ reconnectInterval: 20 }));
  dealer.connect(fake.address);
  const peer = await fake.connection();

  // Before the peer sends a single byte, we have sent all 64 octets of our greeting.
  const ours = await peer.read(64);
  t.equal(ours[0], 0xff, "signature start");
  t.equal(ours[9], 0x7f, "signature end");
  t.equal(ours[10], 3, "major 3");
  t.equal(ours[11], 1, "minor 1");
  t.equal(ours.subarray(12, 32).toString("hex"), text("NULL") + "00".repeat(16), "mechanism NULL, NUL-padded");
  t.equal(ours[32], 0, "as-server 0");
  t.equal(ours.subarray(33).toString("hex"), "00".repeat(31), "filler");

  const g = greeting(1);
  peer.write(g.subarray(0, 10));
  await sleep(30);
  t.equal(peer.received, 64, "nothing more before the peer's version octet");
  peer.write(g.subarray(10, 11));
  await sleep(30);
  t.equal(peer.received, 64, "nothing more before the rest of the peer's greeting");
  peer.write(g.subarray(11));

  // Only now (greeting complete) do we send READY; exact bytes.
  const ready = await peer.read(DEALER_READY.length);
  t.equal(ready.toString("hex"), DEALER_READY.toString("hex"), "DEALER READY, byte for byte");
  peer.write(readyCommand("ROUTER", ""));

  await dealer.send(["hello", ""]);
  t.same((await peer.readMessage()).map(String), ["hello", ""], "dealer -> peer");
  peer.write(Buffer.concat([hex("01 03"), Buffer.from("abc"), hex("00 00")]));
  const got = await within(dealer.receive(), 3000, "a message at the dealer");
  t.same(got.map(String), ["abc", ""], "peer -> dealer");
});

t.test("a ZMTP 3.0 peer (minor 0) works, both directions", async (t) => {
  const s = scope(t);
  const router = s.sock(new Router());
  await router.bind("tcp://127.0.0.1:0");
  const peer = await s.dial(router.lastEndpoint!);
  const { greeting: g, ready } = await peer.handshake("DEALER", { identity: "old-peer", minor: 0 });
  t.equal(g[11], 1, "we still announce 3.1");
  t.ok(ready.body.toString("latin1").includes("ROUTER"), "router READY");
  peer.send(["one", "two"]);
  const [id, ...rest] = await within(router.receive(), 3000, "router receive");
  t.equal(String(id), "old-peer", "Identity used as routing id");
  t.same(rest.map(String), ["one", "two"]);
  await router.send([id!, "back"]);
  t.same((await peer.readMessage()).map(String), ["back"]);
  // libzmq answers PING from 3.0 peers too (they exist: JeroMQ, NetMQ ping while announcing 3.0).
  peer.write(Buffer.concat([hex("04 08 04"), Buffer.from("PING"), hex("00 00"), Buffer.from("3")]));
  t.equal((await peer.read(8)).toString("hex"), "040604" + text("PONG") + text("3"), "PONG to a 3.0 peer");
});

t.test("PING (TTL 0, context LOL) is answered with exactly 04 08 04 PONG LOL", async (t) => {
  const s = scope(t);
  const router = s.sock(new Router());
  await router.bind("tcp://127.0.0.1:0");
  const peer = await s.dial(router.lastEndpoint!);
  await peer.handshake("DEALER");
  peer.write(Buffer.concat([hex("04 0a 04"), Buffer.from("PING"), hex("00 00"), Buffer.from("LOL")]));
  const pong = await peer.read(10);
  t.equal(pong.toString("hex"), "040804" + text("PONG") + text("LOL"), "PONG bytes");
  // A context over 16 octets is cut to 16 in the PONG.
  peer.write(Buffer.concat([hex("04 1a 04"), Buffer.from("PING"), hex("00 00"), Buffer.from("0123456789abcdefXYZ")]));
  const pong2 = await peer.readFrame();
  t.equal(pong2.flags, 0x04);
  t.equal(pong2.body.toString("latin1"), "\x04PONG0123456789abcdef", "context cut to 16 octets");
  t.equal(peer.available, 0, "nothing else sent");
});

t.test("unknown commands after the handshake are ignored", async (t) => {
  const s = scope(t);
  const router = s.sock(new Router());
  await router.bind("tcp://127.0.0.1:0");
  const peer = await s.dial(router.lastEndpoint!);
  await peer.handshake("DEALER", { identity: "x" });
  const foobar = Buffer.concat([hex("04 0a 06"), Buffer.from("FOOBAR"), Buffer.from("xyz")]);
  t.equal(foobar.length, 12);
  // FOOBAR, a bare HELLO, and SUBSCRIBE (meaningless to a ROUTER) are all dropped.
  peer.write(Buffer.concat([foobar, commandFrame("HELLO"), commandFrame("SUBSCRIBE", Buffer.from("a"))]));
  peer.send(["after"]);
  const [id, body] = await within(router.receive(), 3000, "message after unknown commands");
  t.equal(String(id), "x");
  t.equal(String(body), "after", "traffic continues");
  await router.send(["x", "reply"]);
  t.same((await peer.readMessage()).map(String), ["reply"]);
  t.notOk(peer.ended, "connection still open");
});

t.test("wrong socket type: ERROR, close, no reconnect", async (t) => {
  const s = scope(t);
  const fake = await s.listener();
  const dealer = s.sock(new Dealer({ reconnectInterval: 20 }));
  const ev = watch(dealer);
  dealer.connect(fake.address);
  const peer = await fake.connection();
  peer.write(Buffer.concat([greeting(), readyCommand("PUB")]));
  await peer.readHandshake();
  const err = await peer.readFrame();
  t.equal(err.flags, 0x04, "a command frame");
  const reason = "Invalid socket type";
  t.equal(
    err.body.toString("hex"),
    "05" + text("ERROR") + reason.length.toString(16).padStart(2, "0") + text(reason),
    "ERROR command with a reason",
  );
  await peer.waitEnd();
  const e = await ev.wait("handshake:error:protocol");
  t.equal(e.error?.code, "ENOCOMPATPROTO");
  await sleep(500);
  t.equal(fake.count, 1, "never reconnected");
  t.equal(ev.count("connect:retry"), 0, "no retry scheduled");
});

t.test("handshake timeout: a silent peer is dropped, and a connector retries", async (t) => {
  const s = scope(t);
  const fake = await s.listener();
  const dealer = s.sock(new Dealer({ reconnectInterval: 20, handshakeInterval: 200 }));
  const ev = watch(dealer);
  const started = Date.now();
  dealer.connect(fake.address);
  const first = await fake.connection();
  await first.waitEnd(1500);
  const took = Date.now() - started;
  t.ok(took >= 150 && took < 1200, `closed after ${took} ms`);
  const e = await ev.wait("handshake:error:other");
  t.equal(e.error?.code, "ETIMEDOUT");
  const second = await fake.connection(2, 2000);
  t.ok(second, "reconnected");
  await second.handshake("ROUTER");
  await dealer.send("still works");
  t.same((await second.readMessage()).map(String), ["still works"]);
});

t.test("heartbeats", async (t) => {
  t.test("a peer that never answers PING is dropped and we reconnect", async (t) => {
    const s = scope(t);
    const fake = await s.listener();
    const dealer = s.sock(new Dealer({ reconnectInterval: 20, heartbeatInterval: 100, heartbeatTimeout: 300 }));
    const ev = watch(dealer);
    dealer.connect(fake.address);
    const peer = await fake.connection();
    await peer.handshake("ROUTER");
    const handshakeAt = Date.now();
    const ping = await peer.read(9);
    t.equal(ping.toString("hex"), "0407" + "04" + text("PING") + "0000", "PING, TTL 0, no context");
    await peer.waitEnd(2000);
    const took = Date.now() - handshakeAt;
    t.ok(took >= 300 && took < 1500, `dropped ${took} ms after the handshake`);
    const d = await ev.wait("disconnect");
    t.equal(d.error?.code, "ETIMEDOUT");
    const again = await fake.connection(2, 2000);
    t.ok(again, "reconnected after the heartbeat timeout");
  });

  t.test("a peer that answers PING with PONG stays connected", async (t) => {
    const s = scope(t);
    const fake = await s.listener();
    const dealer = s.sock(new Dealer({ reconnectInterval: 20, heartbeatInterval: 100, heartbeatTimeout: 300 }));
    dealer.connect(fake.address);
    const peer = await fake.connection();
    await peer.handshake("ROUTER");
    let pings = 0;
    const start = Date.now();
    while (Date.now() - start < 1200) {
      const f = await peer.readFrame(1000);
      if (f.flags === 0x04 && f.body.subarray(0, 5).toString("latin1") === "\x04PING") {
        pings++;
        peer.write(Buffer.concat([hex("04 05 04"), Buffer.from("PONG")]));
      }
    }
    t.ok(pings >= 5, `${pings} PINGs in 1.2 s`);
    t.notOk(peer.ended || peer.closed, "still connected");
    t.equal(fake.count, 1, "no reconnect");
    await dealer.send("alive");
    t.same((await peer.readMessage(2000)).map(String), ["alive"]);
  });

  t.test("a peer's PING TTL: silence past it drops the connection", async (t) => {
    const s = scope(t);
    const router = s.sock(new Router());
    const ev = watch(router);
    await router.bind("tcp://127.0.0.1:0");
    const peer = await s.dial(router.lastEndpoint!);
    await peer.handshake("DEALER");
    const sent = Date.now();
    peer.write(Buffer.concat([hex("04 07 04"), Buffer.from("PING"), hex("00 03")])); // TTL 300 ms
    t.equal((await peer.read(7)).toString("hex"), "040504" + text("PONG"), "PONG with empty context");
    await peer.waitEnd(2000);
    const took = Date.now() - sent;
    t.ok(took >= 250 && took < 1500, `dropped ${took} ms after the PING`);
    t.equal((await ev.wait("disconnect")).error?.code, "ETIMEDOUT");
  });

  t.test("our PINGs carry heartbeatTimeToLive in tenths of a second", async (t) => {
    const s = scope(t);
    const fake = await s.listener();
    const dealer = s.sock(new Dealer({ heartbeatInterval: 50, heartbeatTimeToLive: 2500 }));
    dealer.connect(fake.address);
    const peer = await fake.connection();
    await peer.handshake("ROUTER");
    t.equal((await peer.read(9)).toString("hex"), "040704" + text("PING") + "0019", "TTL 25");
  });
});

t.test("a frame over maxMessageSize closes that connection only, and is never delivered", async (t) => {
  t.test("connecting Dealer: no reconnect, other peers keep working", async (t) => {
    const s = scope(t);
    const fake = await s.listener();
    const router = s.sock(new Router());
    await router.bind("tcp://127.0.0.1:0");
    const dealer = s.sock(new Dealer({ reconnectInterval: 20, maxMessageSize: 1000, routingId: "d" }));
    const ev = watch(dealer);
    dealer.connect(fake.address);
    dealer.connect(router.lastEndpoint!);
    const peer = await fake.connection();
    await peer.handshake("ROUTER");
    await ev.wait("handshake", 2);
    // Exactly at the limit is fine; one over is refused.
    peer.send([Buffer.alloc(1000, 1)]);
    t.same((await within(dealer.receive(), 3000, "1000-byte message")).map((b) => b.length), [1000]);
    peer.write(Buffer.concat([hex("02 00 00 00 00 00 00 07 d0"), Buffer.alloc(2000, 2)]));
    await peer.waitEnd();
    const d = await ev.wait("disconnect");
    t.equal(d.error?.code, "EMSGSIZE");
    dealer.receiveTimeout = 200;
    await t.rejects(dealer.receive(), { code: "EAGAIN" }, "oversize message not delivered");
    dealer.receiveTimeout = -1;
    for (let i = 0; i < 4; i++) await dealer.send(`m${i}`);
    for (let i = 0; i < 4; i++) {
      const [id, body] = await within(router.receive(), 3000, "router receive");
      t.equal(String(id), "d");
      t.equal(String(body), `m${i}`, "all traffic goes to the remaining peer");
    }
    await router.send(["d", "pong"]);
    t.same((await within(dealer.receive(), 3000, "reply")).map(String), ["pong"]);
    await sleep(300);
    t.equal(fake.count, 1, "no reconnect after a protocol error");
  });

  t.test("bound Router: the offending peer is dropped, others served", async (t) => {
    const s = scope(t);
    const router = s.sock(new Router({ maxMessageSize: 1000 }));
    await router.bind("tcp://127.0.0.1:0");
    const bad = await s.dial(router.lastEndpoint!);
    await bad.handshake("DEALER", { identity: "bad" });
    const good = await s.dial(router.lastEndpoint!);
    await good.handshake("DEALER", { identity: "good" });
    // A multipart message whose second frame is too big: no part of it may arrive.
    bad.write(Buffer.concat([hex("01 02"), Buffer.from("ok"), hex("02 00 00 00 00 00 00 07 d0"), Buffer.alloc(2000)]));
    await bad.waitEnd();
    good.send(["fine"]);
    const [id, body] = await within(router.receive(), 3000, "router receive");
    t.equal(String(id), "good");
    t.equal(String(body), "fine");
    t.notOk(router.readable, "nothing from the dropped peer");
  });
});

t.test("garbage instead of a greeting closes that connection; the socket keeps serving", async (t) => {
  const s = scope(t);
  const router = s.sock(new Router());
  const ev = watch(router);
  await router.bind("tcp://127.0.0.1:0");
  const cases: [string, Buffer][] = [
    ["HTTP request", Buffer.from("GET / HTTP/1.1\r\nHost: x\r\n\r\n")],
    ["unversioned ZMTP 1.0 signature", hex("ff 00 00 00 00 00 00 00 01 7e")],
    ["ZMTP 2.0 (major 1)", hex("ff 00 00 00 00 00 00 00 01 7f 01 05")],
    ["mechanism mismatch", greeting(1, "PLAIN")],
    ["bad mechanism padding", Buffer.concat([greeting(1).subarray(0, 16), hex("00 41"), Buffer.alloc(46)])],
    ["message before READY", Buffer.concat([greeting(1), hex("00 02 68 69")])],
    ["empty command frame", Buffer.concat([greeting(1), hex("04 00")])],
    ["malformed READY metadata", Buffer.concat([greeting(1), hex("04 08 05"), Buffer.from("READY"), hex("0b 53")])],
    ["frame size above 2^53", Buffer.concat([greeting(1), hex("06 00 20 00 00 00 00 00 00")])],
    ["PING instead of READY", Buffer.concat([greeting(1), hex("04 07 04"), Buffer.from("PING"), hex("00 00")])],
    ["ERROR instead of READY", Buffer.concat([greeting(1), hex("04 08 05"), Buffer.from("ERROR"), hex("01 78")])],
    ["random bytes", Buffer.from(Array.from({ length: 200 }, (_, i) => (i * 73 + 11) & 0xff))],
  ];
  for (const [name, bytes] of cases) {
    const peer = await s.dial(router.lastEndpoint!);
    peer.write(bytes);
    await peer.waitEnd(2000).then(
      () => t.pass(`${name}: closed`),
      (e) => t.fail(`${name}: ${e.message}`),
    );
  }
  await ev.wait("handshake:error:protocol", cases.length);
  t.equal(ev.count("handshake:error:protocol"), cases.length, "one protocol error reported per connection");
  t.ok(ev.seen.filter((e) => e.type === "handshake:error:protocol").every((e) => e.error?.code), "each with a code");
  // Still serving.
  const dealer = s.sock(new Dealer({ routingId: "ok" }));
  dealer.connect(router.lastEndpoint!);
  await dealer.send("still here");
  const [id, body] = await within(router.receive(), 3000, "router receive");
  t.equal(String(id), "ok");
  t.equal(String(body), "still here");
});
