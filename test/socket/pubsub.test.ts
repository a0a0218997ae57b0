// PUB/SUB/XPUB/XSUB semantics over real sockets (tcp://127.0.0.1 and inproc://): prefix filtering,
// the empty prefix, counted subscriptions, several subscribers, XPUB verbosity, manual mode and
// departures, XSUB-driven subscriptions, resubscription after the publisher restarts, HWM drops
// and noDrop waits, invertMatching, bad input; the subscription table against a model
// (fast-check); and libzmq (pyzmq) as the peer in both directions.

import t from "tap";
import fc from "fast-check";
import { Buffer } from "node:buffer";
import { spawn } from "node:child_process";
import { createInterface } from "node:readline";
import { Proxy, Publisher, Subscriber, XPublisher, XSubscriber, type Socket } from "../../src/index.js";
import { Added, Removed, SubscriptionTable } from "../../src/socket/subscriptions.js";
import { PYTHON, pyzmqStatus } from "../interop/peer.js";
import { isPending, scope, sleep, until, within } from "./fake-peer.js";

const WAIT = 5000;
const recv = (s: Socket, what = "a message"): Promise<Buffer[]> => within(s.receive(), WAIT, what);
const strs = (m: Buffer[]): string[] => m.map(String);
const hex = (m: Buffer[]): string[] => m.map((b) => b.toString("hex"));
let seq = 0;
const inprocName = () => `inproc://pubsub-${process.pid}-${++seq}`;
const TRANSPORTS = ["tcp", "inproc"] as const;
type Transport = (typeof TRANSPORTS)[number];
const addressFor = (tr: Transport) => (tr === "tcp" ? "tcp://127.0.0.1:0" : inprocName());

/** Binds and returns the address peers should connect to. */
async function bound(s: Socket, tr: Transport): Promise<string> {
  await s.bind(addressFor(tr));
  return s.lastEndpoint!;
}

/** White-box: how many peers a PUB/XPUB holds `topic` for (no event says when a subscription arrived). */
const holders = (pub: Publisher | XPublisher, topic: string): number =>
  (pub as unknown as { _subs: SubscriptionTable<unknown> })._subs.holders(Buffer.from(topic, "latin1"));

/** White-box: waits until the publisher has `n` attached (or connecting) peers. */
const waitPeers = (pub: Publisher | XPublisher, n: number) =>
  until(() => (pub as unknown as { _peers: Set<unknown> })._peers.size === n, `${n} peer(s) at the publisher`);

const waitHolders = (pub: Publisher | XPublisher, topic: string, n: number) =>
  until(() => holders(pub, topic) === n, `${n} subscriber(s) of ${JSON.stringify(topic)} at the publisher`);

/** Receives until a message whose first frame is `end`; returns the messages before it. */
async function upTo(s: Socket, end: string): Promise<string[][]> {
  const got: string[][] = [];
  for (;;) {
    const m = strs(await recv(s, `messages up to ${end}`));
    if (m[0] === end) return got;
    got.push(m);
  }
}

/** Binds, retrying briefly while a just-closed listener still holds the port. */
async function bindRetry(s: Socket, address: string): Promise<void> {
  for (let i = 0; ; i++) {
    try {
      return await s.bind(address);
    } catch (err) {
      if ((err as { code?: string }).code !== "EADDRINUSE" || i > 100) throw err;
      await sleep(20);
    }
  }
}

for (const tr of TRANSPORTS) {
  t.test(`${tr}: prefix filtering, empty prefix, overlapping prefixes, multipart`, async (t) => {
    const s = scope(t);
    const pub = s.sock(new Publisher());
    const addr = await bound(pub, tr);
    const a = s.sock(new Subscriber());
    const all = s.sock(new Subscriber());
    const ab = s.sock(new Subscriber());
    a.subscribe("A");
    all.subscribe();
    ab.subscribe("A", "AB", Buffer.from([0xff, 0x00])); // overlapping prefixes: a message comes once
    for (const x of [a, ab]) x.subscribe("END");
    for (const x of [a, all, ab]) x.connect(addr);
    await waitHolders(pub, "A", 2);
    await waitHolders(pub, "", 1);
    await waitHolders(pub, "END", 2);

    await pub.send("A1");
    await pub.send(["B1", "x"]);
    await pub.send(["AB2", "", "z"]);
    await pub.send("");
    await pub.send(Buffer.from([0xff, 0x00, 0x01]));
    await pub.send(Buffer.from([0xff]));
    await pub.send("a-lowercase");
    await pub.send(["END"]);
    t.same(await upTo(a, "END"), [["A1"], ["AB2", "", "z"]], "A: prefix A only");
    t.same(
      await upTo(ab, "END"),
      [["A1"], ["AB2", "", "z"], [Buffer.from([0xff, 0x00, 0x01]).toString()]],
      "A + AB + ff00: each matching message once",
    );
    const got = await upTo(all, "END");
    t.same(
      got.map((m) => m[0]),
      ["A1", "B1", "AB2", "", Buffer.from([0xff, 0x00, 0x01]).toString(), Buffer.from([0xff]).toString(), "a-lowercase"],
      "the empty prefix takes everything, in order",
    );
    t.same(got[1], ["B1", "x"], "multipart kept whole");
  });

  t.test(`${tr}: subscriptions are counted; only the first and last reach the publisher`, async (t) => {
    const s = scope(t);
    const pub = s.sock(new Publisher());
    const addr = await bound(pub, tr);
    const sub = s.sock(new Subscriber());
    sub.subscribe("END");
    sub.subscribe("A");
    sub.subscribe("A");
    sub.connect(addr);
    await waitHolders(pub, "A", 1);
    sub.unsubscribe("A");
    sub.unsubscribe("never-subscribed"); // ignored
    await pub.send("A1");
    await pub.send("END");
    t.same(await upTo(sub, "END"), [["A1"]], "one unsubscribe of two: still subscribed");
    sub.unsubscribe("A");
    await waitHolders(pub, "A", 0);
    await pub.send("A2");
    await pub.send("END");
    t.same(await upTo(sub, "END"), [], "second unsubscribe ends it");
    sub.subscribe();
    sub.subscribe(); // the empty prefix, counted too
    sub.unsubscribe();
    await waitHolders(pub, "", 1);
    await pub.send("anything");
    t.same(strs(await recv(sub)), ["anything"]);
  });
}

t.test("several subscribers with different topics over tcp and inproc at once", async (t) => {
  const s = scope(t);
  const pub = s.sock(new Publisher());
  await pub.bind("tcp://127.0.0.1:0");
  const name = inprocName();
  await pub.bind(name);
  const subs: Subscriber[] = [];
  for (let i = 0; i < 6; i++) {
    const sub = s.sock(new Subscriber());
    sub.subscribe(`t${i}.`, "END");
    sub.connect(i % 2 === 0 ? pub.lastEndpoint! : name);
    subs.push(sub);
  }
  await waitHolders(pub, "END", 6);
  for (let n = 0; n < 5; n++) for (let i = 0; i < 6; i++) await pub.send([`t${i}.${n}`, String(n)]);
  await pub.send("END");
  for (let i = 0; i < 6; i++) {
    const want = [0, 1, 2, 3, 4].map((n) => [`t${i}.${n}`, String(n)]);
    t.same(await upTo(subs[i]!, "END"), want, `subscriber ${i} gets its own topic, in order`);
  }
});

t.test("PUB with no subscribers drops silently and never waits", async (t) => {
  const s = scope(t);
  const pub = s.sock(new Publisher({ sendHighWaterMark: 1 }));
  let waited = 0;
  for (let i = 0; i < 100; i++) if (await isPending(pub.send(`early${i}`))) waited++;
  t.equal(waited, 0, "no peer: 100 sends resolve at once (HWM 1)");
  const addr = await bound(pub, "tcp");
  const sub = s.sock(new Subscriber());
  sub.connect(addr);
  await waitPeers(pub, 1);
  t.notOk(await isPending(pub.send("unwanted")), "a peer without subscriptions: dropped at once");
  sub.subscribe();
  await waitHolders(pub, "", 1);
  await pub.send("wanted");
  t.same(strs(await recv(sub)), ["wanted"], "only what was sent after subscribing arrives");
  t.equal(pub.writable, true, "a PUB is always writable");
});

t.test("receive on PUB and send on SUB are ENOTSUP; data sent to a PUB is dropped", async (t) => {
  const s = scope(t);
  const pub = s.sock(new Publisher());
  const sub = s.sock(new Subscriber());
  await t.rejects(pub.receive(), { code: "ENOTSUP" });
  await t.rejects(sub.send("x"), { code: "ENOTSUP" });
  t.equal(sub.writable, false);
  const it = pub[Symbol.asyncIterator]();
  await t.rejects(it.next(), { code: "ENOTSUP" }, "iteration too");
  const addr = await bound(pub, "inproc");
  const xsub = s.sock(new XSubscriber());
  xsub.connect(addr);
  await xsub.send(["data", "for", "a", "pub"]);
  await xsub.send(Buffer.from([1, 0x41]));
  await waitHolders(pub, "A", 1);
  await pub.send("A!");
  t.same(strs(await recv(xsub)), ["A!"], "the PUB still works after ignoring data");
  t.throws(() => new Publisher({ verbosity: "allSubs" } as never), { code: "EINVAL" }, "XPUB options are not PUB options");
});

t.test("XPUB verbosity: default, allSubs, allSubsUnsubs", async (t) => {
  for (const verbosity of [null, "allSubs", "allSubsUnsubs"] as const) {
    await t.test(`verbosity ${verbosity}`, async (t) => {
      const s = scope(t);
      const xpub = s.sock(new XPublisher({ verbosity }));
      const addr = await bound(xpub, "tcp");
      const s1 = s.sock(new Subscriber());
      const s2 = s.sock(new XSubscriber());
      s1.connect(addr);
      s2.connect(addr);
      const next = async () => hex(await recv(xpub, "a subscription message"));
      // Both attached first (subscriptions made before the handshake go out once, as a set).
      await waitPeers(xpub, 2);
      s1.subscribe("A");
      t.same(await next(), ["0141"], "first subscribe of A");
      await s2.send("\x01A"); // same topic from another peer
      await s2.send("\x01A"); // and again from the same peer
      await s2.send("\x01M"); // marker: new topic, always passed up
      if (verbosity === null) {
        t.same(await next(), ["014d"], "duplicate subscribes are not passed up");
      } else {
        t.same(await next(), ["0141"], "every subscribe (other peer)");
        t.same(await next(), ["0141"], "every subscribe (same peer again)");
        t.same(await next(), ["014d"]);
      }
      s1.unsubscribe("A"); // s2 still holds A
      await until(() => holders(xpub, "A") === 1, "s1's cancel applied");
      await s2.send("\x00X"); // unknown topic: XSUB drops it itself
      await s2.send(Buffer.from([0x01, 0x4e])); // marker N
      if (verbosity === "allSubsUnsubs") t.same(await next(), ["0041"], "every unsubscribe");
      t.same(await next(), ["014e"], verbosity === "allSubsUnsubs" ? "then the marker" : "a non-last unsubscribe is not passed up");
      await s2.send("\x00A"); // s2 subscribed twice: its XSUB passes on only the second cancel
      await s2.send("\x00A");
      t.same(await next(), ["0041"], "the last unsubscribe of A");
      // Departure: s2 holds M and N, s1 holds nothing else; a third peer also holds N.
      const s3 = s.sock(new Subscriber());
      s3.subscribe("N");
      s3.connect(addr);
      await waitHolders(xpub, "N", 2);
      if (verbosity !== null) t.same(await next(), ["014e"], "s3's duplicate subscribe of N");
      s2.close();
      const gone = (await Promise.all(verbosity === "allSubsUnsubs" ? [next(), next()] : [next()])).map((m) => m[0]).sort();
      t.same(gone, verbosity === "allSubsUnsubs" ? ["004d", "004e"] : ["004d"], "a departing peer's topics come back as unsubscribes");
      t.equal(holders(xpub, "N"), 1, "s3 still holds N");
      await xpub.send("N1");
      t.same(strs(await recv(s3)), ["N1"]);
    });
  }
});

t.test("XPUB delivers the message form as it came, and passes other XSUB messages up unchanged", async (t) => {
  const s = scope(t);
  const xpub = s.sock(new XPublisher());
  const addr = await bound(xpub, "inproc");
  const xsub = s.sock(new XSubscriber());
  xsub.connect(addr);
  await xsub.send(["upstream", "message"]);
  await xsub.send([Buffer.from([1, 0x41]), Buffer.from("two frames: data, not a subscription")]);
  await xsub.send(Buffer.alloc(0));
  await xsub.send(Buffer.from([2, 0x41]));
  t.same(strs(await recv(xpub)), ["upstream", "message"]);
  t.same(hex(await recv(xpub)), ["0141", Buffer.from("two frames: data, not a subscription").toString("hex")]);
  t.same(hex(await recv(xpub)), [""]);
  t.same(hex(await recv(xpub)), ["0241"]);
  t.equal(holders(xpub, "A"), 0, "a multipart message is never a subscription");
});

t.test("XPUB manual mode: the application decides, for the peer it heard from last", async (t) => {
  const s = scope(t);
  const xpub = s.sock(new XPublisher({ manual: true }));
  const addr = await bound(xpub, "tcp");
  const xsub = s.sock(new XSubscriber());
  xsub.connect(addr);
  await waitPeers(xpub, 1);
  await xsub.send("\x01A");
  await xsub.send("\x01A");
  t.same(hex(await recv(xpub)), ["0141"]);
  t.same(hex(await recv(xpub)), ["0141"], "manual: every subscription is passed up");
  await xpub.send("A-before");
  xpub.subscribe("B"); // not what it asked for: our choice
  await xpub.send("A-after");
  await xpub.send("B1");
  t.same(strs(await recv(xsub)), ["B1"], "only the topic the application chose");
  xpub.subscribe("A");
  xpub.unsubscribe("B");
  await xpub.send("B2");
  await xpub.send("A2");
  t.same(strs(await recv(xsub)), ["A2"]);

  // Two peers: subscribe() goes to the one whose message was read last.
  const sub = s.sock(new Subscriber());
  sub.subscribe("C");
  sub.connect(addr);
  t.same(hex(await recv(xpub)), ["0143"]);
  xpub.subscribe("C");
  await xpub.send("C1");
  t.same(strs(await recv(sub)), ["C1"], "the SUB got C");
  await xsub.send("\x01D");
  await xsub.send("\x00D");
  t.same(hex(await recv(xpub)), ["0144"]);
  t.same(hex(await recv(xpub)), ["0044"], "cancels are passed up too");
  xpub.unsubscribe("A");
  await xpub.send("A3");
  await xpub.send("C2"); // xsub does not hold C
  xpub.subscribe("END");
  await xpub.send("END");
  t.same(await upTo(xsub, "END"), [], "the XSUB no longer gets A, and never got C");

  // Departure: what the peer asked for comes back as unsubscribes.
  sub.close();
  t.same(hex(await recv(xpub)), ["0043"]);
  t.throws(() => new XPublisher().subscribe("x"), { code: "EINVAL" }, "subscribe() needs manual mode");
});

t.test("XPUB welcome message reaches each new subscriber", async (t) => {
  const s = scope(t);
  const xpub = s.sock(new XPublisher({ welcomeMessage: "WELCOME" }));
  const addr = await bound(xpub, "tcp");
  for (let i = 0; i < 2; i++) {
    const sub = s.sock(new Subscriber());
    sub.subscribe("WELCOME");
    sub.connect(addr);
    t.same(strs(await recv(sub, "the welcome")), ["WELCOME"], `subscriber ${i} welcomed`);
  }
  const quiet = s.sock(new XPublisher({ welcomeMessage: "" }));
  t.equal(quiet.welcomeMessage, "", "an empty welcome is allowed (and sends nothing)");
});

t.test("XSUB drives subscriptions: counted, sent to every publisher, resent after a restart", async (t) => {
  const s = scope(t);
  const p1 = s.sock(new Publisher());
  const p2 = s.sock(new Publisher());
  const a1 = await bound(p1, "tcp");
  const a2 = await bound(p2, "inproc");
  const xsub = s.sock(new XSubscriber());
  await xsub.send("\x01A"); // before any peer: kept and sent on attach
  xsub.connect(a1);
  xsub.connect(a2);
  await waitHolders(p1, "A", 1);
  await waitHolders(p2, "A", 1);
  await xsub.send("\x01A");
  await xsub.send("\x01END");
  await xsub.send("\x00A"); // one of two
  await waitHolders(p1, "END", 1);
  await waitHolders(p2, "END", 1);
  for (const p of [p1, p2]) {
    await p.send("A1");
    await p.send("B1");
    await p.send("END");
    t.same(await upTo(xsub, "END"), [["A1"]], `${p === p1 ? "tcp" : "inproc"}: still subscribed to A, never to B`);
  }
  await xsub.send("\x00A");
  await waitHolders(p1, "A", 0);
  await waitHolders(p2, "A", 0);
  await p1.send("A2");
  await p1.send("END");
  t.same(await upTo(xsub, "END"), [], "the last cancel went out");
  t.equal(xsub.writable, true);
});

t.test("XSUB/XPUB proxy: subscriptions travel upstream, unsubscribes when the last subscriber leaves", async (t) => {
  const s = scope(t);
  const pub = s.sock(new Publisher());
  const upstream = await bound(pub, "tcp");
  const xsub = s.sock(new XSubscriber());
  const xpub = s.sock(new XPublisher());
  xsub.connect(upstream);
  const downstream = await bound(xpub, "inproc");
  const proxy = new Proxy(xsub, xpub);
  const running = proxy.run();
  t.teardown(() => proxy.terminate());
  const s1 = s.sock(new Subscriber());
  const s2 = s.sock(new Subscriber());
  s1.subscribe("A");
  s2.subscribe("A", "B");
  s1.connect(downstream);
  s2.connect(downstream);
  await waitHolders(pub, "A", 1);
  await waitHolders(pub, "B", 1);
  await pub.send(["A1", "x"]);
  await pub.send("B1");
  t.same(strs(await recv(s1)), ["A1", "x"]);
  t.same(strs(await recv(s2)), ["A1", "x"]);
  t.same(strs(await recv(s2)), ["B1"]);
  s2.close(); // A is still wanted by s1; B by nobody
  await waitHolders(pub, "B", 0);
  t.equal(holders(pub, "A"), 1, "A stays upstream while s1 wants it");
  s1.unsubscribe("A");
  await waitHolders(pub, "A", 0);
  proxy.terminate();
  await within(running, WAIT, "the proxy to stop");
});

for (const tr of TRANSPORTS) {
  t.test(`${tr}: a subscriber resubscribes when the publisher restarts on the same address`, async (t) => {
    const s = scope(t);
    const address = tr === "tcp" ? "tcp://127.0.0.1:0" : inprocName();
    const pub1 = new Publisher({ linger: 0 });
    await pub1.bind(address);
    const addr = pub1.lastEndpoint!;
    const sub = s.sock(new Subscriber({ reconnectInterval: 20 }));
    const xsub = s.sock(new XSubscriber({ reconnectInterval: 20 }));
    sub.subscribe("A");
    await xsub.send("\x01A");
    sub.connect(addr);
    xsub.connect(addr);
    await waitHolders(pub1, "A", 2);
    await pub1.send("A-first");
    t.same(strs(await recv(sub)), ["A-first"]);
    t.same(strs(await recv(xsub)), ["A-first"]);
    pub1.close();
    const pub2 = s.sock(new Publisher());
    await bindRetry(pub2, addr);
    await within(waitHolders(pub2, "A", 2), WAIT, "both resubscribed to the new publisher");
    await pub2.send("A-second");
    t.same(strs(await recv(sub)), ["A-second"]);
    t.same(strs(await recv(xsub)), ["A-second"]);
  });
}

for (const tr of TRANSPORTS) {
  t.test(`${tr}: PUB drops for a subscriber that does not read, and never waits`, async (t) => {
    const s = scope(t);
    const pub = s.sock(new Publisher({ sendHighWaterMark: 10 }));
    const addr = await bound(pub, tr);
    const slow = s.sock(new Subscriber({ receiveHighWaterMark: 10 }));
    const fast = s.sock(new Subscriber());
    slow.subscribe();
    fast.subscribe();
    slow.connect(addr);
    fast.connect(addr);
    await waitHolders(pub, "", 2);
    const N = 3000;
    const body = Buffer.alloc(tr === "tcp" ? 16 * 1024 : 16, 0x2e);
    const MARK = 0xffffffff;
    const fastGot: number[] = [];
    const reading = (async () => {
      for (;;) {
        const v = (await recv(fast, "the reading subscriber"))[0]!.readUInt32BE(0);
        if (v === MARK) return;
        fastGot.push(v);
      }
    })();
    let waited = 0;
    for (let i = 0; i < N; i++) {
      const head = Buffer.alloc(4);
      head.writeUInt32BE(i);
      if (await isPending(pub.send([head, body]))) waited++; // (isPending also lets I/O run)
    }
    t.equal(waited, 0, `${N} sends, none waited`);
    await sleep(200); // let the slow subscriber's buffers fill completely (nothing else happens)
    const slowGot: number[] = [];
    for (;;) {
      const m = await slow.receive({ signal: AbortSignal.timeout(300) }).catch(() => undefined);
      if (!m) break;
      slowGot.push(m[0]!.readUInt32BE(0));
    }
    t.ok(slowGot.length > 0 && slowGot.length < N, `the slow subscriber got ${slowGot.length} of ${N}: the rest were dropped`);
    t.ok(slowGot.every((v, i) => i === 0 || v > slowGot[i - 1]!), "what it got is in order (drops, no reordering)");
    t.equal(slowGot[0], 0, "from the first message");
    // Once the slow one has caught up, new messages reach it again.
    const mark = Buffer.alloc(4, 0xff);
    await pub.send([mark, "after"]);
    t.same(strs(await recv(slow)).slice(1), ["after"], "delivery resumes after the subscriber read its backlog");
    await within(reading, WAIT, "the reading subscriber to get the marker");
    t.ok(fastGot.every((v, i) => i === 0 || v > fastGot[i - 1]!), "the reading subscriber's messages are in order");
    t.ok(fastGot.length > slowGot.length, `the reading subscriber was not held back by the slow one (${fastGot.length} of ${N})`);
  });

  t.test(`${tr}: noDrop makes send wait for room (EAGAIN with sendTimeout 0)`, async (t) => {
    const s = scope(t);
    const pub = s.sock(new Publisher({ noDrop: true, sendHighWaterMark: 5 }));
    const addr = await bound(pub, tr);
    const sub = s.sock(new Subscriber({ receiveHighWaterMark: 5 }));
    sub.subscribe();
    sub.connect(addr);
    await waitHolders(pub, "", 1);
    const body = Buffer.alloc(tr === "tcp" ? 64 * 1024 : 16, 0x2e);
    let sent = 0;
    let waiting: Promise<void> | undefined;
    for (; sent < 20_000; ) {
      const p = pub.send([String(sent), body]);
      sent++;
      if (await isPending(p)) {
        waiting = p;
        break;
      }
    }
    t.ok(waiting, `send waited once the subscriber was full (after ${sent} messages)`);
    t.equal(pub.writable, false, "not writable while a subscriber is full");
    pub.sendTimeout = 0;
    await t.rejects(pub.send("more"), { code: "EAGAIN" }, "sendTimeout 0: EAGAIN instead of waiting");
    pub.sendTimeout = -1;
    const got: string[] = [];
    for (let i = 0; i < sent; i++) got.push(String((await recv(sub))[0]));
    await within(waiting!, WAIT, "the waiting send to complete");
    t.same(got, Array.from({ length: sent }, (_, i) => String(i)), "nothing was dropped");
  });
}

t.test("invertMatching: messages go to the peers whose subscriptions do not match", async (t) => {
  const s = scope(t);
  const pub = s.sock(new Publisher({ invertMatching: true }));
  const addr = await bound(pub, "tcp");
  const a = s.sock(new Subscriber({ invertMatching: true }));
  const b = s.sock(new Subscriber({ invertMatching: true }));
  a.subscribe("A");
  b.subscribe("B");
  a.connect(addr);
  b.connect(addr);
  await waitHolders(pub, "A", 1);
  await waitHolders(pub, "B", 1);
  for (const m of ["A1", "B1", "C1", "AB", "END"]) await pub.send(m);
  const until_ = async (sub: Subscriber) => {
    const got: string[] = [];
    for (;;) {
      const m = String((await recv(sub))[0]);
      got.push(m);
      if (m === "END") return got;
    }
  };
  t.same(await until_(a), ["B1", "C1", "END"]);
  t.same(await until_(b), ["A1", "C1", "AB", "END"]);
  const xpub = s.sock(new XPublisher({ invertMatching: true }));
  const x = await bound(xpub, "inproc");
  const plain = s.sock(new XSubscriber());
  plain.connect(x);
  await plain.send("\x01Q");
  t.same(hex(await recv(xpub)), ["0151"]);
  await xpub.send("Q1");
  await xpub.send("R1");
  t.same(strs(await recv(plain)), ["R1"], "XPUB inverts too");
});

// ---- the subscription table against a model -------------------------------------------------------

type Op =
  | { k: "add"; topic: number[]; owner: number }
  | { k: "rm"; topic: number[]; owner: number }
  | { k: "gone"; owner: number }
  | { k: "match"; data: number[] };

const byte = fc.constantFrom(0x00, 0x01, 0x41, 0x42, 0xff);
const topicArb = fc.array(byte, { maxLength: 5, size: "max" });
const ownerArb = fc.integer({ min: 0, max: 3 });
const opArb: fc.Arbitrary<Op> = fc.oneof(
  { weight: 5, arbitrary: fc.record({ k: fc.constant("add" as const), topic: topicArb, owner: ownerArb }) },
  { weight: 4, arbitrary: fc.record({ k: fc.constant("rm" as const), topic: topicArb, owner: ownerArb }) },
  { weight: 1, arbitrary: fc.record({ k: fc.constant("gone" as const), owner: ownerArb }) },
  { weight: 4, arbitrary: fc.record({ k: fc.constant("match" as const), data: fc.array(byte, { maxLength: 8, size: "max" }) }) },
);

t.test("subscription table = a model of per-owner counted prefixes (fast-check)", async (t) => {
  const key = (b: ArrayLike<number>) => Buffer.from(Array.from(b)).toString("hex");
  fc.assert(
    fc.property(fc.array(opArb, { maxLength: 80, size: "max" }), (ops) => {
      const table = new SubscriptionTable<number>();
      const model = new Map<string, Map<number, number>>();
      const check = (cond: boolean, what: string) => {
        if (!cond) throw new Error(what);
      };
      for (const op of ops) {
        if (op.k === "add") {
          const k = key(op.topic);
          const owners = model.get(k) ?? new Map<number, number>();
          const want = owners.size === 0 ? Added.NewTopic : owners.has(op.owner) ? Added.Again : Added.NewOwner;
          owners.set(op.owner, (owners.get(op.owner) ?? 0) + 1);
          model.set(k, owners);
          check(table.add(Uint8Array.from(op.topic), op.owner) === want, `add ${k} by ${op.owner}`);
        } else if (op.k === "rm") {
          const k = key(op.topic);
          const owners = model.get(k);
          const n = owners?.get(op.owner) ?? 0;
          let want: Removed;
          if (n === 0) want = Removed.Absent;
          else if (n > 1) want = Removed.Kept;
          else want = owners!.size > 1 ? Removed.OwnerGone : Removed.TopicGone;
          if (n > 1) owners!.set(op.owner, n - 1);
          else if (n === 1) {
            owners!.delete(op.owner);
            if (owners!.size === 0) model.delete(k);
          }
          check(table.remove(Buffer.from(op.topic), op.owner) === want, `remove ${k} by ${op.owner}`);
        } else if (op.k === "gone") {
          const want: string[] = [];
          for (const [k, owners] of model) {
            if (!owners.has(op.owner)) continue;
            want.push(`${k}:${owners.size === 1}`);
            owners.delete(op.owner);
            if (owners.size === 0) model.delete(k);
          }
          const seen: string[] = [];
          table.removeOwner(op.owner, (topic, gone) => seen.push(`${topic.toString("hex")}:${gone}`));
          check(JSON.stringify(seen.sort()) === JSON.stringify(want.sort()), `removeOwner ${op.owner}: ${seen} vs ${want}`);
        } else {
          const data = Uint8Array.from(op.data);
          const dk = key(op.data);
          const want = new Set<number>();
          for (const [k, owners] of model) if (dk.startsWith(k)) for (const o of owners.keys()) want.add(o);
          const out: number[] = [];
          const n = table.match(data, out);
          check(n === out.length && out.length === new Set(out).size, "match returns each owner once");
          check(JSON.stringify([...out].sort()) === JSON.stringify([...want].sort()), `match ${dk}: ${out} vs ${[...want]}`);
          check(table.matches(data) === want.size > 0, `matches ${dk}`);
        }
        // Whole-table views agree after every step.
        check(table.size === model.size, `size ${table.size} vs ${model.size}`);
        const topics = table.topics().map((b) => b.toString("hex")).sort();
        check(JSON.stringify(topics) === JSON.stringify([...model.keys()].sort()), `topics ${topics}`);
        for (let o = 0; o <= 3; o++) {
          const mine = table.topicsOf(o).map((b) => b.toString("hex")).sort();
          const want = [...model].filter(([, owners]) => owners.has(o)).map(([k]) => k).sort();
          check(JSON.stringify(mine) === JSON.stringify(want), `topicsOf ${o}`);
          check(table.hasOwner(o) === want.length > 0, `hasOwner ${o}`);
        }
        for (const [k, owners] of model) {
          const b = Buffer.from(k, "hex");
          check(table.holders(b) === owners.size, `holders ${k}`);
          for (const [o, n] of owners) check(table.count(b, o) === n, `count ${k} ${o}`);
        }
      }
      // Emptied completely, nothing is left behind in the trie.
      for (let o = 0; o <= 3; o++) table.removeOwner(o);
      const root = (table as unknown as { root: { children?: Map<number, unknown>; owners?: unknown } }).root;
      check(table.size === 0 && root.children === undefined && root.owners === undefined, "trie pruned to an empty root");
    }),
    { numRuns: 400 },
  );
  t.pass("400 random sequences agree with the model");
});

t.test("subscription table: long and binary topics, many subscribers", async (t) => {
  const table = new SubscriptionTable<number>();
  const long = Buffer.alloc(5000, 0x61);
  table.add(long, 1);
  table.add(long.subarray(0, 4999), 2);
  table.add(Buffer.alloc(0), 3);
  const out: number[] = [];
  table.match(Buffer.concat([long, Buffer.from("x")]), out);
  t.same(out.sort(), [1, 2, 3]);
  out.length = 0;
  table.match(long.subarray(0, 4999), out);
  t.same(out.sort(), [2, 3]);
  const many = new SubscriptionTable<number>();
  for (let i = 0; i < 10_000; i++) many.add(Buffer.from(`topic.${i % 1000}.`), i);
  out.length = 0;
  many.match(Buffer.from("topic.7.payload"), out);
  t.equal(out.length, 10, "10 subscribers of topic.7.");
  t.equal(many.size, 1000);
  const start = performance.now();
  for (let i = 0; i < 100_000; i++) {
    out.length = 0;
    many.match(Buffer.from(`topic.${i % 2000}.payload`), out);
  }
  t.ok(performance.now() - start < 3000, `100k matches over 1000 topics in ${Math.round(performance.now() - start)} ms`);
});

// ---- libzmq (pyzmq) as the peer ------------------------------------------------------------------

const PY_PEER = String.raw`
import sys, json, zmq
ctx = zmq.Context.instance()
kind, mode, ep = sys.argv[1], sys.argv[2], sys.argv[3]
s = ctx.socket(getattr(zmq, kind))
s.setsockopt(zmq.LINGER, 0)
if mode == "bind":
    ep = s.bind_to_random_port("tcp://127.0.0.1")
    ep = "tcp://127.0.0.1:%d" % ep
else:
    s.connect(ep)
print(json.dumps({"endpoint": ep}), flush=True)
for line in sys.stdin:
    req = json.loads(line)
    op = req["op"]
    try:
        if op == "sub":
            s.setsockopt(zmq.SUBSCRIBE, bytes.fromhex(req["topic"]))
            r = {"ok": True}
        elif op == "unsub":
            s.setsockopt(zmq.UNSUBSCRIBE, bytes.fromhex(req["topic"]))
            r = {"ok": True}
        elif op == "send":
            s.send_multipart([bytes.fromhex(f) for f in req["frames"]])
            r = {"ok": True}
        elif op == "recv":
            if s.poll(req["timeout"]):
                r = {"frames": [f.hex() for f in s.recv_multipart()]}
            else:
                r = {"error": "timeout"}
        else:
            r = {"error": "unknown op"}
    except Exception as e:
        r = {"error": str(e)}
    print(json.dumps(r), flush=True)
`;

interface PyPeer {
  endpoint: string;
  ask(req: Record<string, unknown>): Promise<Record<string, unknown>>;
  stop(): void;
}

async function pyPeer(t: { teardown(fn: () => void): void }, kind: string, mode: "bind" | "connect", ep = ""): Promise<PyPeer> {
  const child = spawn(PYTHON, ["-c", PY_PEER, kind, mode, ep], { stdio: ["pipe", "pipe", "pipe"] });
  let stderr = "";
  child.stderr.on("data", (d) => (stderr += d));
  const lines = createInterface({ input: child.stdout });
  const queue: ((l: string) => void)[] = [];
  const early: string[] = [];
  lines.on("line", (l) => {
    const w = queue.shift();
    if (w) w(l);
    else early.push(l);
  });
  const next = () =>
    within(
      new Promise<string>((r) => (early.length ? r(early.shift()!) : queue.push(r))),
      WAIT * 2,
      `the libzmq ${kind} peer (stderr: ${stderr})`,
    );
  const stop = () => {
    child.stdin.end();
    child.kill("SIGKILL");
  };
  t.teardown(stop);
  const first = JSON.parse(await next()) as { endpoint: string };
  return {
    endpoint: first.endpoint,
    async ask(req) {
      child.stdin.write(JSON.stringify(req) + "\n");
      return JSON.parse(await next()) as Record<string, unknown>;
    },
    stop,
  };
}

const py = pyzmqStatus();
const pySkip: string | false = py.ok ? false : `pyzmq not installed: ${py.reason}`;
if (!py.ok && process.env.CI === "true") t.fail(`pyzmq missing in CI: apt-get install -y python3-zmq (${py.reason})`);
const hx = (s: string) => Buffer.from(s, "latin1").toString("hex");

t.test("libzmq SUB against our PUB: its repeated SUBSCRIBE and single CANCEL work", { skip: pySkip }, async (t) => {
  const s = scope(t);
  const pub = s.sock(new Publisher());
  const addr = await bound(pub, "tcp");
  const peer = await pyPeer(t, "SUB", "connect", addr);
  await peer.ask({ op: "sub", topic: hx("A") });
  await peer.ask({ op: "sub", topic: hx("A") });
  await peer.ask({ op: "sub", topic: hx("END") });
  await waitHolders(pub, "END", 1);
  t.equal(holders(pub, "A"), 1);
  await pub.send(["A1", "x"]);
  await pub.send("B1");
  await pub.send("END");
  t.same(await peer.ask({ op: "recv", timeout: WAIT }), { frames: [hx("A1"), hx("x")] });
  t.same(await peer.ask({ op: "recv", timeout: WAIT }), { frames: [hx("END")] });
  await peer.ask({ op: "unsub", topic: hx("A") }); // libzmq sends nothing yet (its count is 2)
  await peer.ask({ op: "unsub", topic: hx("A") }); // now one CANCEL
  await waitHolders(pub, "A", 0);
  await pub.send("A2");
  await pub.send("END");
  t.same(await peer.ask({ op: "recv", timeout: WAIT }), { frames: [hx("END")] }, "unsubscribed after libzmq's one CANCEL");
});

t.test("our SUB and XSUB against libzmq PUB and XPUB", { skip: pySkip }, async (t) => {
  const s = scope(t);
  const xpub = await pyPeer(t, "XPUB", "bind");
  const sub = s.sock(new Subscriber());
  sub.subscribe("A");
  sub.connect(xpub.endpoint);
  t.same(await xpub.ask({ op: "recv", timeout: WAIT }), { frames: ["0141"] }, "libzmq XPUB sees our SUBSCRIBE");
  await xpub.ask({ op: "send", frames: [hx("B1")] });
  await xpub.ask({ op: "send", frames: [hx("A1"), ""] });
  t.same(strs(await recv(sub)), ["A1", ""]);
  sub.unsubscribe("A");
  t.same(await xpub.ask({ op: "recv", timeout: WAIT }), { frames: ["0041"] }, "and our CANCEL");

  const pub = await pyPeer(t, "PUB", "bind");
  const xsub = s.sock(new XSubscriber());
  xsub.connect(pub.endpoint);
  await xsub.send("\x01T");
  const got = (async () => {
    // libzmq applies the subscription asynchronously: publish until one arrives.
    for (let i = 0; i < 100; i++) {
      await pub.ask({ op: "send", frames: [hx("T!")] });
      const m = await xsub.receive({ signal: AbortSignal.timeout(50) }).catch(() => undefined);
      if (m) return strs(m);
    }
    return undefined;
  })();
  t.same(await got, ["T!"], "libzmq PUB honours our XSUB's subscription");
});

t.test("libzmq XSUB and SUB against our XPUB", { skip: pySkip }, async (t) => {
  const s = scope(t);
  const xpub = s.sock(new XPublisher({ verbosity: "allSubs" }));
  const addr = await bound(xpub, "tcp");
  const xsub = await pyPeer(t, "XSUB", "connect", addr);
  await xsub.ask({ op: "send", frames: ["0141"] });
  t.same(hex(await recv(xpub)), ["0141"], "libzmq XSUB's message-form subscribe");
  await xsub.ask({ op: "send", frames: [hx("hello"), hx("up")] });
  t.same(strs(await recv(xpub)), ["hello", "up"], "and its upstream data");
  await xpub.send(["A-data", "1"]);
  t.same(await xsub.ask({ op: "recv", timeout: WAIT }), { frames: [hx("A-data"), hx("1")] });
  const sub = await pyPeer(t, "SUB", "connect", addr);
  await sub.ask({ op: "sub", topic: hx("Z") });
  t.same(hex(await recv(xpub)), ["015a"], "libzmq SUB's SUBSCRIBE command, passed up in message form");
  await xpub.send("Z1");
  t.same(await sub.ask({ op: "recv", timeout: WAIT }), { frames: [hx("Z1")] });
});

t.test("fan-out: messages queued behind a busy peer are framed once and arrive intact on tcp and inproc", async (t) => {
  const s = scope(t);
  const pub = s.sock(new Publisher({ noDrop: true, sendHighWaterMark: 50 }));
  await pub.bind("tcp://127.0.0.1:0");
  const tcpAddr = pub.lastEndpoint!;
  const inprocAddr = inprocName();
  await pub.bind(inprocAddr);
  // White-box: count what the publisher queued in its encoded form.
  const { EncodedMessage } = await import("../../src/socket/outgoing.js");
  let encodedQueued = 0;
  const p = pub as unknown as { _enqueue(pipe: unknown, m: unknown): void };
  const enqueue = p._enqueue.bind(pub);
  p._enqueue = (pipe, m) => {
    if (m instanceof EncodedMessage) encodedQueued++;
    enqueue(pipe, m);
  };
  const subs = [tcpAddr, tcpAddr, inprocAddr].map((a) => {
    const sub = s.sock(new Subscriber({ receiveHighWaterMark: 20 }));
    sub.subscribe("t");
    sub.connect(a);
    return sub;
  });
  await waitHolders(pub, "t", 3);
  // Frame sizes around the short/long header boundary (255/256) and one large enough to fill
  // the TCP buffers, so later messages queue.
  const sizes = [0, 1, 255, 256, 70_000];
  const N = 300;
  const msg = (i: number): Buffer[] => [Buffer.from(`t${i}`), Buffer.alloc(sizes[i % sizes.length]!, i & 0xff), Buffer.from([i & 0xff])];
  const sending = (async () => {
    for (let i = 0; i < N; i++) await pub.send(msg(i));
    await pub.send("tend");
  })();
  // All read at once: with noDrop the publisher waits for the slowest.
  const results = await Promise.all(
    subs.map(async (sub) => {
      let bad = -1;
      for (let i = 0; i < N; i++) {
        const got = await recv(sub);
        const want = msg(i);
        if (bad < 0 && (got.length !== 3 || got.some((f, j) => !f.equals(want[j]!)))) bad = i;
      }
      return { bad, end: strs(await recv(sub)) };
    }),
  );
  for (const [k, r] of results.entries()) {
    t.equal(r.bad, -1, `subscriber ${k} got all ${N} messages byte for byte, in order`);
    t.same(r.end, ["tend"]);
  }
  await within(sending, WAIT, "the publisher to finish");
  t.ok(encodedQueued > 0, `messages were queued in their encoded form (${encodedQueued})`);
});
