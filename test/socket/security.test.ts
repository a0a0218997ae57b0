// PLAIN and the authenticate hook on real sockets over tcp://127.0.0.1: DEALER (PLAIN client) <->
// ROUTER (plainServer + authenticate). Right and wrong passwords, what both sides report, that no
// message crosses a refused connection (also from a raw peer that pipelines one), async hooks,
// hooks that throw or reject, a temporary refusal that is retried, what the hook is told about the
// peer, NULL + authenticate on a bind socket, and option checks.

import t from "tap";
import { Buffer } from "node:buffer";
import { Dealer, Router, SocketError, type AuthRequest, type AuthVerdict, type Socket } from "../../src/index.js";
import { COMMAND, encodeCommand, encodeFrame, encodeGreeting, encodeHello, encodeMetadata } from "../../src/zmtp/index.js";
import { scope, sleep, until, watch, within } from "./fake-peer.js";

/** What a subtest callback gets (the last overload of t.test takes only the callback). */
type Test = Parameters<Parameters<typeof t.test>[0]>[0];

const WAIT = 5000;
const LOCAL = "tcp://127.0.0.1:0";
const recv = (s: Socket, what = "a message"): Promise<Buffer[]> => within(s.receive(), WAIT, what);
const strs = (m: Buffer[]): string[] => m.map(String);

/** A hook that records what it is asked and answers with `decide`. */
function recorder(decide: (req: AuthRequest) => AuthVerdict | Promise<AuthVerdict>) {
  const asked: AuthRequest[] = [];
  const hook = (req: AuthRequest) => {
    asked.push(req);
    return decide(req);
  };
  return { asked, hook };
}

const checkPassword = (req: AuthRequest) => req.username === "admin" && req.password === "s3cret";

/** No message reaches `s` for `ms` (a negative assertion, hence the fixed wait). */
async function nothingArrives(t: Test, s: Socket, ms = 300): Promise<void> {
  const got = await s.receive({ signal: AbortSignal.timeout(ms) }).then(strs, (e: { code?: string }) => e.code);
  t.equal(got, "ABORT_ERR", `nothing delivered within ${ms} ms`);
}

t.test("right password: the handshake completes and messages flow both ways", async (t) => {
  const s = scope(t);
  const auth = recorder(checkPassword);
  const router = s.sock(new Router({ plainServer: true, authenticate: auth.hook }));
  await router.bind(LOCAL);
  const dealer = s.sock(new Dealer({ plainUsername: "admin", plainPassword: "s3cret", routingId: "d-1" }));
  const rw = watch(router);
  const dw = watch(dealer);
  dealer.connect(router.lastEndpoint!);
  await dealer.send("hello");
  t.same(strs(await recv(router)), ["d-1", "hello"]);
  await router.send(["d-1", "welcome back"]);
  t.same(strs(await recv(dealer)), ["welcome back"]);
  await rw.wait("handshake");
  await dw.wait("handshake");
  t.equal(auth.asked.length, 1, "asked once");
  const q = auth.asked[0]!;
  t.equal(q.mechanism, "PLAIN");
  t.equal(q.username, "admin");
  t.equal(q.password, "s3cret");
  t.equal(q.address, "127.0.0.1", "the peer's IP, like ZAP's address");
  t.equal(q.endpoint, router.lastEndpoint, "our bound endpoint");
  t.ok(Buffer.isBuffer(q.routingId));
  t.equal(String(q.routingId), "d-1", "the peer's routing id");
  t.equal(q.socketType, "DEALER");
  t.equal(rw.count("handshake:error:auth") + dw.count("handshake:error:auth"), 0);
});

t.test("wrong password: both sides report handshake:error:auth (EACCES), nothing is delivered", async (t) => {
  const s = scope(t);
  const auth = recorder(checkPassword);
  const router = s.sock(new Router({ plainServer: true, authenticate: auth.hook }));
  await router.bind(LOCAL);
  const dealer = s.sock(new Dealer({ plainUsername: "admin", plainPassword: "guess", routingId: "d-2", reconnectInterval: 20 }));
  const rw = watch(router);
  const dw = watch(dealer);
  dealer.connect(router.lastEndpoint!);
  await dealer.send("queued before the handshake"); // waits in the pipe; must never reach the router
  const [se, ce] = await Promise.all([rw.wait("handshake:error:auth"), dw.wait("handshake:error:auth")]);
  t.equal(se.error?.code, "EACCES", "server side: EACCES");
  t.match(se.error?.message, /status 400/);
  t.equal(se.address, router.lastEndpoint);
  t.equal(ce.error?.code, "EACCES", "client side: EACCES");
  t.match(ce.error?.message, /status 400/);
  t.equal(ce.address, router.lastEndpoint);
  await nothingArrives(t, router);
  t.equal(rw.count("handshake"), 0, "no handshake event on the server");
  t.equal(dw.count("handshake"), 0, "no handshake event on the client");
  t.equal(dw.count("connect:retry"), 0, "a refused client does not retry");
  t.equal(auth.asked.length, 1, "asked exactly once");
  t.equal(dw.count("connect"), 1);
});

t.test("a raw PLAIN client that pipelines a message after INITIATE gets WELCOME, ERROR 400, and is dropped", async (t) => {
  const s = scope(t);
  const router = s.sock(new Router({ plainServer: true, authenticate: () => false }));
  await router.bind(LOCAL);
  const rw = watch(router);
  const c = await s.dial(router.lastEndpoint!);
  const initiate = encodeFrame(COMMAND, encodeCommand("INITIATE", encodeMetadata([["Socket-Type", Buffer.from("DEALER")], ["Identity", Buffer.from("raw")]])));
  c.write(
    Buffer.concat([
      encodeGreeting("PLAIN", false),
      encodeFrame(COMMAND, encodeHello(Buffer.from("u"), Buffer.from("p"))),
      initiate,
      encodeFrame(0, Buffer.from("sneaky")),
    ]),
  );
  const g = await c.read(64);
  t.equal(g[32], 1, "the router's greeting says as-server");
  t.equal(g.subarray(12, 17).toString(), "PLAIN");
  const welcome = await c.readFrame();
  t.equal(welcome.body.toString("hex"), "0757454c434f4d45", "WELCOME");
  const error = await c.readFrame();
  t.equal(error.flags, COMMAND);
  t.equal(error.body.toString("hex"), "5e52524f5203343030", "ERROR with reason \"400\", spelled as libzmq's PLAIN does");
  await c.waitEnd();
  t.equal((await rw.wait("handshake:error:auth")).error?.code, "EACCES");
  await nothingArrives(t, router);
});

t.test("async hook: the handshake waits for the promise; a rejected promise refuses with 500", async (t) => {
  const s = scope(t);
  let release!: (v: AuthVerdict) => void;
  const auth = recorder(() => new Promise<AuthVerdict>((r) => (release = r)));
  const router = s.sock(new Router({ plainServer: true, authenticate: auth.hook }));
  await router.bind(LOCAL);
  const dealer = s.sock(new Dealer({ plainUsername: "admin", plainPassword: "s3cret" }));
  const dw = watch(dealer);
  dealer.connect(router.lastEndpoint!);
  await dealer.send("after the verdict");
  await until(() => auth.asked.length === 1, "the hook to be asked");
  await sleep(100);
  t.equal(dw.count("handshake"), 0, "no handshake while the verdict is pending");
  release({ allow: true });
  t.equal(String((await recv(router))[1]), "after the verdict");
  t.equal(auth.asked[0]!.routingId.length, 0, "a DEALER without routingId sends an empty Identity");
  await dw.wait("handshake");

  const router2 = s.sock(new Router({ plainServer: true, authenticate: async () => Promise.reject(new Error("ledger offline")) }));
  await router2.bind(LOCAL);
  const rw2 = watch(router2);
  const dealer2 = s.sock(new Dealer({ plainUsername: "admin", plainPassword: "s3cret" }));
  const dw2 = watch(dealer2);
  dealer2.connect(router2.lastEndpoint!);
  const se = await rw2.wait("handshake:error:auth");
  t.equal(se.error?.code, "EACCES");
  t.match(se.error?.message, /status 500/);
  t.match(se.error?.message, /ledger offline/, "the server's error says why");
  const ce = await dw2.wait("handshake:error:auth");
  t.match(ce.error?.message, /status 500/);
});

t.test("a hook that throws refuses with 500; the socket keeps serving others", async (t) => {
  const s = scope(t);
  const router = s.sock(
    new Router({
      plainServer: true,
      authenticate: (req) => {
        if (req.username === "boom") throw new Error("bug in the hook");
        return true;
      },
    }),
  );
  await router.bind(LOCAL);
  const rw = watch(router);
  const bad = s.sock(new Dealer({ plainUsername: "boom", plainPassword: "" }));
  const bw = watch(bad);
  bad.connect(router.lastEndpoint!);
  const se = await rw.wait("handshake:error:auth");
  t.match(se.error?.message, /bug in the hook/);
  t.match(se.error?.message, /status 500/);
  t.equal((await bw.wait("handshake:error:auth")).error?.code, "EACCES");
  const good = s.sock(new Dealer({ plainUsername: "fine", routingId: "g" }));
  good.connect(router.lastEndpoint!);
  await good.send("still here");
  t.same(strs(await recv(router)), ["g", "still here"]);
});

t.test("status 300 (temporary) makes the client retry; the next attempt may be allowed", async (t) => {
  const s = scope(t);
  let calls = 0;
  const router = s.sock(
    new Router({ plainServer: true, authenticate: () => (++calls === 1 ? { allow: false, status: 300, reason: "warming up" } : true) }),
  );
  await router.bind(LOCAL);
  const rw = watch(router);
  const dealer = s.sock(new Dealer({ plainUsername: "admin", plainPassword: "s3cret", routingId: "t", reconnectInterval: 20 }));
  const dw = watch(dealer);
  dealer.connect(router.lastEndpoint!);
  await dealer.send("eventually");
  const ce = await dw.wait("handshake:error:auth");
  t.match(ce.error?.message, /status 300/);
  t.match((await rw.wait("handshake:error:auth")).error?.message, /status 300: warming up/);
  await dw.wait("connect:retry");
  t.same(strs(await recv(router)), ["t", "eventually"], "delivered after the second, allowed attempt");
  t.equal(calls, 2);
});

t.test("PLAIN server without a hook admits any credentials", async (t) => {
  const s = scope(t);
  const router = s.sock(new Router({ plainServer: true }));
  await router.bind(LOCAL);
  const dealer = s.sock(new Dealer({ plainUsername: "whoever", plainPassword: "whatever", routingId: "w" }));
  dealer.connect(router.lastEndpoint!);
  await dealer.send("in");
  t.same(strs(await recv(router)), ["w", "in"]);
  // A password alone also makes a PLAIN client (as in libzmq), with an empty username.
  const auth = recorder(() => true);
  const r2 = s.sock(new Router({ plainServer: true, authenticate: auth.hook }));
  await r2.bind(LOCAL);
  const d2 = s.sock(new Dealer({ plainPassword: "only-a-password", routingId: "p" }));
  d2.connect(r2.lastEndpoint!);
  await d2.send("x");
  t.same(strs(await recv(r2)), ["p", "x"]);
  t.equal(auth.asked[0]!.username, "");
  t.equal(auth.asked[0]!.password, "only-a-password");
});

t.test("the PLAIN server may be the connecting side; roles come from the options, not bind/connect", async (t) => {
  const s = scope(t);
  const dealer = s.sock(new Dealer({ plainUsername: "admin", plainPassword: "s3cret", routingId: "bound-client" }));
  await dealer.bind(LOCAL);
  const auth = recorder(checkPassword);
  const router = s.sock(new Router({ plainServer: true, authenticate: auth.hook }));
  router.connect(dealer.lastEndpoint!);
  await dealer.send("from the bound client");
  t.same(strs(await recv(router)), ["bound-client", "from the bound client"]);
  t.equal(auth.asked[0]!.endpoint, dealer.lastEndpoint, "endpoint: the one we dialed");
});

t.test("NULL + authenticate on a bind socket: asked about every accepted peer", async (t) => {
  const s = scope(t);
  const auth = recorder((req) => String(req.routingId) !== "intruder");
  const router = s.sock(new Router({ authenticate: auth.hook }));
  await router.bind(LOCAL);
  const rw = watch(router);
  const friend = s.sock(new Dealer({ routingId: "friend" }));
  friend.connect(router.lastEndpoint!);
  await friend.send("hi");
  t.same(strs(await recv(router)), ["friend", "hi"]);
  t.equal(auth.asked[0]!.mechanism, "NULL");
  t.equal(auth.asked[0]!.username, undefined);
  t.equal(auth.asked[0]!.password, undefined);
  t.equal(auth.asked[0]!.socketType, "DEALER");
  t.equal(auth.asked[0]!.address, "127.0.0.1");

  const intruder = s.sock(new Dealer({ routingId: "intruder" }));
  const iw = watch(intruder);
  intruder.connect(router.lastEndpoint!);
  await intruder.send("let me in");
  const [se, ce] = await Promise.all([rw.wait("handshake:error:auth"), iw.wait("handshake:error:auth")]);
  t.equal(se.error?.code, "EACCES");
  t.equal(ce.error?.code, "EACCES");
  t.match(ce.error?.message, /status 400/);
  await nothingArrives(t, router);

  // The dialing side's hook is never asked under NULL.
  const dialerAuth = recorder(() => false);
  const d3 = s.sock(new Dealer({ routingId: "d3", authenticate: dialerAuth.hook }));
  d3.connect(router.lastEndpoint!);
  await d3.send("dialer hooks are not asked");
  t.same(strs(await recv(router)), ["d3", "dialer hooks are not asked"]);
  t.equal(dialerAuth.asked.length, 0);
});

t.test("closing while the hook is pending: the late verdict is ignored", async (t) => {
  const s = scope(t);
  let release!: (v: AuthVerdict) => void;
  const router = s.sock(new Router({ plainServer: true, authenticate: () => new Promise<AuthVerdict>((r) => (release = r)) }));
  await router.bind(LOCAL);
  const dealer = s.sock(new Dealer({ plainUsername: "a", plainPassword: "b", reconnectInterval: 20 }));
  const dw = watch(dealer);
  dealer.connect(router.lastEndpoint!);
  await until(() => release !== undefined, "the hook to be asked");
  router.close();
  release(true);
  await dw.wait("connect:retry");
  await sleep(50);
  t.equal(dw.count("handshake"), 0, "never admitted");
});

t.test("role and mechanism mismatches are protocol errors on both sides", async (t) => {
  const s = scope(t);
  const a = s.sock(new Router({ plainUsername: "a" }));
  await a.bind(LOCAL);
  const aw = watch(a);
  const b = s.sock(new Dealer({ plainUsername: "b", reconnectInterval: 20 }));
  const bw = watch(b);
  b.connect(a.lastEndpoint!);
  const [ae, be] = await Promise.all([aw.wait("handshake:error:protocol"), bw.wait("handshake:error:protocol")]);
  // Each gets the other's HELLO: the greeting cannot tell (libzmq's servers send as-server 0).
  t.match(ae.error?.message, /PLAIN client got HELLO/);
  t.match(be.error?.message, /PLAIN client got HELLO/);

  const n = s.sock(new Router());
  await n.bind(LOCAL);
  const nw = watch(n);
  const p = s.sock(new Dealer({ plainUsername: "b", reconnectInterval: 20 }));
  p.connect(n.lastEndpoint!);
  const ne = await nw.wait("handshake:error:protocol");
  t.equal((ne.error as { code?: string }).code, "ENOCOMPATPROTO");
  t.match(ne.error?.message, /mechanism PLAIN/);
});

t.test("options: checked at bind/connect, settable in the constructor", async (t) => {
  const s = scope(t);
  const both = s.sock(new Router({ plainServer: true, plainUsername: "x" }));
  await t.rejects(both.bind(LOCAL), { code: "EINVAL" }, "server and client at once");
  const long = s.sock(new Dealer({ plainUsername: "é".repeat(128) }));
  t.throws(() => long.connect("tcp://127.0.0.1:1"), { code: "EINVAL" }, "256 bytes of UTF-8");
  const okLen = s.sock(new Dealer({ plainUsername: "x".repeat(255), plainPassword: "y".repeat(255), reconnectInterval: -1 }));
  t.doesNotThrow(() => okLen.connect("tcp://127.0.0.1:1"));
  const bad = s.sock(new Dealer());
  (bad as unknown as { authenticate: unknown }).authenticate = "yes";
  t.throws(() => bad.connect("tcp://127.0.0.1:1"), SocketError);
  const r = s.sock(new Router());
  t.equal(r.plainServer, false);
  t.equal(r.plainUsername, undefined);
  t.equal(r.plainPassword, undefined);
  t.equal(r.authenticate, undefined);
  t.throws(() => new Router({ authenticate: () => true, nope: 1 } as never), { code: "EINVAL" }, "unknown keys still refused");
});
