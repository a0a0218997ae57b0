// ROUTER/DEALER semantics over real sockets on 127.0.0.1: load balancing and fair queuing, routing
// ids, HWM behaviour, pending sends/receives, timeouts and aborts, reconnects and events, linger,
// ipc://, argument errors, what send() accepts, and random multipart round trips (fast-check).

import t from "tap";
import fc from "fast-check";
import { Buffer } from "node:buffer";
import { execFile } from "node:child_process";
import { rmSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { Dealer, Router, type Socket } from "../../src/index.js";
import { closedPort, isPending, scope, sleep, until, watch, within } from "./fake-peer.js";

const WAIT = 5000;
const recv = (s: Socket, what = "a message"): Promise<Buffer[]> => within(s.receive(), WAIT, what);
const strs = (m: Buffer[]): string[] => m.map(String);

/** White-box: messages a socket has received and not yet handed out (no event says this). */
const queued = (s: Socket): number => {
  let n = 0;
  for (const p of (s as unknown as { _pipes: Set<{ inq: { length: number } }> })._pipes) n += p.inq.length;
  return n;
};

/** Binds, retrying briefly while a just-closed listener still holds the port. */
async function bindRetry(s: Socket, address: string): Promise<void> {
  for (let i = 0; ; i++) {
    try {
      return await s.bind(address);
    } catch (err) {
      if ((err as { code?: string }).code !== "EADDRINUSE" || i > 50) throw err;
      await sleep(20);
    }
  }
}

t.test("DEALER round-robins across peers in connect order, skipping full ones", async (t) => {
  const s = scope(t);
  const routers = [s.sock(new Router()), s.sock(new Router()), s.sock(new Router())];
  for (const r of routers) await r.bind("tcp://127.0.0.1:0");
  const dealer = s.sock(new Dealer({ routingId: "rr" }));
  for (const r of routers) dealer.connect(r.lastEndpoint!);
  for (let i = 0; i < 9; i++) await dealer.send(`m${i}`);
  for (const [k, r] of routers.entries()) {
    for (const i of [k, k + 3, k + 6]) t.same(strs(await recv(r)), ["rr", `m${i}`], `router ${k} gets m${i}`);
  }

  // A pipe whose queue is full (nobody listening) is skipped; the rest go to the live peer.
  const dead = `tcp://127.0.0.1:${await closedPort()}`;
  const d2 = s.sock(new Dealer({ routingId: "d2", sendHighWaterMark: 2, reconnectInterval: 5000 }));
  d2.connect(dead);
  d2.connect(routers[0]!.lastEndpoint!);
  for (let i = 0; i < 8; i++) await within(d2.send(`n${i}`), WAIT, `send n${i}`);
  const got: string[] = [];
  for (let i = 0; i < 6; i++) got.push(String((await recv(routers[0]!))[1]));
  t.same(got, ["n1", "n3", "n4", "n5", "n6", "n7"], "n0 and n2 wait in the dead pipe; the rest skip it");
});

t.test("ROUTER fair-queues input from several DEALERs", async (t) => {
  const s = scope(t);
  const router = s.sock(new Router());
  await router.bind("tcp://127.0.0.1:0");
  const ids = ["a", "b", "c"];
  const dealers = ids.map((id) => s.sock(new Dealer({ routingId: id })));
  for (const d of dealers) d.connect(router.lastEndpoint!);
  const N = 50;
  for (const [k, d] of dealers.entries()) for (let i = 0; i < N; i++) await d.send(`${ids[k]}${i}`);
  await until(() => queued(router) === 3 * N, "all messages queued at the router");
  const order: string[] = [];
  let mislabelled = 0;
  for (let i = 0; i < 3 * N; i++) {
    const [id, body] = await recv(router);
    if (String(body)[0] !== String(id)) mislabelled++;
    order.push(String(body));
  }
  t.equal(mislabelled, 0, "every message carries its sender's routing id");
  const unfair = Array.from({ length: N }, (_, w) => order.slice(3 * w, 3 * w + 3))
    .filter((window) => window.map((m) => m[0]).sort().join("") !== "abc");
  t.same(unfair, [], "every window of 3 has one message from each dealer");
  for (const id of ids) {
    t.same(
      order.filter((m) => m[0] === id),
      Array.from({ length: N }, (_, i) => `${id}${i}`),
      `${id}'s messages in order`,
    );
  }
});

t.test("ROUTER routing ids", async (t) => {
  t.test("Identity becomes the routing id; otherwise 5-byte auto ids starting with 0", async (t) => {
    const s = scope(t);
    const router = s.sock(new Router());
    await router.bind("tcp://127.0.0.1:0");
    const named = s.sock(new Dealer({ routingId: Buffer.from([0xff, 0x00, 0x80]) }));
    const anon1 = s.sock(new Dealer());
    const anon2 = s.sock(new Dealer());
    for (const d of [named, anon1, anon2]) d.connect(router.lastEndpoint!);
    await named.send("named");
    const [nid] = await recv(router);
    t.same([...nid!], [0xff, 0x00, 0x80], "binary identity kept as is");
    await anon1.send("1");
    const [id1] = await recv(router);
    await anon2.send("2");
    const [id2] = await recv(router);
    for (const id of [id1!, id2!]) {
      t.equal(id.length, 5, "5 bytes");
      t.equal(id[0], 0, "first byte 0");
    }
    t.not(id1!.toString("hex"), id2!.toString("hex"), "distinct");
    await router.send([id2!, "to 2"]);
    await router.send([id1!, "to 1"]);
    await router.send([nid!, "to named"]);
    t.same(strs(await recv(anon1)), ["to 1"]);
    t.same(strs(await recv(anon2)), ["to 2"]);
    t.same(strs(await recv(named)), ["to named"]);
  });

  t.test("an auto id never takes over a 0-prefixed id a peer claimed", async (t) => {
    const s = scope(t);
    const router = s.sock(new Router());
    await router.bind("tcp://127.0.0.1:0");
    // White-box: claim exactly the id the router will generate next.
    const next = (router as unknown as { _nextId: number })._nextId;
    const claimed = Buffer.alloc(5);
    claimed.writeUInt32BE(next, 1);
    const squatter = await s.dial(router.lastEndpoint!); // a raw peer may claim any id
    await squatter.handshake("DEALER", { identity: claimed });
    squatter.send(["claimed"]);
    const [sid] = await recv(router);
    t.same([...sid!], [...claimed], "the peer's claimed id is used");
    const anon = s.sock(new Dealer());
    anon.connect(router.lastEndpoint!);
    await anon.send("anon");
    const [aid] = await recv(router);
    t.not(aid!.toString("hex"), claimed.toString("hex"), "the auto id skips the taken one");
    await router.send([claimed, "to squatter"]);
    await router.send([aid!, "to anon"]);
    t.same(strs(await squatter.readMessage()), ["to squatter"]);
    t.same(strs(await recv(anon)), ["to anon"]);
  });

  t.test("unknown routing id: dropped by default, EHOSTUNREACH when mandatory", async (t) => {
    const s = scope(t);
    const router = s.sock(new Router());
    await router.bind("tcp://127.0.0.1:0");
    await within(router.send(["nobody", "x"]), WAIT, "send to unknown id");
    t.pass("send to an unknown id resolves (dropped)");
    const strict = s.sock(new Router({ mandatory: true }));
    await strict.bind("tcp://127.0.0.1:0");
    await t.rejects(strict.send(["nobody", "x"]), { code: "EHOSTUNREACH" });
    const d = s.sock(new Dealer({ routingId: "somebody" }));
    d.connect(strict.lastEndpoint!);
    await d.send("hi");
    await recv(strict);
    await strict.send(["somebody", "known"]);
    t.same(strs(await recv(d)), ["known"], "known ids still work");
  });

  t.test("handover: a new peer with the same identity takes over", async (t) => {
    const s = scope(t);
    const router = s.sock(new Router({ handover: true }));
    await router.bind("tcp://127.0.0.1:0");
    const first = s.sock(new Dealer({ routingId: "dup", reconnectInterval: -1 }));
    const ev1 = watch(first);
    first.connect(router.lastEndpoint!);
    await first.send("from first");
    t.same(strs(await recv(router)), ["dup", "from first"]);
    const second = s.sock(new Dealer({ routingId: "dup" }));
    second.connect(router.lastEndpoint!);
    await second.send("from second");
    t.same(strs(await recv(router)), ["dup", "from second"]);
    await router.send(["dup", "to dup"]);
    t.same(strs(await recv(second)), ["to dup"], "the new peer gets it");
    await ev1.wait("disconnect");
    t.pass("the old peer was disconnected");
  });

  t.test("without handover a duplicate identity is refused", async (t) => {
    const s = scope(t);
    const router = s.sock(new Router());
    await router.bind("tcp://127.0.0.1:0");
    const first = s.sock(new Dealer({ routingId: "dup" }));
    first.connect(router.lastEndpoint!);
    await first.send("from first");
    t.same(strs(await recv(router)), ["dup", "from first"]);
    const second = s.sock(new Dealer({ routingId: "dup", reconnectInterval: -1 }));
    const ev2 = watch(second);
    second.connect(router.lastEndpoint!);
    await second.send("from second");
    await ev2.wait("disconnect");
    await router.send(["dup", "to dup"]);
    t.same(strs(await recv(first)), ["to dup"], "the first peer keeps the id");
    await first.send("again");
    t.same(strs(await recv(router)), ["dup", "again"], "nothing from the refused peer came first");
    router.receiveTimeout = 100;
    await t.rejects(router.receive(), { code: "EAGAIN" }, "nothing from the refused peer at all");
  });

  t.test("connect(addr, { routingId }) lets ROUTER-ROUTER send first", async (t) => {
    const s = scope(t);
    const server = s.sock(new Router({ routingId: "server" }));
    await server.bind("tcp://127.0.0.1:0");
    const client = s.sock(new Router({ mandatory: true }));
    client.connect(server.lastEndpoint!, { routingId: "srv" });
    await within(client.send(["srv", "first words"]), WAIT, "send to the preset id");
    const [cid, body] = await recv(server);
    t.equal(String(body), "first words");
    t.equal(cid!.length, 5, "client has an auto id at the server");
    await server.send([cid!, "reply"]);
    t.same(strs(await recv(client)), ["srv", "reply"], "reply arrives under the preset id");
    t.throws(() => client.connect("tcp://127.0.0.1:1", { routingId: "srv" }), { code: "EINVAL" }, "id already in use");
  });
});

t.test("high-water marks", async (t) => {
  t.test("DEALER connected to nothing: HWM messages queue, then send waits; sendTimeout 0 is EAGAIN", async (t) => {
    const s = scope(t);
    const dealer = s.sock(new Dealer({ sendHighWaterMark: 10, reconnectInterval: 50 }));
    dealer.connect(`tcp://127.0.0.1:${await closedPort()}`);
    for (let i = 0; i < 10; i++) await within(dealer.send(`m${i}`), WAIT, `send ${i}`);
    t.notOk(dealer.writable, "not writable at the HWM");
    const eleventh = dealer.send("m10");
    await sleep(200);
    t.ok(await isPending(eleventh), "11th send still waiting after 200 ms");
    dealer.sendTimeout = 0;
    await t.rejects(dealer.send("m11"), { code: "EAGAIN" }, "sendTimeout 0 rejects at once");
    dealer.linger = 0; // else the queued messages would keep it reconnecting for 30 s
    dealer.close();
    await t.rejects(eleventh, { code: "EBADF" }, "close rejects the waiting send");
  });

  t.test("a bound DEALER with no peer waits; sendTimeout expires with EAGAIN", async (t) => {
    const s = scope(t);
    const dealer = s.sock(new Dealer());
    await dealer.bind("tcp://127.0.0.1:0");
    const p = dealer.send("nobody there");
    await sleep(200);
    t.ok(await isPending(p), "still waiting after 200 ms");
    dealer.sendTimeout = 100;
    const started = Date.now();
    await t.rejects(dealer.send("timed"), { code: "EAGAIN" });
    t.ok(Date.now() - started >= 90, "after about sendTimeout");
    // The first send is still queued and reaches a peer once there is one.
    const router = s.sock(new Router());
    router.connect(dealer.lastEndpoint!);
    await within(p, WAIT, "the waiting send");
    t.same(strs((await recv(router)).slice(1)), ["nobody there"]);
  });

  // A peer that does not read (receive HWM 1) fills its TCP buffers and then our queue for it.
  async function slowPeer(s: ReturnType<typeof scope>, router: Router) {
    await router.bind("tcp://127.0.0.1:0");
    const slow = s.sock(new Dealer({ routingId: "slow", receiveHighWaterMark: 1 }));
    slow.connect(router.lastEndpoint!);
    await slow.send("hi");
    await recv(router);
    return slow;
  }
  const BIG = Buffer.alloc(256 * 1024, 7); // shared: the kernel copies, we don't
  const seq = (m: Buffer[]) => Number(String(m[0]));
  async function drain(slow: Dealer): Promise<number[]> {
    slow.receiveTimeout = 1000;
    const seqs: number[] = [];
    for (;;) {
      try {
        const m = await slow.receive();
        if (m[1]!.length !== BIG.length) throw new Error("body damaged");
        seqs.push(seq(m));
      } catch (err) {
        if ((err as { code?: string }).code === "EAGAIN") return seqs;
        throw err;
      }
    }
  }

  t.test("a send waiting for a pipe goes into one made by a later connect()", async (t) => {
    const s = scope(t);
    const dealer = s.sock(new Dealer({ routingId: "late" }));
    const p = dealer.send("before connect");
    t.ok(await isPending(p), "no pipe yet: waits");
    const port = await closedPort();
    dealer.connect(`tcp://127.0.0.1:${port}`);
    await within(p, 1000, "the send to be queued in the new pipe");
    t.pass("queued while the peer is not there yet");
    const router = s.sock(new Router());
    await bindRetry(router, `tcp://127.0.0.1:${port}`);
    t.same(strs(await recv(router)), ["late", "before connect"]);
  });

  t.test("ROUTER drops for a full peer by default", async (t) => {
    const s = scope(t);
    const router = s.sock(new Router({ sendHighWaterMark: 10 }));
    const slow = await slowPeer(s, router);
    const N = 400; // 100 MB: more than loopback TCP buffers can hold
    for (let i = 0; i < N; i++) {
      const p = router.send(["slow", String(i), BIG]);
      if (await isPending(p)) return t.fail(`send ${i} waited`);
    }
    t.pass(`all ${N} sends resolved without waiting`);
    const seqs = await drain(slow);
    t.ok(seqs.length > 10 && seqs.length < N, `${seqs.length} of ${N} delivered, the rest dropped`);
    t.same(seqs, Array.from({ length: seqs.length }, (_, i) => i), "a prefix, in order");
  });

  t.test("ROUTER with mandatory waits for a full peer instead of dropping", async (t) => {
    const s = scope(t);
    const router = s.sock(new Router({ sendHighWaterMark: 10, mandatory: true }));
    const slow = await slowPeer(s, router);
    let sent = 0;
    let blocked: Promise<void> | undefined;
    while (sent < 1000) {
      const p = router.send(["slow", String(sent), BIG]);
      sent++;
      if (await isPending(p)) {
        blocked = p;
        break;
      }
    }
    t.ok(blocked, `send #${sent} waits`);
    await sleep(200);
    t.ok(await isPending(blocked!), "still waiting after 200 ms");
    const seqs = await drain(slow);
    await within(blocked!, WAIT, "the waiting send");
    t.same(seqs, Array.from({ length: sent }, (_, i) => i), `all ${sent} delivered, in order`);
  });
});

t.test("receiveHighWaterMark changed at runtime is honoured on resume", async (t) => {
  const s = scope(t);
  const router = s.sock(new Router());
  await router.bind("tcp://127.0.0.1:0");
  const dealer = s.sock(new Dealer({ routingId: "d", receiveHighWaterMark: 1, receiveTimeout: 3000 }));
  dealer.connect(router.lastEndpoint!);
  await dealer.send("hi");
  await recv(router);
  const big = Buffer.alloc(256 * 1024, 1);
  for (let i = 0; i < 20; i++) await router.send(["d", String(i), big]);
  await until(() => dealer.readable, "the first message");
  dealer.receiveHighWaterMark = 0; // unlimited from now on
  const got: number[] = [];
  for (let i = 0; i < 20; i++) got.push(Number(String((await dealer.receive())[0])));
  t.same(got, Array.from({ length: 20 }, (_, i) => i), "all 20 arrive after the HWM is lifted");
});

t.test("ROUTER mandatory: a send waiting for a peer that goes away fails and unblocks the rest", async (t) => {
  const s = scope(t);
  const router = s.sock(new Router({ sendHighWaterMark: 2, mandatory: true }));
  await router.bind("tcp://127.0.0.1:0");
  const slow = new Dealer({ routingId: "slow", receiveHighWaterMark: 1, linger: 0 });
  const ev = watch(router);
  slow.connect(router.lastEndpoint!);
  const other = s.sock(new Dealer({ routingId: "other" }));
  other.connect(router.lastEndpoint!);
  await slow.send("hi");
  await other.send("hi");
  await recv(router);
  await recv(router);
  const big = Buffer.alloc(256 * 1024);
  let blocked: Promise<void> | undefined;
  for (let i = 0; i < 1000 && !blocked; i++) {
    const p = router.send(["slow", big]);
    if (await isPending(p)) blocked = p;
  }
  t.ok(blocked, "a send to the full peer waits");
  const behind = router.send(["other", "queued behind it"]);
  t.ok(await isPending(behind), "later sends wait behind it (in order)");
  slow.close();
  await ev.wait("disconnect");
  await t.rejects(within(blocked!, 2000, "the blocked send to settle"), { code: "EHOSTUNREACH" });
  await within(behind, 2000, "the send behind it");
  t.same(strs(await recv(other)), ["queued behind it"], "the rest go on");
});

t.test("pending sends and receives, timeouts, aborts, iteration", async (t) => {
  t.test("several pending send() calls resolve in order", async (t) => {
    const s = scope(t);
    const dealer = s.sock(new Dealer());
    await dealer.bind("tcp://127.0.0.1:0");
    const resolved: number[] = [];
    const sends = [0, 1, 2, 3, 4].map((i) => dealer.send(`s${i}`).then(() => resolved.push(i)));
    for (const p of sends) t.ok(await isPending(p), "waiting: no peer");
    const router = s.sock(new Router());
    router.connect(dealer.lastEndpoint!);
    await within(Promise.all(sends), WAIT, "all sends");
    t.same(resolved, [0, 1, 2, 3, 4], "resolved in call order");
    for (let i = 0; i < 5; i++) t.equal(String((await recv(router))[1]), `s${i}`, "delivered in order");
  });

  t.test("several pending receive() calls resolve in order", async (t) => {
    const s = scope(t);
    const router = s.sock(new Router());
    await router.bind("tcp://127.0.0.1:0");
    const got: string[] = [];
    const receives = [0, 1, 2, 3, 4].map((i) => router.receive().then((m) => got.push(`${i}:${m[1]}`)));
    const dealer = s.sock(new Dealer());
    dealer.connect(router.lastEndpoint!);
    for (let i = 0; i < 5; i++) await dealer.send(`r${i}`);
    await within(Promise.all(receives), WAIT, "all receives");
    t.same(got, ["0:r0", "1:r1", "2:r2", "3:r3", "4:r4"]);
  });

  t.test("receiveTimeout rejects with EAGAIN; 0 fails at once", async (t) => {
    const s = scope(t);
    const dealer = s.sock(new Dealer({ receiveTimeout: 100 }));
    await dealer.bind("tcp://127.0.0.1:0");
    const started = Date.now();
    await t.rejects(dealer.receive(), { code: "EAGAIN" });
    t.ok(Date.now() - started >= 90, "after about receiveTimeout");
    dealer.receiveTimeout = 0;
    await t.rejects(dealer.receive(), { code: "EAGAIN" });
  });

  t.test("AbortSignal aborts a waiting receive or send with ABORT_ERR", async (t) => {
    const s = scope(t);
    const dealer = s.sock(new Dealer());
    await dealer.bind("tcp://127.0.0.1:0");
    const ac = new AbortController();
    const p = dealer.receive({ signal: ac.signal });
    t.ok(await isPending(p));
    ac.abort();
    await t.rejects(p, { code: "ABORT_ERR" });
    await t.rejects(dealer.receive({ signal: AbortSignal.abort() }), { code: "ABORT_ERR" }, "already aborted");
    await t.rejects(dealer.receive({ signal: AbortSignal.timeout(50) }), { code: "ABORT_ERR" }, "AbortSignal.timeout");
    await t.rejects(dealer.send("x", { signal: AbortSignal.timeout(50) }), { code: "ABORT_ERR" }, "send aborted");
    // The aborted waiters are gone: the next message goes to the next receive.
    const router = s.sock(new Router());
    router.connect(dealer.lastEndpoint!);
    await router.send([(await recvAny(router, dealer)), "after abort"]);
    t.same(strs(await recv(dealer)), ["after abort"]);
  });

  t.test("for await ends when the socket closes", async (t) => {
    const s = scope(t);
    const router = s.sock(new Router());
    await router.bind("tcp://127.0.0.1:0");
    const dealer = s.sock(new Dealer({ routingId: "it" }));
    dealer.connect(router.lastEndpoint!);
    await dealer.send("hello");
    await recv(router);
    const got: string[] = [];
    const loop = (async () => {
      for await (const m of dealer) got.push(String(m[0]));
    })();
    await router.send(["it", "a"]);
    await router.send(["it", "b"]);
    await until(() => got.length === 2, "two messages iterated");
    dealer.close();
    await within(loop, WAIT, "the loop to end");
    t.same(got, ["a", "b"]);
  });
});

/** Makes `dealer` (bound) known to `router` (connected) and returns the dealer's routing id there. */
async function recvAny(router: Router, dealer: Dealer): Promise<Buffer> {
  await dealer.send("ping");
  const [id] = await recv(router);
  return id!;
}

t.test("reconnect", async (t) => {
  t.test("DEALER connects before the ROUTER binds; queued messages arrive", async (t) => {
    const s = scope(t);
    const port = await closedPort();
    const address = `tcp://127.0.0.1:${port}`;
    const dealer = s.sock(new Dealer({ routingId: "early", reconnectInterval: 20 }));
    const ev = watch(dealer);
    dealer.connect(address);
    for (let i = 0; i < 3; i++) await dealer.send(`q${i}`);
    await ev.wait("connect:retry", 2);
    const router = s.sock(new Router());
    await bindRetry(router, address);
    for (let i = 0; i < 3; i++) t.same(strs(await recv(router)), ["early", `q${i}`]);
    await ev.wait("handshake");
    t.ok(ev.count("connect:retry") >= 2, "retried while nobody listened");
  });

  t.test("ROUTER restarts on the same port: DEALER reconnects, traffic resumes, events tell", async (t) => {
    const s = scope(t);
    const r1 = s.sock(new Router());
    await r1.bind("tcp://127.0.0.1:0");
    const address = r1.lastEndpoint!;
    const dealer = s.sock(new Dealer({ routingId: "d", reconnectInterval: 20 }));
    const ev = watch(dealer);
    dealer.connect(address);
    await dealer.send("one");
    t.same(strs(await recv(r1)), ["d", "one"]);
    await r1.send(["d", "ack"]);
    t.same(strs(await recv(dealer)), ["ack"]);
    r1.close();
    await ev.wait("disconnect");
    await dealer.send("two"); // queued while reconnecting
    const r2 = s.sock(new Router());
    await bindRetry(r2, address);
    t.same(strs(await recv(r2)), ["d", "two"], "queued message delivered to the new ROUTER");
    await r2.send(["d", "ack2"]);
    t.same(strs(await recv(dealer)), ["ack2"]);
    await ev.wait("handshake", 2);
    const types = ev.types().filter((x) => x !== "connect:delay");
    const at = (type: string, from = 0) => types.indexOf(type as never, from);
    t.ok(at("connect") >= 0 && at("connect") < at("handshake"), "connect, then handshake");
    const d = at("disconnect");
    t.ok(d > at("handshake"), "then disconnect");
    t.ok(at("connect:retry", d) > d, "then connect:retry");
    t.ok(at("connect", d) > d && at("handshake", d) > at("connect", d), "then connect and handshake again");
    for (const e of ev.seen) t.equal(e.address, address, `${e.type} has the address`);
  });
});

t.test("linger", async (t) => {
  t.test("close() right after 1000 sends still delivers all of them", async (t) => {
    const s = scope(t);
    const router = s.sock(new Router());
    await router.bind("tcp://127.0.0.1:0");
    const dealer = new Dealer({ routingId: "lingering" });
    dealer.connect(router.lastEndpoint!);
    for (let i = 0; i < 1000; i++) await dealer.send(String(i));
    dealer.close();
    t.ok(dealer.closed);
    for (let i = 0; i < 1000; i++) {
      const m = await recv(router, `message ${i}`);
      if (String(m[1]) !== String(i)) return t.fail(`message ${i} was ${m[1]}`);
    }
    t.pass("all 1000 delivered in order");
  });

  t.test("close() while the connection is blocked flushes the rest as it drains", async (t) => {
    const s = scope(t);
    const router = s.sock(new Router());
    await router.bind("tcp://127.0.0.1:0");
    const dealer = new Dealer({ routingId: "bulk" });
    dealer.connect(router.lastEndpoint!);
    await dealer.send("hello");
    await recv(router);
    const big = Buffer.alloc(256 * 1024, 3);
    const N = 100; // 25 MB: far more than the socket buffers take at once
    for (let i = 0; i < N; i++) await dealer.send([String(i), big]);
    dealer.close();
    let ok = 0;
    for (let i = 0; i < N; i++) {
      const [, seq, body] = await recv(router, `message ${i}`);
      if (Number(String(seq)) === i && body!.length === big.length) ok++;
    }
    t.equal(ok, N, `all ${N} large messages delivered in order after close()`);
  });

  t.test("linger 0 does not keep the process alive; default linger exits once delivered", async (t) => {
    const s = scope(t);
    const router = s.sock(new Router());
    await router.bind("tcp://127.0.0.1:0");
    const fake = await s.listener(); // accepts, never speaks: a handshake that never completes
    const dead = `tcp://127.0.0.1:${await closedPort()}`;
    const src = new URL("../../src/index.js", import.meta.url).href;
    const code = `
      const net = await import("node:net");
      const { Dealer, Router } = await import(${JSON.stringify(src)});
      const a = new Dealer({ linger: 0 });
      a.connect(${JSON.stringify(dead)});
      a.connect(${JSON.stringify(fake.address)});
      for (let i = 0; i < 5; i++) await a.send("lost " + i);
      const b = new Dealer({ routingId: "child" });
      b.connect(${JSON.stringify(router.lastEndpoint)});
      for (let i = 0; i < 5; i++) await b.send("kept " + i);
      // Default linger, nothing queued, handshakes that never complete: nothing to wait for.
      const c = new Dealer();
      const cConnected = new Promise((resolve) => c.events.on("connect", resolve));
      c.connect(${JSON.stringify(fake.address)});
      const r = new Router();
      await r.bind("tcp://127.0.0.1:0");
      const accepted = new Promise((resolve) => r.events.on("accept", resolve));
      const raw = net.connect(Number(r.lastEndpoint.split(":")[2]), "127.0.0.1");
      raw.on("error", () => {});
      await accepted;
      await cConnected;
      a.close();
      b.close();
      c.close();
      r.close();
    `;
    const loader = process.execArgv.filter((a) => a.includes("@tapjs/typescript"));
    const started = Date.now();
    const result = await new Promise<{ code: number | null; stderr: string }>((resolve) => {
      const child = execFile(
        process.execPath,
        [...loader, "--input-type=module", "-e", code],
        { timeout: 15_000, env: { ...process.env, NODE_OPTIONS: "" } },
        (_err, _stdout, stderr) => resolve({ code: child.exitCode, stderr }),
      );
    });
    const took = Date.now() - started;
    t.equal(result.code, 0, `child exited by itself in ${took} ms ${result.stderr}`);
    t.ok(took < 10_000, "well before any handshake timeout or linger period");
    for (let i = 0; i < 5; i++) t.same(strs(await recv(router)), ["child", `kept ${i}`]);
  });
});

t.test("unbind, disconnect, immediate, backoff, asyncDispose, events iteration", async (t) => {
  t.test("unbind drops its peers; they reconnect once it is bound again", async (t) => {
    const s = scope(t);
    const router = s.sock(new Router());
    await router.bind("tcp://127.0.0.1:0");
    const address = router.lastEndpoint!;
    const dealer = s.sock(new Dealer({ routingId: "u", reconnectInterval: 20 }));
    const ev = watch(dealer);
    dealer.connect(address);
    await dealer.send("1");
    await recv(router);
    await router.unbind(address);
    await ev.wait("disconnect");
    await ev.wait("connect:retry", 2);
    await bindRetry(router, address);
    await dealer.send("2");
    t.same(strs(await recv(router)), ["u", "2"], "traffic resumes after re-bind");
  });

  t.test("disconnect drops that pipe and its queue at once", async (t) => {
    const s = scope(t);
    const dead = `tcp://127.0.0.1:${await closedPort()}`;
    const dealer = s.sock(new Dealer({ sendHighWaterMark: 1 }));
    dealer.connect(dead);
    await dealer.send("queued");
    t.ok(await isPending(dealer.send("waits")), "HWM 1 reached");
    dealer.disconnect(dead);
    t.throws(() => dealer.disconnect(dead), { code: "ENOENT" }, "gone");
    const router = s.sock(new Router());
    await router.bind("tcp://127.0.0.1:0");
    dealer.connect(router.lastEndpoint!);
    const [, first] = await recv(router);
    t.equal(String(first), "waits", "the waiting send went to the new pipe; the dropped queue did not");
  });

  t.test("immediate: no queueing to peers that are not connected", async (t) => {
    const s = scope(t);
    const router = s.sock(new Router());
    await router.bind("tcp://127.0.0.1:0");
    const dealer = s.sock(new Dealer({ immediate: true, routingId: "imm" }));
    const ev = watch(dealer);
    dealer.connect(`tcp://127.0.0.1:${await closedPort()}`);
    const p = dealer.send("x");
    t.ok(await isPending(p), "waits: the only pipe is not connected");
    dealer.connect(router.lastEndpoint!);
    await ev.wait("handshake");
    await within(p, WAIT, "the send once a peer is up");
    for (let i = 0; i < 4; i++) await dealer.send(`y${i}`);
    const got = [];
    for (let i = 0; i < 5; i++) got.push(String((await recv(router))[1]));
    t.same(got, ["x", "y0", "y1", "y2", "y3"], "everything to the connected peer");
  });

  t.test("reconnectMaxInterval doubles the wait up to the cap", async (t) => {
    const s = scope(t);
    const dealer = s.sock(new Dealer({ reconnectInterval: 10, reconnectMaxInterval: 40 }));
    const ev = watch(dealer);
    dealer.connect(`tcp://127.0.0.1:${await closedPort()}`);
    await ev.wait("connect:retry", 5);
    const intervals = ev.seen.filter((e) => e.type === "connect:retry").slice(0, 5).map((e) => e.interval);
    t.same(intervals, [10, 20, 40, 40, 40]);
  });

  t.test("Symbol.asyncDispose closes; events can be iterated and end on close", async (t) => {
    const router = new Router();
    const events: string[] = [];
    const iterating = (async () => {
      for await (const e of router.events) events.push(e.type);
    })();
    {
      await using r = router;
      await r.bind("tcp://127.0.0.1:0");
    }
    t.ok(router.closed, "closed by await using");
    await within(iterating, WAIT, "event iteration to end");
    t.same(events, ["bind", "close", "end"]);
  });
});

t.test("ipc:// endpoint", async (t) => {
  const s = scope(t);
  const path = join(tmpdir(), `emq-socket-test-${process.pid}-${Date.now()}.sock`);
  t.teardown(() => rmSync(path, { force: true }));
  const router = s.sock(new Router());
  await router.bind(`ipc://${path}`);
  t.equal(router.lastEndpoint, `ipc://${path}`);
  const dealer = s.sock(new Dealer({ routingId: "unix" }));
  dealer.connect(`ipc://${path}`);
  await dealer.send(["over", "ipc"]);
  t.same(strs(await recv(router)), ["unix", "over", "ipc"]);
  await router.send(["unix", "back"]);
  t.same(strs(await recv(dealer)), ["back"]);
});

t.test("bad arguments", async (t) => {
  const s = scope(t);
  const d = s.sock(new Dealer());
  for (const bad of ["nonsense", "tcp://127.0.0.1", "tcp://127.0.0.1:99999", "udp://127.0.0.1:5555", "tcp://:5"]) {
    await t.rejects(d.bind(bad), { code: "EINVAL" }, `bind ${bad}`);
  }
  for (const bad of ["nonsense", "tcp://*:5555", "tcp://127.0.0.1:0", "tcp://127.0.0.1:*", "inproc:"]) {
    t.throws(() => d.connect(bad), { code: "EINVAL" }, `connect ${bad}`);
  }
  t.throws(() => new Dealer({ bogus: 1 } as never), { code: "EINVAL" }, "unknown option");
  t.throws(() => new Dealer({ _pipes: 1 } as never), { code: "EINVAL" }, "private field as option");
  t.throws(() => new Dealer({ send: 1 } as never), { code: "EINVAL" }, "method as option");
  t.throws(() => new Dealer({ mandatory: true } as never), { code: "EINVAL" }, "another type's option");
  const zeroId = s.sock(new Dealer({ routingId: Buffer.from([0, 1]) }));
  t.throws(() => zeroId.connect("tcp://127.0.0.1:1"), { code: "EINVAL" }, "routing id starting with 0");
  for (const bad of ["", Buffer.from([0]), "x".repeat(256)]) {
    const r = s.sock(new Router({ routingId: bad }));
    await t.rejects(r.bind("tcp://127.0.0.1:0"), { code: "EINVAL" }, `ROUTER routingId of ${bad.length} bytes`);
  }

  await d.bind("tcp://127.0.0.1:0");
  const first = d.lastEndpoint!;
  await t.rejects(d.bind(first), { code: "EADDRINUSE" }, "bind twice to the same address");
  await d.bind("tcp://127.0.0.1:0");
  t.not(d.lastEndpoint, first, "a second ephemeral bind gets its own port");
  await d.unbind(d.lastEndpoint!);
  await t.rejects(d.bind(first), { code: "EADDRINUSE" }, "the first is still bound");
  const other = s.sock(new Dealer());
  await t.rejects(other.bind(first), { code: "EADDRINUSE" }, "another socket on the same port");
  t.throws(() => d.disconnect("tcp://127.0.0.1:1"), { code: "ENOENT" });
  await t.rejects(d.unbind("tcp://127.0.0.1:1"), { code: "ENOENT" });
  await t.rejects(d.send([]), { code: "EINVAL" }, "empty message");
  await t.rejects(d.send({} as never), { code: "EINVAL" }, "object frame");
  await t.rejects(d.send([undefined] as never), { code: "EINVAL" }, "undefined frame");
  const r = s.sock(new Router());
  await t.rejects(r.send("only one frame"), { code: "EINVAL" }, "ROUTER message without a routing id");

  const closed = new Dealer();
  closed.close();
  closed.close(); // idempotent
  t.ok(closed.closed);
  await t.rejects(closed.send("x"), { code: "EBADF" }, "send on a closed socket");
  await t.rejects(closed.receive(), { code: "EBADF" }, "receive on a closed socket");
  await t.rejects(closed.bind("tcp://127.0.0.1:0"), { code: "EBADF" }, "bind on a closed socket");
  t.throws(() => closed.connect("tcp://127.0.0.1:1"), { code: "EBADF" }, "connect on a closed socket");
});

t.test("send() accepts strings, Buffers, typed arrays, ArrayBuffers, numbers, null, and arrays of them", async (t) => {
  const s = scope(t);
  const router = s.sock(new Router());
  await router.bind("tcp://127.0.0.1:0");
  const dealer = s.sock(new Dealer({ routingId: "types" }));
  dealer.connect(router.lastEndpoint!);
  const backing = new Uint8Array([0, 1, 2, 3, 4, 5, 6, 7]);
  const cases: [string, Parameters<Dealer["send"]>[0], number[][]][] = [
    ["string", "héllo", [[...Buffer.from("héllo")]]],
    ["Buffer", Buffer.from([1, 2, 3]), [[1, 2, 3]]],
    ["Uint8Array", new Uint8Array([4, 5]), [[4, 5]]],
    ["Uint8Array view with offset", backing.subarray(2, 5), [[2, 3, 4]]],
    ["Uint16Array", new Uint16Array([0x0201]), [[...Buffer.from(new Uint16Array([0x0201]).buffer)]]],
    ["DataView", new DataView(backing.buffer, 6, 2), [[6, 7]]],
    ["ArrayBuffer", new Uint8Array([9, 8, 7]).buffer, [[9, 8, 7]]],
    ["number", 42, [[...Buffer.from("42")]]],
    ["null", null, [[]]],
    ["empty string", "", [[]]],
    [
      "array of all",
      ["a", Buffer.from("b"), new Uint8Array([99]), new Uint8Array([100]).buffer, 7, null],
      [[97], [98], [99], [100], [55], []],
    ],
  ];
  for (const [, msg] of cases) await dealer.send(msg);
  for (const [name, , want] of cases) {
    const [id, ...frames] = await recv(router, name);
    t.equal(String(id), "types");
    t.same(frames.map((f) => [...f]), want, name);
    t.ok(frames.every((f) => Buffer.isBuffer(f)), `${name}: received as Buffers`);
  }
});

t.test("random multipart messages round-trip DEALER -> ROUTER -> DEALER unchanged", async (t) => {
  const s = scope(t);
  const router = s.sock(new Router());
  await router.bind("tcp://127.0.0.1:0");
  const dealer = s.sock(new Dealer());
  dealer.connect(router.lastEndpoint!);
  const size = fc.oneof(
    fc.constantFrom(0, 1, 254, 255, 256, 8191, 8192, 65535, 65536, 70000),
    fc.integer({ min: 0, max: 70000 }),
  );
  const frame = fc.tuple(size, fc.integer({ min: 0, max: 255 })).map(([n, seed]) => {
    const b = Buffer.allocUnsafe(n);
    for (let i = 0; i < n; i++) b[i] = (seed + i * 131 + (i >>> 8)) & 0xff;
    return b;
  });
  const message = fc.array(frame, { minLength: 1, maxLength: 5 });
  let runs = 0;
  let bytes = 0;
  let frameCount = 0;
  const kept: [Buffer[], Buffer[]][] = []; // received frames must not be overwritten later
  await fc.assert(
    fc.asyncProperty(message, async (frames) => {
      runs++;
      frameCount += frames.length;
      for (const f of frames) bytes += f.length;
      await dealer.send(frames);
      const [id, ...got] = await recv(router);
      if (got.length !== frames.length || !got.every((f, i) => f.equals(frames[i]!))) return false;
      await router.send([id!, ...got]);
      const back = await recv(dealer);
      kept.push([frames, back]);
      return back.length === frames.length && back.every((f, i) => f.equals(frames[i]!));
    }),
    {
      numRuns: 40,
      // Always cover the edges: empty, short/long size boundary, copy limit, straddling 64 KiB reads.
      examples: [[[0, 255, 256, 8191, 8192].map((n) => Buffer.alloc(n, n & 0xff))], [[Buffer.alloc(70000, 9)]]],
    },
  );
  t.equal(runs, 40, `40 messages (2 fixed edge cases, 38 random) round-tripped (${frameCount} frames, ${bytes} bytes)`);
  t.ok(kept.every(([sent, got]) => got.every((f, i) => f.equals(sent[i]!))), "earlier messages intact at the end");
});

t.test("ROUTER disconnect events name the departed peer's routing id", async (t) => {
  const s = scope(t);
  const router = s.sock(new Router());
  await router.bind("tcp://127.0.0.1:0");
  const gone = new Promise<{ routingId?: Buffer; address?: string }>((resolve) => router.events.on("disconnect", resolve));
  const d = new Dealer({ routingId: Buffer.from([0xf4, 0x01, 0xff]), linger: 0 });
  d.connect(router.lastEndpoint!);
  await d.send("hello");
  t.same(strs((await recv(router)).slice(1)), ["hello"]);
  d.close();
  const ev = await within(gone, WAIT, "the disconnect event");
  t.same(ev.routingId, Buffer.from([0xf4, 0x01, 0xff]), "the binary routing id, as the ROUTER knew it");
});
