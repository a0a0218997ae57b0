// REQ, REP, PUSH, PULL and PAIR over real sockets (tcp://127.0.0.1 and inproc://), and REQ/REP
// against a hand-written ZMTP peer to pin what goes on the wire: envelopes, the strict turn
// (EFSM), correlate and relaxed, replies routed to the requester the application answered,
// round robin and blocking at the HWM, fair queueing, PAIR's single peer, ENOTSUP, bad input.

import t from "tap";
import fc from "fast-check";
import { Buffer } from "node:buffer";
import { Dealer, Pair, Pull, Push, Reply, Request, Router, type Socket } from "../../src/index.js";
import { isPending, scope, sleep, until, watch, within } from "./fake-peer.js";

const WAIT = 5000;
const recv = (s: Socket, what = "a message"): Promise<Buffer[]> => within(s.receive(), WAIT, what);
const strs = (m: Buffer[]): string[] => m.map(String);
let seq = 0;
const TRANSPORTS = ["tcp", "inproc"] as const;
type Transport = (typeof TRANSPORTS)[number];
const addressFor = (tr: Transport) => (tr === "tcp" ? "tcp://127.0.0.1:0" : `inproc://patterns-${process.pid}-${++seq}`);

async function bound(s: Socket, tr: Transport): Promise<string> {
  await s.bind(addressFor(tr));
  return s.lastEndpoint!;
}

const code = (p: Promise<unknown>): Promise<string | undefined> =>
  p.then(
    () => undefined,
    (e: { code?: string }) => e.code,
  );

/** Waits until `s` has completed `n` handshakes in total (its events, from now on). */
function handshakes(s: Socket, n: number) {
  const w = watch(s);
  return () => w.wait("handshake", n, WAIT);
}

for (const tr of TRANSPORTS) {
  t.test(`REQ <-> REP (${tr}): echo, strict alternation, EFSM out of turn`, async (t) => {
    const s = scope(t);
    const rep = s.sock(new Reply());
    const ep = await bound(rep, tr);
    const req = s.sock(new Request());
    req.connect(ep);
    t.equal(await code(req.receive()), "EFSM", "receive() before send()");
    t.equal(await code(rep.send("x")), "EFSM", "REP send() before receive()");
    for (let i = 0; i < 20; i++) {
      await req.send(["q", String(i)]);
      t.equal(await code(req.send("again")), "EFSM", "second send() before the reply");
      const q = await recv(rep);
      t.same(strs(q), ["q", String(i)], "REP sees the body without the envelope");
      t.equal(await code(rep.receive()), "EFSM", "REP receive() before replying");
      await rep.send(["a", String(i)]);
      t.same(strs(await recv(req)), ["a", String(i)]);
    }
  });
}

t.test("REQ: what goes on the wire, and which replies are taken (hand-written ROUTER peer)", async (t) => {
  const s = scope(t);
  const l = await s.listener();
  const req = s.sock(new Request({ routingId: "me" }));
  req.connect(l.address);
  const c = await l.connection();
  const { ready } = await c.handshake("ROUTER");
  t.match(ready.body.toString("latin1"), /Socket-Type\0\0\0\x03REQ/, "REQ says so in READY");
  t.match(ready.body.toString("latin1"), /Identity\0\0\0\x02me/, "with its routing id");
  await req.send(["hello", "world"]);
  t.same(strs(await c.readMessage()), ["", "hello", "world"], "an empty delimiter, then the body");
  c.send(["no-delimiter"]); // dropped
  c.send([""]); // delimiter only, no body: dropped
  c.send(["junk", "", "extra hop"]); // a frame before the delimiter: dropped
  c.send(["", "reply"]); // taken
  c.send(["", "second reply"]); // dropped: one reply per request
  t.same(strs(await recv(req)), ["reply"]);
  await req.send("next");
  t.same(strs(await c.readMessage()), ["", "next"]);
  c.send(["", "for next"]);
  t.same(strs(await recv(req)), ["for next"], "the reply to the second request, not the stale one");
});

t.test("REQ: a request that never goes out (no peer, sendTimeout) gives the turn back", async (t) => {
  const s = scope(t);
  const req = s.sock(new Request({ sendTimeout: 30 }));
  await req.bind(addressFor("tcp")); // and no peer ever connects (a connect()ed pipe would queue it)
  t.equal(await code(req.send("lost")), "EAGAIN");
  t.equal(await code(req.receive()), "EFSM", "no request is out, so nothing to receive");
  req.sendTimeout = 0;
  t.equal(await code(req.send("again")), "EAGAIN", "send() is allowed again (and fails the same way)");
});

t.test("REQ correlate: a 4-byte id before the delimiter, replies must echo it", async (t) => {
  const s = scope(t);
  const l = await s.listener();
  const req = s.sock(new Request({ correlate: true }));
  req.connect(l.address);
  const c = await l.connection();
  await c.handshake("ROUTER");
  await req.send("a");
  const [id1, delim, body] = await c.readMessage();
  t.equal(id1!.length, 4, "request id is 4 bytes");
  t.equal(delim!.length, 0);
  t.equal(String(body), "a");
  const wrong = Buffer.from(id1!);
  wrong[3] ^= 1;
  c.send([wrong, "", "wrong id"]);
  c.send(["", "no id"]);
  c.send([id1!, "", "right"]);
  t.same(strs(await recv(req)), ["right"]);
  await req.send("b");
  const [id2] = await c.readMessage();
  t.equal(id2!.readUInt32BE(), (id1!.readUInt32BE() + 1) >>> 0, "ids count up");
});

t.test("REQ relaxed + correlate: a new request abandons the old one and its late reply is dropped", async (t) => {
  const s = scope(t);
  const l = await s.listener();
  const req = s.sock(new Request({ relaxed: true, correlate: true }));
  req.connect(l.address);
  const c = await l.connection();
  await c.handshake("ROUTER");
  await req.send("first");
  const [id1] = await c.readMessage();
  await req.send("second"); // allowed: relaxed
  const [id2, , body2] = await c.readMessage();
  t.equal(String(body2), "second");
  c.send([id1!, "", "late reply to first"]);
  c.send([id2!, "", "reply to second"]);
  t.same(strs(await recv(req)), ["reply to second"]);
  // A reply that already arrived is dropped too when the next request abandons it.
  await req.send("third");
  const [id3] = await c.readMessage();
  c.send([id3!, "", "reply to third"]);
  await sleep(50);
  await req.send("fourth");
  const [id4] = await c.readMessage();
  c.send([id4!, "", "reply to fourth"]);
  t.same(strs(await recv(req)), ["reply to fourth"], "the unread reply to the abandoned request is gone");
});

t.test("REQ round robin, strictly alternating over two REPs (hand-written peers)", async (t) => {
  const s = scope(t);
  const ls = [await s.listener(), await s.listener()];
  const req = s.sock(new Request());
  const hs = handshakes(req, 2);
  for (const l of ls) req.connect(l.address);
  const cs = [await ls[0]!.connection(), await ls[1]!.connection()];
  for (const c of cs) await c.handshake("REP");
  await hs();
  const order: number[] = [];
  for (let i = 0; i < 6; i++) {
    await req.send(String(i));
    await until(() => cs[0]!.available > 0 || cs[1]!.available > 0, "the request at one of the peers");
    const j = cs[0]!.available > 0 ? 0 : 1;
    const k = [j, await cs[j]!.readMessage()] as const;
    order.push(j);
    t.same(strs(k[1]), ["", String(i)]);
    cs[k[0]]!.send(["", `r${i}`]);
    t.same(strs(await recv(req)), [`r${i}`]);
  }
  t.same(order, [order[0], 1 - order[0]!, order[0], 1 - order[0]!, order[0], 1 - order[0]!], `alternating: ${order}`);
});

t.test("REP: replies go back to whichever requester the application answered", async (t) => {
  const s = scope(t);
  const rep = s.sock(new Reply());
  const ep = await bound(rep, "tcp");
  const dealers = [0, 1, 2].map(() => s.sock(new Dealer()));
  const hs = handshakes(rep, 3);
  for (const d of dealers) d.connect(ep);
  await hs();
  for (const [i, d] of dealers.entries()) await d.send([`hop${i}`, "", `q${i}`]);
  for (let n = 0; n < 3; n++) {
    const q = strs(await recv(rep));
    await rep.send(`answer to ${q[0]}`);
  }
  for (const [i, d] of dealers.entries()) {
    t.same(strs(await recv(d)), [`hop${i}`, "", `answer to q${i}`], `dealer ${i} gets its own answer with its envelope`);
  }
});

t.test("REP: a request without a delimiter is dropped; a reply to a peer that left is dropped", async (t) => {
  const s = scope(t);
  const rep = s.sock(new Reply());
  const ep = await bound(rep, "tcp");
  const c = await s.dial(ep);
  await c.handshake("DEALER");
  c.send(["no delimiter here"]);
  c.send(["id", ""]); // envelope with no body
  c.send(["", "good"]);
  t.same(strs(await recv(rep)), ["good"]);
  const w = watch(rep);
  c.destroy();
  await w.wait("disconnect");
  await rep.send("into the void"); // resolves, dropped
  t.equal(await code(rep.send("x")), "EFSM", "the turn moved on anyway");
  const d = s.sock(new Dealer());
  d.connect(ep);
  await d.send(["", "after"]);
  t.same(strs(await recv(rep)), ["after"], "and the next request is served");
  await rep.send("ok");
  t.same(strs(await recv(d)), ["", "ok"]);
});

t.test("REP: a second receive() while one waits is EFSM; a timed-out receive() keeps the turn", async (t) => {
  const s = scope(t);
  const rep = s.sock(new Reply());
  const ep = await bound(rep, "inproc");
  const first = rep.receive();
  t.equal(await code(rep.receive()), "EFSM");
  const req = s.sock(new Request());
  req.connect(ep);
  await req.send("q");
  t.same(strs(await within(first, WAIT, "first receive")), ["q"]);
  await rep.send("a");
  t.same(strs(await recv(req)), ["a"]);
  const ac = new AbortController();
  setTimeout(() => ac.abort(), 20); // not AbortSignal.timeout: its timer would not keep the test alive
  t.equal(await code(rep.receive({ signal: ac.signal })), "ABORT_ERR");
  await req.send("q2");
  t.same(strs(await recv(rep)), ["q2"], "still our turn to receive after the abort");
});

for (const tr of TRANSPORTS) {
  t.test(`PUSH -> PULL (${tr}): round robin over attached peers, nothing lost or duplicated`, async (t) => {
    const s = scope(t);
    const push = s.sock(new Push());
    const ep = await bound(push, tr);
    const pulls = [0, 1, 2].map(() => s.sock(new Pull()));
    const hs = handshakes(push, 3);
    for (const p of pulls) p.connect(ep);
    await hs();
    const N = 300;
    for (let i = 0; i < N; i++) await push.send(String(i));
    const got = await Promise.all(
      pulls.map(async (p) => {
        const mine: number[] = [];
        for (let k = 0; k < N / 3; k++) mine.push(Number(String((await recv(p))[0]))); // eslint-disable-line no-await-in-loop
        return mine;
      }),
    );
    const firsts = got.map((g) => g[0]!).sort((a, b) => a - b);
    t.same(firsts, [0, 1, 2], "the first three go to three different peers");
    for (const g of got) {
      t.ok(g.every((v, k) => v === g[0]! + 3 * k), `each peer gets every third message, in order (${g.slice(0, 4)}...)`);
    }
  });
}

t.test("PUSH blocks at the HWM and loses nothing; PULL ENOTSUP on send, PUSH ENOTSUP on receive", async (t) => {
  const s = scope(t);
  const pull = s.sock(new Pull({ receiveHighWaterMark: 5 }));
  const ep = await bound(pull, "inproc");
  const push = s.sock(new Push({ sendHighWaterMark: 5 }));
  push.connect(ep);
  t.equal(await code(pull.send("x")), "ENOTSUP");
  t.equal(await code(push.receive()), "ENOTSUP");
  let sent = 0;
  let blocked: Promise<void> | undefined;
  for (let i = 0; i < 1000; i++) {
    const p = push.send(String(i));
    if (await isPending(p)) {
      blocked = p;
      break;
    }
    sent++;
  }
  t.ok(blocked, `send() waits once the queues are full (after ${sent} messages)`);
  t.ok(sent >= 5 && sent < 1000, `bounded by the HWMs: ${sent}`);
  await sleep(30);
  t.ok(await isPending(blocked!), "and keeps waiting while nobody reads");
  const got: number[] = [];
  const reader = (async () => {
    while (got.length < sent + 1 + 50) got.push(Number(String((await recv(pull))[0])));
  })();
  await within(blocked!, WAIT, "the blocked send");
  for (let i = sent + 1; i < sent + 1 + 50; i++) await push.send(String(i));
  await within(reader, WAIT, "reader");
  t.same(got, Array.from({ length: sent + 51 }, (_, i) => i), "everything, once, in order");
});

t.test("PUSH with no peer: send() waits (or EAGAIN with sendTimeout 0) and goes out once a PULL connects", async (t) => {
  const s = scope(t);
  const push = s.sock(new Push());
  const ep = await bound(push, "tcp");
  push.sendTimeout = 0;
  t.equal(await code(push.send("x")), "EAGAIN");
  push.sendTimeout = -1;
  const waiting = push.send("first");
  t.ok(await isPending(waiting));
  const pull = s.sock(new Pull());
  pull.connect(ep);
  await within(waiting, WAIT, "send after a peer appears");
  t.same(strs(await recv(pull)), ["first"]);
});

t.test("PULL fair-queues: pushers with backlogs are served in turn, each in its own order", async (t) => {
  const s = scope(t);
  const pull = s.sock(new Pull());
  const ep = await bound(pull, "inproc");
  const pushes = [0, 1, 2].map(() => s.sock(new Push()));
  for (const p of pushes) p.connect(ep);
  for (const [i, p] of pushes.entries()) for (let k = 0; k < 10; k++) await p.send([String(i), String(k)]);
  await sleep(20); // everything delivered into the PULL's per-peer queues
  const got: string[][] = [];
  for (let n = 0; n < 30; n++) got.push(strs(await recv(pull)));
  for (let round = 0; round < 10; round++) {
    const r = got.slice(round * 3, round * 3 + 3);
    t.same(r.map((m) => m[0]).sort(), ["0", "1", "2"], `round ${round}: one from each pusher`);
    t.ok(r.every((m) => m[1] === String(round)), `round ${round}: each pusher's next message`);
  }
});

t.test("PAIR: one peer; a second is refused (ECONNREFUSED on disconnect) and the pair is kept", async (t) => {
  const s = scope(t);
  const a = s.sock(new Pair());
  const ep = await bound(a, "tcp");
  const aw = watch(a);
  const b = s.sock(new Pair());
  b.connect(ep);
  await b.send("hi");
  t.same(strs(await recv(a)), ["hi"]);
  const c = s.sock(new Pair({ reconnectInterval: -1 }));
  const cw = watch(c);
  c.connect(ep);
  const ev = await aw.wait("disconnect");
  t.equal((ev.error as { code?: string } | undefined)?.code, "ECONNREFUSED");
  t.match(ev.error?.message, /one peer/);
  await cw.wait("disconnect");
  await a.send("still you");
  t.same(strs(await recv(b)), ["still you"]);
  // Once b leaves, a new peer is welcome.
  const gone = aw.count("disconnect");
  b.close();
  await aw.wait("disconnect", gone + 1);
  const d = s.sock(new Pair());
  d.connect(ep);
  await d.send("new");
  t.same(strs(await recv(a)), ["new"]);
  await a.send("hello new");
  t.same(strs(await recv(d)), ["hello new"]);
});

t.test("PAIR: messages sent before the peer exists wait in the connecting pipe (inproc, connect before bind)", async (t) => {
  const s = scope(t);
  const name = addressFor("inproc");
  const b = s.sock(new Pair());
  b.connect(name);
  await b.send("early 1");
  await b.send("early 2");
  const a = s.sock(new Pair());
  await a.bind(name);
  t.same(strs(await recv(a)), ["early 1"]);
  t.same(strs(await recv(a)), ["early 2"]);
  const bound2 = s.sock(new Pair());
  const ep = await bound(bound2, "tcp");
  const waiting = bound2.send("nobody yet");
  t.ok(await isPending(waiting), "a bound PAIR with no peer waits");
  const p = s.sock(new Pair());
  p.connect(ep);
  await within(waiting, WAIT, "send after the peer arrives");
  t.same(strs(await recv(p)), ["nobody yet"]);
});

t.test("incompatible peers are refused at the handshake (REQ-REQ, PUSH-PUSH, PAIR-DEALER)", async (t) => {
  const s = scope(t);
  for (const [A, B] of [
    [() => new Request(), () => new Request()],
    [() => new Push(), () => new Push()],
    [() => new Pair(), () => new Dealer()],
  ] as const) {
    const a = s.sock(A());
    const ep = await bound(a, "tcp");
    const aw = watch(a);
    const b = s.sock(B());
    b.reconnectInterval = -1;
    b.connect(ep);
    const e = await aw.wait("handshake:error:protocol");
    t.match(e.error?.message, /cannot talk to/, `${a.type} vs ${b.type}: ${e.error?.message}`);
  }
});

t.test("fuzz: random frames from a fake REQ/DEALER/PUSH peer never break REP or PULL", async (t) => {
  const frames = fc.array(fc.oneof(fc.constant(""), fc.string({ maxLength: 6 })), { minLength: 1, maxLength: 5 });
  await fc.assert(
    fc.asyncProperty(fc.array(frames, { maxLength: 12 }), async (msgs) => {
      const s = scope({ teardown: () => {} });
      const rep = new Reply();
      const pull = new Pull();
      try {
        const ep = await bound(rep, "tcp");
        const pep = await bound(pull, "tcp");
        const c = await s.dial(ep);
        await c.handshake("DEALER");
        const p = await s.dial(pep);
        await p.handshake("PUSH");
        for (const m of msgs) {
          c.send(m);
          p.send(m);
        }
        c.send(["", "probe"]);
        p.send(["probe"]);
        // REP gets exactly the well-formed requests (a delimiter with a body after it), in order.
        const want = msgs
          .map((m) => {
            const k = m.indexOf("");
            return k < 0 || k === m.length - 1 ? undefined : m.slice(k + 1);
          })
          .filter((m): m is string[] => m !== undefined);
        for (const w of [...want, ["probe"]]) {
          const got = strs(await recv(rep));
          if (JSON.stringify(got) !== JSON.stringify(w)) throw new Error(`REP got ${JSON.stringify(got)}, want ${JSON.stringify(w)}`);
          await rep.send("ok");
        }
        for (const w of [...msgs, ["probe"]]) {
          const got = strs(await recv(pull));
          if (JSON.stringify(got) !== JSON.stringify(w)) throw new Error(`PULL got ${JSON.stringify(got)}, want ${JSON.stringify(w)}`);
        }
        c.destroy();
        p.destroy();
      } finally {
        rep.linger = 0;
        pull.linger = 0;
        rep.close();
        pull.close();
      }
    }),
    { numRuns: 25 },
  );
  t.pass("25 random runs");
});

for (const tr of TRANSPORTS) {
  t.test(`conflate (${tr}): a PULL or SUB that is not reading keeps only the newest message`, async (t) => {
    const s = scope(t);
    const pull = s.sock(new Pull({ conflate: true }));
    const ep = await bound(pull, tr);
    const push = s.sock(new Push({ conflate: true, sendHighWaterMark: 1 }));
    push.connect(ep);
    for (let i = 0; i < 500; i++) await push.send(String(i)); // never waits: conflate ignores the HWM
    await until(() => pull.readable, "something at the PULL");
    let last = "";
    let reads = 0;
    while (last !== "499") {
      await sleep(10);
      last = String((await recv(pull))[0]);
      reads++;
    }
    t.ok(reads < 100, `the newest message arrives after ${reads} reads, not 500`);
    t.notOk(pull.readable, "and nothing older is left behind it");

    const { Publisher, Subscriber } = await import("../../src/index.js");
    const pub = s.sock(new Publisher({ conflate: true }));
    const pep = await bound(pub, tr);
    const sub = s.sock(new Subscriber({ conflate: true }));
    sub.subscribe("");
    sub.connect(pep);
    await until(() => {
      void pub.send("probe");
      return sub.readable;
    }, "the subscription to reach the publisher");
    for (let i = 0; i < 300; i++) await pub.send(`v${i}`);
    let got = "";
    let subReads = 0;
    while (got !== "v299") {
      await sleep(10);
      got = String((await recv(sub))[0]);
      subReads++;
    }
    t.ok(subReads < 100, `the newest value arrives after ${subReads} reads, not 300`);
    t.notOk(sub.readable, "only the newest was kept");
  });
}

t.test("routingId: a REQ's identity reaches the ROUTER; types without one refuse the option", async (t) => {
  const s = scope(t);
  const router = s.sock(new Router());
  const addr = await bound(router, "tcp");
  const req = s.sock(new Request({ routingId: "req-7" }));
  req.connect(addr);
  await req.send("hi");
  const [id, empty, body] = await recv(router, "the request");
  t.same([String(id), empty!.length, String(body)], ["req-7", 0, "hi"]);
  for (const make of [() => new Push({ routingId: "x" } as never), () => new Pull({ routingId: "x" } as never), () => new Pair({ routingId: "x" } as never)]) {
    t.throws(make, { code: "EINVAL", message: /unknown option "routingId"/ });
  }
});
