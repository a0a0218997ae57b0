// inproc:// between sockets of one process: connect before bind, the socket-type check, identities,
// order and backpressure at the HWM, disconnect/unbind/rebind, linger on close, events; and the
// Proxy helper over inproc and tcp.

import t from "tap";
import { Buffer } from "node:buffer";
import { Dealer, Proxy, Router, type Socket, Publisher } from "../../src/index.js";
import { isPending, scope, sleep, until, watch, within } from "./fake-peer.js";

const WAIT = 5000;
const recv = (s: Socket, what = "a message"): Promise<Buffer[]> => within(s.receive(), WAIT, what);
const strs = (m: Buffer[]): string[] => m.map(String);
let seq = 0;
const name = () => `inproc://test-${process.pid}-${++seq}`;

t.test("connect before bind: messages queue and arrive once the name is bound", async (t) => {
  const s = scope(t);
  const addr = name();
  const d = s.sock(new Dealer({ routingId: "early" }));
  const ev = watch(d);
  d.connect(addr);
  await d.send("one");
  await d.send(["two", "parts"]);
  await ev.wait("connect:delay");
  const r = s.sock(new Router());
  await r.bind(addr);
  t.same(strs(await recv(r)), ["early", "one"]);
  t.same(strs(await recv(r)), ["early", "two", "parts"]);
  await r.send(["early", "back", ""]);
  t.same(strs(await recv(d)), ["back", ""], "empty frames survive");
  await ev.wait("connect");
  await ev.wait("handshake");
  t.equal(r.lastEndpoint, addr);
});

t.test("binding a name twice is EADDRINUSE; unbind frees it", async (t) => {
  const s = scope(t);
  const addr = name();
  const a = s.sock(new Router());
  const b = s.sock(new Router());
  await a.bind(addr);
  await t.rejects(b.bind(addr), { code: "EADDRINUSE" });
  await a.unbind(addr);
  await b.bind(addr);
  t.pass("rebound after unbind");
});

t.test("incompatible socket types are refused on both sides, without reconnecting", async (t) => {
  const s = scope(t);
  const addr = name();
  const r = s.sock(new Router());
  const rev = watch(r);
  await r.bind(addr);
  const d = s.sock(new Publisher());
  const dev = watch(d);
  d.connect(addr);
  const e1 = await dev.wait("handshake:error:protocol");
  t.match(e1.error?.message ?? "", /PUB cannot talk to ROUTER/);
  const e2 = await rev.wait("handshake:error:protocol");
  t.match(e2.error?.message ?? "", /ROUTER cannot talk to PUB/);
  await sleep(300);
  t.equal(dev.count("connect:retry"), 0, "a protocol refusal is not retried");
  t.equal(rev.count("handshake"), 0);
});

t.test("thousands of messages arrive in order; a slow reader holds the sender at the HWM", async (t) => {
  const s = scope(t);
  const addr = name();
  const r = s.sock(new Router({ receiveHighWaterMark: 10 }));
  await r.bind(addr);
  const d = s.sock(new Dealer({ sendHighWaterMark: 10, routingId: "d" }));
  d.connect(addr);
  const N = 5000;
  let sent = 0;
  const sender = (async () => {
    for (let i = 0; i < N; i++) {
      await d.send(String(i));
      sent = i + 1;
    }
  })();
  await until(() => sent > 0, "first sends");
  await sleep(50);
  const stuck = sent;
  t.ok(stuck < N, `the sender stops while nobody reads (${stuck} accepted)`);
  // Bound: receive HWM + in flight + send HWM (in-flight is a fixed batch).
  t.ok(stuck <= 10 + 256 + 10 + 1, `at most rcvHWM + in-flight + sndHWM are accepted (${stuck})`);
  for (let i = 0; i < N; i++) {
    const m = await recv(r, `message ${i}`);
    if (String(m[1]) !== String(i)) {
      t.fail(`message ${i} out of order: got ${String(m[1])}`);
      break;
    }
  }
  await within(sender, WAIT, "sender done");
  t.equal(sent, N, "all delivered in order");
});

t.test("the binder closing disconnects; the connector reconnects when the name is bound again", async (t) => {
  const s = scope(t);
  const addr = name();
  const r1 = s.sock(new Router());
  await r1.bind(addr);
  const d = s.sock(new Dealer({ routingId: "d", reconnectInterval: 10 }));
  const ev = watch(d);
  d.connect(addr);
  await d.send("a");
  t.same(strs(await recv(r1)), ["d", "a"]);
  r1.linger = 0;
  r1.close();
  await ev.wait("disconnect");
  await d.send("queued while away");
  const r2 = s.sock(new Router());
  await r2.bind(addr);
  t.same(strs(await recv(r2)), ["d", "queued while away"]);
  t.ok(ev.count("handshake") >= 2, "handshook twice");
});

t.test("disconnect() drops the link; the bound side sees a disconnect", async (t) => {
  const s = scope(t);
  const addr = name();
  const r = s.sock(new Router());
  const rev = watch(r);
  await r.bind(addr);
  const d = s.sock(new Dealer({ routingId: "x" }));
  d.connect(addr);
  await d.send("hi");
  await recv(r);
  d.disconnect(addr);
  await rev.wait("disconnect");
  await r.send(["x", "gone"]); // dropped: unknown id now (ROUTER default)
  t.throws(() => d.disconnect(addr), { code: "ENOENT" });
});

t.test("close() with linger delivers what was queued, over inproc", async (t) => {
  const s = scope(t);
  const addr = name();
  const r = s.sock(new Router({ receiveHighWaterMark: 5 }));
  await r.bind(addr);
  const d = new Dealer({ routingId: "l", linger: 2000 });
  d.connect(addr);
  for (let i = 0; i < 50; i++) await d.send(String(i));
  d.close();
  for (let i = 0; i < 50; i++) t.equal(String((await recv(r, `lingered ${i}`))[1]), String(i));
  t.pass("all 50 delivered after close()");
});

t.test("inproc links pass bodies by reference, and each receiver gets its own frame array", async (t) => {
  const s = scope(t);
  const addr = name();
  const r = s.sock(new Router());
  await r.bind(addr);
  const d = s.sock(new Dealer({ routingId: "z" }));
  d.connect(addr);
  const big = Buffer.alloc(1 << 20, 7);
  await d.send(big);
  const [, got] = await recv(r);
  t.equal(got!.buffer, big.buffer, "no copy of a 1 MiB body");
});

t.test("a pending receive on the connector is not disturbed by the binder restarting", async (t) => {
  const s = scope(t);
  const addr = name();
  const r1 = s.sock(new Router());
  await r1.bind(addr);
  const d = s.sock(new Dealer({ routingId: "p", reconnectInterval: 10 }));
  d.connect(addr);
  const pending = d.receive();
  await d.send("ping");
  await recv(r1);
  r1.linger = 0;
  r1.close();
  t.ok(await isPending(pending), "still waiting");
  const r2 = s.sock(new Router());
  await r2.bind(addr);
  await d.send("again");
  const [id] = await recv(r2);
  await r2.send([id!, "pong"]);
  t.same(strs(await within(pending, WAIT, "reply")), ["pong"]);
});

t.test("Proxy forwards both ways between a ROUTER frontend and a DEALER backend, with capture", async (t) => {
  const s = scope(t);
  const front = s.sock(new Router());
  const back = s.sock(new Dealer());
  const capture = s.sock(new Dealer());
  const capSink = s.sock(new Router());
  await front.bind("tcp://127.0.0.1:0");
  await back.bind(name());
  const capAddr = name();
  await capSink.bind(capAddr);
  capture.connect(capAddr);
  const proxy = new Proxy(front, back, { capture });
  const running = proxy.run();

  const client = s.sock(new Dealer({ routingId: "client" }));
  client.connect(front.lastEndpoint!);
  const worker = s.sock(new Dealer({ routingId: "worker" }));
  worker.connect(back.lastEndpoint!);

  await client.send(["", "job"]);
  const atWorker = await recv(worker, "request at the worker");
  t.same(strs(atWorker), ["client", "", "job"], "the ROUTER envelope travels with the request");
  await worker.send(atWorker.map((f, i) => (i === 2 ? Buffer.from("done") : f)));
  t.same(strs(await recv(client, "reply at the client")), ["", "done"]);

  const c1 = await recv(capSink, "captured request");
  const c2 = await recv(capSink, "captured reply");
  t.same(strs(c1.slice(1)), ["client", "", "job"]);
  t.same(strs(c2.slice(1)), ["client", "", "done"]);

  proxy.pause();
  await client.send(["", "held"]);
  // The message in flight when pause() was called may still pass; the next one must wait.
  await client.send(["", "held2"]);
  await sleep(100);
  const seenWhilePaused: string[] = [];
  const probe = worker.receive();
  await sleep(50);
  if (!(await isPending(probe))) seenWhilePaused.push(String((await probe)[2]));
  t.ok(seenWhilePaused.length <= 1, "at most the in-flight message passes while paused");
  proxy.resume();
  const rest = seenWhilePaused.length === 1 ? [] : [String((await within(probe, WAIT, "after resume"))[2])];
  rest.push(String((await recv(worker))[2]));
  t.same([...seenWhilePaused, ...rest], ["held", "held2"], "both arrive after resume, in order");

  proxy.terminate();
  await within(running, WAIT, "run() to end after terminate()");
  t.ok(proxy.terminated);
  t.notOk(front.closed, "terminate leaves the sockets open");
});

t.test("Proxy.run() ends when a socket closes; bad pairs are refused", async (t) => {
  const s = scope(t);
  const a = s.sock(new Router());
  const b = s.sock(new Dealer());
  await a.bind(name());
  const p = new Proxy(a, b);
  const running = p.run();
  t.equal(p.run(), running, "run() twice is the same run");
  b.close();
  await within(running, WAIT, "run() to end");
  t.throws(() => new Proxy(a, a), { code: "EINVAL" });
});

t.test("a refused peer is reported with its reason (duplicate routing id)", async (t) => {
  const s = scope(t);
  const addr = name();
  const r = s.sock(new Router());
  const ev = watch(r);
  await r.bind(addr);
  const a = s.sock(new Dealer({ routingId: "same" }));
  a.connect(addr);
  await a.send("first");
  t.same(strs(await recv(r)), ["same", "first"]);
  const b = s.sock(new Dealer({ routingId: "same", reconnectInterval: 1000 }));
  b.connect(addr);
  const e = await ev.wait("disconnect");
  t.equal(e.error?.code, "ECONNREFUSED");
  t.match(e.error?.message ?? "", /routing id "same" is already in use/);
  await r.send(["same", "still a"]);
  t.same(strs(await recv(a)), ["still a"], "the first peer keeps its id");
});
