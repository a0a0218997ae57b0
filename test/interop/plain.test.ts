// PLAIN (RFC 24) and authentication against libzmq 4.3.x (test/interop/peer.py through Debian's
// /usr/bin/python3 + pyzmq), over TCP on 127.0.0.1, in both directions:
//   - emq DEALER (PLAIN client) -> libzmq ROUTER (PLAIN server with pyzmq's ZAP ThreadAuthenticator)
//   - libzmq DEALER (PLAIN client) -> emq ROUTER (plainServer + authenticate)
//   - libzmq DEALER (NULL) -> emq ROUTER (NULL + authenticate on bind)
// each allowed and denied. A denial must show up as an authentication failure on both sides (emq:
// handshake:error:auth with EACCES; libzmq: HANDSHAKE_FAILED_AUTH), and no message may cross.
//
// Without pyzmq every test is skipped with the reason, except in CI (CI=true), where that fails.

import t from "tap";
import { Buffer } from "node:buffer";
import { Dealer, Router, type AuthRequest, type Socket } from "../../src/index.js";
import { EventLog, Peer, peerScope, requirePyzmq, sleep, within } from "./peer.js";

/** What a subtest callback gets (the last overload of t.test takes only the callback). */
type Test = Parameters<Parameters<typeof t.test>[0]>[0];

const WAIT = 10_000; // generous: 2 cores shared with other test runs
const LOCAL = "tcp://127.0.0.1:0";

const skip = requirePyzmq(t);

function test(name: string, fn: (t: Test) => Promise<void>): void {
  if (skip) t.test(name, { skip }, async () => {});
  else t.test(name, fn);
}

const scope = peerScope;

const recv = (s: Socket, what = "a message"): Promise<Buffer[]> => within(s.receive(), WAIT, what);
const strs = (m: Buffer[]): string[] => m.map((f) => f.toString("latin1"));
const AUTH_EVENTS = ["handshake", "handshake:error:auth", "handshake:error:protocol", "connect:retry"] as const;

/** Polls the peer's monitor events until one named `name` shows up; returns all seen. */
async function peerEvent(peer: Peer, name: string, ms = WAIT): Promise<string[]> {
  const seen: string[] = [];
  const end = Date.now() + ms;
  while (!seen.includes(name)) {
    if (Date.now() > end) throw new Error(`libzmq peer never reported ${name} (saw: ${seen.join(" ") || "nothing"})`);
    seen.push(...(await peer.events()));
    if (!seen.includes(name)) await sleep(20);
  }
  return seen;
}

// ---- emq PLAIN client -> libzmq PLAIN server -----------------------------------------------------

test("emq DEALER (PLAIN client) -> libzmq ROUTER (PLAIN server + ZAP): right password", async (t) => {
  const s = scope(t);
  const peer = await s.peer({ type: "ROUTER", bind: LOCAL, mode: "echo", plainServer: true, zapUsers: ["admin:s3cret", "other:x"] });
  const dealer = s.sock(new Dealer({ linger: 0, plainUsername: "admin", plainPassword: "s3cret" }));
  const log = new EventLog(dealer, [...AUTH_EVENTS]);
  dealer.connect(peer.endpoint);
  await within(dealer.send(["over PLAIN", ""]), WAIT, "send");
  t.same(strs(await recv(dealer)), ["over PLAIN", ""], "libzmq echoed the message back");
  t.equal(log.count("handshake"), 1);
  t.equal(log.count("handshake:error:auth"), 0);
  const zap = await peer.zap();
  t.same(
    zap.map((d) => [d.allowed, d.username]),
    [[true, "admin"]],
    "libzmq's ZAP handler saw our username and allowed it once",
  );
  t.ok((await peerEvent(peer, "HANDSHAKE_SUCCEEDED")).includes("HANDSHAKE_SUCCEEDED"));
});

test("emq DEALER (PLAIN client) -> libzmq ROUTER (PLAIN server + ZAP): wrong password is EACCES, nothing crosses", async (t) => {
  const s = scope(t);
  const peer = await s.peer({ type: "ROUTER", bind: LOCAL, plainServer: true, zapUsers: ["admin:s3cret"] });
  const dealer = s.sock(new Dealer({ linger: 0, plainUsername: "admin", plainPassword: "wrong", reconnectInterval: 50 }));
  const log = new EventLog(dealer, [...AUTH_EVENTS]);
  const refused = log.next("handshake:error:auth", WAIT);
  dealer.connect(peer.endpoint);
  await within(dealer.send(["must not arrive"]), WAIT, "send (queued)");
  const ev = await refused;
  t.equal(ev.error?.code, "EACCES");
  t.match(ev.error?.message, /status 400/, `libzmq answers ERROR "400": ${ev.error?.message}`);
  const zap = await peer.zap();
  t.ok(zap.length >= 1 && zap.every((d) => !d.allowed), `ZAP denied (${zap.map((d) => d.text).join("; ")})`);
  await peerEvent(peer, "HANDSHAKE_FAILED_AUTH");
  const r = await peer.request({ op: "recv", timeout: 300 });
  t.equal(r.error, "timeout", "libzmq received nothing");
  await sleep(200);
  t.equal(log.count("handshake"), 0);
  t.equal(log.count("connect:retry"), 0, "emq does not retry after a 400");
});

// ---- libzmq PLAIN client -> emq PLAIN server -----------------------------------------------------

test("libzmq DEALER (PLAIN client) -> emq ROUTER (plainServer + authenticate): right password", async (t) => {
  const s = scope(t);
  const asked: AuthRequest[] = [];
  const router = s.sock(
    new Router({
      linger: 0,
      plainServer: true,
      authenticate: async (req) => {
        asked.push(req);
        await sleep(10); // an async hook, like a database lookup
        return req.username === "admin" && req.password === "s3cret";
      },
    }),
  );
  await router.bind(LOCAL);
  const peer = await s.peer({ type: "DEALER", connect: router.lastEndpoint!, identity: "zmq-client", plainUsername: "admin", plainPassword: "s3cret" });
  await peer.send([Buffer.from("hello from libzmq")]);
  t.same(strs(await recv(router)), ["zmq-client", "hello from libzmq"]);
  await within(router.send(["zmq-client", "hello from emq"]), WAIT, "router send");
  t.same(strs(await peer.recv(WAIT)), ["hello from emq"]);
  t.equal(asked.length, 1);
  const q = asked[0]!;
  t.equal(q.mechanism, "PLAIN");
  t.equal(q.username, "admin");
  t.equal(q.password, "s3cret");
  t.equal(q.socketType, "DEALER");
  t.equal(q.routingId.toString(), "zmq-client", "libzmq's ZMQ_IDENTITY arrives in INITIATE");
  t.equal(q.address, "127.0.0.1");
  t.equal(q.endpoint, router.lastEndpoint);
  t.ok((await peerEvent(peer, "HANDSHAKE_SUCCEEDED")).length > 0);
});

test("libzmq DEALER (PLAIN client) -> emq ROUTER (plainServer + authenticate): wrong password", async (t) => {
  const s = scope(t);
  let asked = 0;
  const router = s.sock(new Router({ linger: 0, plainServer: true, authenticate: (req) => (asked++, req.password === "s3cret") }));
  await router.bind(LOCAL);
  const log = new EventLog(router, [...AUTH_EVENTS]);
  const refused = log.next("handshake:error:auth", WAIT);
  const peer = await s.peer({ type: "DEALER", connect: router.lastEndpoint!, plainUsername: "admin", plainPassword: "nope", reconnectIvl: 200 });
  await peer.send([Buffer.from("must not arrive")]);
  const ev = await refused;
  t.equal(ev.error?.code, "EACCES");
  t.match(ev.error?.message, /status 400/);
  // libzmq's PLAIN client takes our ERROR "400" (sent while it waits for READY) as an auth failure.
  const seen = await peerEvent(peer, "HANDSHAKE_FAILED_AUTH");
  t.notOk(seen.includes("HANDSHAKE_SUCCEEDED"), `libzmq never completed the handshake (${seen.join(" ")})`);
  const nothing = await router.receive({ signal: AbortSignal.timeout(300) }).then(strs, (e: { code?: string }) => e.code);
  t.equal(nothing, "ABORT_ERR", "emq received nothing");
  t.equal(log.count("handshake"), 0);
  t.ok(asked >= 1, `the hook was asked (${asked} times: libzmq retries on its own)`);
});

// ---- libzmq NULL client -> emq NULL + authenticate -----------------------------------------------

test("libzmq DEALER (NULL) -> emq ROUTER (NULL + authenticate on bind): allowed and denied", async (t) => {
  const s = scope(t);
  const asked: AuthRequest[] = [];
  const router = s.sock(
    new Router({
      linger: 0,
      authenticate: (req) => {
        asked.push(req);
        return req.routingId.toString() === "friend" ? true : { allow: false, status: 400, reason: "unknown peer" };
      },
    }),
  );
  await router.bind(LOCAL);
  const log = new EventLog(router, [...AUTH_EVENTS]);

  const friend = await s.peer({ type: "DEALER", connect: router.lastEndpoint!, identity: "friend" });
  await friend.send([Buffer.from("hi")]);
  t.same(strs(await recv(router)), ["friend", "hi"]);
  await within(router.send(["friend", "hello"]), WAIT, "router send");
  t.same(strs(await friend.recv(WAIT)), ["hello"]);
  t.equal(asked[0]!.mechanism, "NULL");
  t.equal(asked[0]!.socketType, "DEALER");

  const refused = log.next("handshake:error:auth", WAIT);
  const stranger = await s.peer({ type: "DEALER", connect: router.lastEndpoint!, identity: "stranger", reconnectIvl: 200 });
  // Depending on when libzmq drops the refused connection's pipe, the send is queued or refused
  // with EAGAIN; either way nothing may arrive.
  const sent = await stranger.trySend([Buffer.from("must not arrive")]);
  t.ok(sent === undefined || sent === "EAGAIN", `the stranger's send was queued or refused (${sent ?? "queued"})`);
  const ev = await refused;
  t.equal(ev.error?.code, "EACCES");
  t.match(ev.error?.message, /status 400: unknown peer/);
  // libzmq's NULL client reads ERROR "400" as an authentication failure too.
  const seen = await peerEvent(stranger, "HANDSHAKE_FAILED_AUTH");
  t.notOk(seen.includes("HANDSHAKE_SUCCEEDED"), `the stranger never completed the handshake (${seen.join(" ")})`);
  const nothing = await router.receive({ signal: AbortSignal.timeout(300) }).then(strs, (e: { code?: string }) => e.code);
  t.equal(nothing, "ABORT_ERR", "emq received nothing from the stranger");
});
