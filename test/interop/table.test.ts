// The interop table: every valid pair of the ZMTP compatibility matrix, each scenario written once
// against test/interop/drivers.ts and run for three pairings (emq<->emq, emq<->libzmq,
// libzmq<->emq) in both bind/connect roles, over TCP on 127.0.0.1. Then the behaviour rows, in the
// same pairings: a publisher restarts on the same port and its subscriber (emq or libzmq)
// resubscribes and receives again; what each type does at its high-water mark (PUB drops and never
// waits; PUSH, DEALER and PAIR wait and lose nothing; ROUTER drops, for an unknown id or a full
// peer, or with `mandatory` rejects EHOSTUNREACH / waits); `linger` delivers what was queued just
// before close(), also when close() comes before the handshake.
//
// Rows are named like `PUB-SUB emq(bind)<->libzmq(connect)`: the PUB is emq and binds.
// A row whose emq class does not exist yet fails with "emq has no class X yet".
// Without pyzmq the rows with a libzmq side are skipped with the reason (emq<->emq rows still
// run), except in CI (CI=true), where that fails.

import t from "tap";
import { Buffer } from "node:buffer";
import { open, WAIT, type Driver, type Frame, type Impl, type SideOptions, type SockType, type Where } from "./drivers.js";
import { requirePyzmq, sleep } from "./peer.js";

/** What a subtest callback gets (the last overload of t.test takes only the callback). */
type Test = Parameters<Parameters<typeof t.test>[0]>[0];

const LOCAL = "tcp://127.0.0.1:0";

const noZmq = requirePyzmq(t);

// Rows run 4 at a time: most of a row's time is spent waiting (child start-up, quiet periods), and
// each row has its own sockets, ports and processes.
t.jobs = 4;

/**
 * The pairings run. TABLE_PAIRINGS=libzmq-libzmq (comma-separated list) runs others instead: a
 * scenario that fails libzmq<->libzmq is itself wrong, which is worth knowing before blaming emq.
 */
const PAIRINGS: [Impl, Impl][] = (process.env.TABLE_PAIRINGS ?? "emq-emq,emq-libzmq,libzmq-emq").split(",").map((p) => {
  const [a, b] = p.trim().split("-");
  if ((a !== "emq" && a !== "libzmq") || (b !== "emq" && b !== "libzmq")) throw new Error(`TABLE_PAIRINGS: bad pairing ${p}`);
  return [a, b];
});

/** Opens sides for one test and releases them all in teardown. */
function sides(t: Test) {
  const all: Driver[] = [];
  t.teardown(() => Promise.all(all.map((d) => d.stop())).then(() => {}));
  return {
    async open(impl: Impl, type: SockType, where: Where, opts?: SideOptions): Promise<Driver> {
      const d = await open(impl, type, where, opts);
      all.push(d);
      return d;
    },
  };
}

/** A subtest, skipped with the reason when it needs libzmq and pyzmq is missing. */
function row(name: string, impls: Impl[], fn: (t: Test, s: ReturnType<typeof sides>) => Promise<void>): void {
  if (noZmq && impls.includes("libzmq")) t.test(name, { skip: noZmq }, async () => {});
  else t.test(name, (t) => fn(t, sides(t)));
}

// ---- helpers --------------------------------------------------------------------------------

const text = (m: readonly Frame[]): string[] => m.map((f) => (typeof f === "string" ? f : f.toString("latin1")));
const bytes = Buffer.from(Array.from({ length: 256 }, (_, i) => i));

function same(t: Test, got: readonly Frame[], want: readonly Frame[], what: string): void {
  t.same(text(got), text(want), what);
}

/** "topic:body" for a two-frame message, for compact comparisons. */
const tb = (m: Buffer[]): string => text(m).join(":");

/**
 * Sends `msg` from `from` until `to` receives a message that `isIt` accepts (bounded). For what
 * needs the connection (or a subscription) to be in place first, which happens asynchronously.
 * Other messages received meanwhile are ignored.
 */
async function sendUntil(from: Driver, to: Driver, msg: Frame[], isIt: (m: Buffer[]) => boolean, what: string): Promise<Buffer[]> {
  const deadline = Date.now() + WAIT;
  while (Date.now() < deadline) {
    await from.send(msg);
    for (;;) {
      const m = await to.tryRecv(50);
      if (!m) break;
      if (isIt(m)) return m;
    }
  }
  throw new Error(`${what}: nothing arrived within ${WAIT} ms of sending`);
}

/** Publishes until the subscriber receives (subscriptions propagate asynchronously). */
const publishUntil = sendUntil;

/** The next message that is not `skip` (a repeat of what sendUntil sent). */
async function recvSkipping(d: Driver, skip: string): Promise<Buffer[]> {
  for (;;) {
    const m = await d.recv();
    if (text(m).join("|") !== skip) return m;
  }
}

/** Receives until a message whose last frame is "end", skipping the "warm" ones: "topic:body" each. */
async function collectUntilEnd(sub: Driver): Promise<string[]> {
  const got: string[] = [];
  for (;;) {
    const m = await sub.recv();
    const last = m[m.length - 1]!.toString("latin1");
    if (last === "warm") continue;
    got.push(tb(m));
    if (last === "end") return got;
  }
}

const DIGITS = /^\d{8}$/;
const counters = (tails: string[]): number[] => tails.filter((s) => DIGITS.test(s)).map(Number);
const range = (n: number): number[] => Array.from({ length: n }, (_, i) => i);
const increasing = (xs: number[]): boolean => xs.every((x, i) => i === 0 || x > xs[i - 1]!);

/** XSUB (un)subscribes by sending \x01topic / \x00topic; SUB has methods for it. */
async function subscribeVia(d: Driver, topic: string, on = true): Promise<void> {
  if (d.type === "XSUB") await d.send([Buffer.concat([Buffer.from([on ? 1 : 0]), Buffer.from(topic, "latin1")])]);
  else if (on) await d.subscribe(topic);
  else await d.unsubscribe(topic);
}

// ---- the pairs --------------------------------------------------------------------------------

interface Ctx {
  t: Test;
  A: Driver;
  B: Driver;
  aBinds: boolean;
}

interface PairSpec {
  a: SockType;
  b: SockType;
  /** Options for side a or b, given whether that side binds. */
  opts?: (side: "a" | "b", binds: boolean) => SideOptions;
  run(c: Ctx): Promise<void>;
}

const pubSubFiltering = async ({ t, A: pub, B: sub }: Ctx): Promise<void> => {
  await subscribeVia(sub, "a");
  await publishUntil(pub, sub, ["a", "warm"], (m) => tb(m) === "a:warm", "subscription to a");
  for (const m of [["b", "1"], ["a", "2"], ["bb", "3"], ["ab", "4"], ["a", "end"]]) await pub.send(m);
  t.same(await collectUntilEnd(sub), ["a:2", "ab:4", "a:end"], "only topics starting with a arrive, in order");

  // Unsubscribe a, subscribe c: both travel on the same connection, so once c flows, a is gone.
  await subscribeVia(sub, "a", false);
  await subscribeVia(sub, "c");
  await publishUntil(pub, sub, ["c", "warm"], (m) => tb(m) === "c:warm", "subscription to c");
  for (const m of [["a", "5"], ["c", "6"], ["a", "7"], ["c", "end"]]) await pub.send(m);
  t.same(await collectUntilEnd(sub), ["c:6", "c:end"], "after unsubscribe(a) only c arrives");
};

const PAIRS: PairSpec[] = [
  {
    a: "REQ",
    b: "REP",
    async run({ t, A: req, B: rep }) {
      const rounds: Frame[][] = [["hello"], ["multi", "", "part", ""], [""], [bytes, "x"]];
      for (const [i, msg] of rounds.entries()) {
        await req.send(msg);
        same(t, await rep.recv(), msg, `request ${i} reaches REP without the envelope`);
        const reply: Frame[] = [`reply ${i}`, "", bytes.subarray(i)];
        await rep.send(reply);
        same(t, await req.recv(), reply, `reply ${i} reaches REQ`);
      }
    },
  },
  {
    a: "REQ",
    b: "ROUTER",
    async run({ t, A: req, B: router }) {
      let first: Buffer | undefined;
      for (let i = 0; i < 3; i++) {
        await req.send([`q${i}`, ""]);
        const [id, delim, ...body] = await router.recv();
        t.ok(id && id.length > 0, `ROUTER prefixes a routing id (${id?.toString("hex")})`);
        t.equal(delim?.length, 0, "then the empty delimiter REQ added");
        same(t, body, [`q${i}`, ""], `request ${i} body`);
        if (first) t.ok(first.equals(id!), "the same routing id each time");
        first ??= id;
        await router.send([id!, "", `a${i}`, "more"]);
        same(t, await req.recv(), [`a${i}`, "more"], `reply ${i} reaches REQ without the envelope`);
      }
    },
  },
  {
    a: "DEALER",
    b: "REP",
    async run({ t, A: dealer, B: rep }) {
      for (let i = 0; i < 3; i++) {
        await dealer.send(["", `q${i}`, "", "tail"]);
        same(t, await rep.recv(), [`q${i}`, "", "tail"], `request ${i}: REP strips up to the first empty frame`);
        await rep.send([`a${i}`]);
        same(t, await dealer.recv(), ["", `a${i}`], `reply ${i} comes back with the empty delimiter`);
      }
    },
  },
  {
    a: "DEALER",
    b: "DEALER",
    async run({ t, A, B }) {
      const ab: Frame[][] = [["a->b 0", ""], ["a->b 1"], [bytes, "", "x"]];
      for (const m of ab) await A.send(m);
      for (const [i, m] of ab.entries()) same(t, await B.recv(), m, `a->b message ${i}`);
      const ba: Frame[][] = [["b->a 0"], ["", "b->a 1", ""]];
      for (const m of ba) await B.send(m);
      for (const [i, m] of ba.entries()) same(t, await A.recv(), m, `b->a message ${i}`);
    },
  },
  {
    a: "DEALER",
    b: "ROUTER",
    opts: (side) => (side === "a" ? { routingId: "dealer-1" } : {}),
    async run({ t, A: dealer, B: router }) {
      await dealer.send(["up", ""]);
      same(t, await router.recv(), ["dealer-1", "up", ""], "ROUTER sees the DEALER's routing id");
      await router.send(["dealer-1", "down", bytes]);
      same(t, await dealer.recv(), ["down", bytes], "ROUTER -> DEALER by routing id");
    },
  },
  {
    a: "ROUTER",
    b: "ROUTER",
    // The binding ROUTER has a fixed routing id; the connecting one names it with a connect
    // routing id so it can speak first, and has a fixed id itself so the reply can come back.
    opts: (_side, binds) =>
      binds ? { routingId: "rr-bound" } : { routingId: "rr-connecting", connectRoutingId: "rr-bound", mandatory: true },
    async run({ t, A, B, aBinds }) {
      const [bound, connecting] = aBinds ? [A, B] : [B, A];
      // mandatory on the connecting side turns a would-be silent drop into EHOSTUNREACH.
      let retries = 0;
      for (;;) {
        try {
          await connecting.send(["rr-bound", "hello", ""]);
          break;
        } catch (err) {
          if ((err as { code?: string }).code !== "EHOSTUNREACH" || retries++ > 200) throw err;
          await sleep(20);
        }
      }
      if (retries > 0) t.comment(`${connecting.impl} ROUTER: EHOSTUNREACH ${retries} times before the route to rr-bound existed`);
      same(t, await bound.recv(), ["rr-connecting", "hello", ""], "bound ROUTER receives from rr-connecting");
      await bound.send(["rr-connecting", "world"]);
      same(t, await connecting.recv(), ["rr-bound", "world"], "connecting ROUTER receives the reply from rr-bound");
    },
  },
  { a: "PUB", b: "SUB", run: pubSubFiltering },
  { a: "PUB", b: "XSUB", run: pubSubFiltering },
  {
    a: "XPUB",
    b: "XSUB",
    async run({ t, A: xpub, B: xsub }) {
      // A bound libzmq XSUB drops what is sent while it has no peer, subscriptions included (it
      // does not resend them to a peer that arrives later; emq's XSUB does): so first make sure
      // the connection is up, with a plain message upstream, which XPUB passes to the application.
      await sendUntil(xsub, xpub, ["ping"], (m) => tb(m) === "ping", "XSUB -> XPUB data message");
      await xsub.send(["\x01a"]);
      same(t, await recvSkipping(xpub, "ping"), ["\x01a"], "XPUB receives the subscription as \\x01a");
      for (const m of [["a", "1"], ["b", "2"], ["a", "end"]]) await xpub.send(m);
      t.same(await collectUntilEnd(xsub), ["a:1", "a:end"], "XPUB sends only what matches");

      await xsub.send(["\x00a"]);
      same(t, await xpub.recv(), ["\x00a"], "XPUB receives the unsubscribe as \\x00a");
      await xsub.send(["\x01z"]);
      same(t, await xpub.recv(), ["\x01z"], "and the next subscription");
      for (const m of [["a", "3"], ["z", "end"]]) await xpub.send(m);
      t.same(await collectUntilEnd(xsub), ["z:end"], "nothing for a after its unsubscribe");
    },
  },
  {
    a: "PUSH",
    b: "PULL",
    async run({ t, A: push, B: pull }) {
      const N = 50;
      const msg = (i: number): Frame[] => [String(i), bytes.subarray(0, (i * 37) % 257)];
      for (let i = 0; i < N; i++) await push.send(msg(i));
      let bad = -1;
      for (let i = 0; i < N; i++) {
        const got = await pull.recv();
        if (bad < 0 && text(got).join("|") !== text(msg(i)).join("|")) bad = i;
      }
      t.equal(bad, -1, `${N} messages arrive intact and in order`);
    },
  },
  {
    a: "PAIR",
    b: "PAIR",
    async run({ t, A, B }) {
      const ab: Frame[][] = [["one"], ["two", "", bytes], [""]];
      for (const m of ab) await A.send(m);
      for (const [i, m] of ab.entries()) same(t, await B.recv(), m, `a->b message ${i}`);
      for (const m of ab) await B.send(m);
      for (const [i, m] of ab.entries()) same(t, await A.recv(), m, `b->a message ${i}`);
    },
  },
];

const role = (binds: boolean) => (binds ? "bind" : "connect");

for (const spec of PAIRS) {
  for (const [ia, ib] of PAIRINGS) {
    for (const aBinds of [true, false]) {
      const name = `${spec.a}-${spec.b} ${ia}(${role(aBinds)})<->${ib}(${role(!aBinds)})`;
      row(name, [ia, ib], async (t, s) => {
        const optsA = spec.opts?.("a", aBinds) ?? {};
        const optsB = spec.opts?.("b", !aBinds) ?? {};
        let A: Driver;
        let B: Driver;
        if (aBinds) {
          A = await s.open(ia, spec.a, { bind: LOCAL }, optsA);
          B = await s.open(ib, spec.b, { connect: A.endpoint }, optsB);
        } else {
          B = await s.open(ib, spec.b, { bind: LOCAL }, optsB);
          A = await s.open(ia, spec.a, { connect: B.endpoint }, optsA);
        }
        await spec.run({ t, A, B, aBinds });
      });
    }
  }
}

// ---- a publisher restarts on the same port -----------------------------------------------------

/** Binds `address` (a port just released), retrying while the OS still holds it (bounded). */
async function rebind(s: ReturnType<typeof sides>, impl: Impl, type: SockType, address: string, opts?: SideOptions): Promise<Driver> {
  const deadline = Date.now() + WAIT;
  for (;;) {
    try {
      return await s.open(impl, type, { bind: address }, opts);
    } catch (err) {
      if (Date.now() > deadline) throw err;
      await sleep(50);
    }
  }
}

for (const [ip, is] of PAIRINGS) {
  row(`restart PUB-SUB ${ip}(bind)<->${is}(connect): the subscriber resubscribes to the new publisher`, [ip, is], async (t, s) => {
    const first = await s.open(ip, "PUB", { bind: LOCAL });
    const address = first.endpoint;
    const sub = await s.open(is, "SUB", { connect: address }, { reconnectInterval: 50 });
    await sub.subscribe("news");
    await publishUntil(first, sub, ["news", "first"], (m) => tb(m) === "news:first", "first publisher");
    t.pass("received from the first publisher");

    await first.stop(); // the process exits (libzmq) or the socket closes (emq): the port is released
    const second = await rebind(s, ip, "PUB", address);
    t.equal(second.endpoint, address, "the new publisher is bound on the same port");
    await publishUntil(second, sub, ["news", "second"], (m) => tb(m) === "news:second", "second publisher");
    t.pass("received from the new publisher after the restart");
    for (const m of [["other", "x"], ["news", "end"]]) await second.send(m);
    const rest = (await collectUntilEnd(sub)).filter((x) => x !== "news:second");
    t.same(rest, ["news:end"], "the resent subscription still filters (no 'other')");
  });
}

// ---- high-water marks ---------------------------------------------------------------------------

const HWM = 10;
const BIG = 64 * 1024; // big messages fill the kernel's socket buffers (MBs on loopback) quickly
const FLOOD = 1000; // 64 MiB offered: far more than HWMs + kernel buffers can hold
const ROLES: [boolean, boolean][] = [
  [true, false],
  [false, true],
];

/** Opens a sender/receiver pair with the given roles; the receiver does not read until asked. */
async function hwmPair(
  s: ReturnType<typeof sides>,
  [is, ir]: [Impl, Impl],
  [st, rt]: [SockType, SockType],
  senderBinds: boolean,
  sOpts: SideOptions,
  rOpts: SideOptions,
): Promise<[Driver, Driver]> {
  const so = { sendHighWaterMark: HWM, receiveHighWaterMark: HWM, ...sOpts };
  const ro = { sendHighWaterMark: HWM, receiveHighWaterMark: HWM, ...rOpts };
  if (senderBinds) {
    const snd = await s.open(is, st, { bind: LOCAL }, so);
    return [snd, await s.open(ir, rt, { connect: snd.endpoint }, ro)];
  }
  const rcv = await s.open(ir, rt, { bind: LOCAL }, ro);
  return [await s.open(is, st, { connect: rcv.endpoint }, so), rcv];
}

for (const [ip, is] of PAIRINGS) {
  for (const [pb, sb] of ROLES) {
    row(`HWM PUB-SUB ${ip}(${role(pb)})<->${is}(${role(sb)}): PUB drops for a stalled subscriber and never blocks`, [ip, is], async (t, s) => {
      const [pub, sub] = await hwmPair(s, [ip, is], ["PUB", "SUB"], pb, {}, {});
      await sub.subscribe("");
      await publishUntil(pub, sub, ["w", "warm"], (m) => tb(m) === "w:warm", "subscription");
      const r = await pub.fill(["d"], { size: BIG, max: FLOOD, stall: 1000 });
      t.notOk(r.blocked, `no send waited (${r.sent} sent in ${r.ms} ms)`);
      t.equal(r.sent, FLOOD, `all ${FLOOD} sends completed`);
      const got = counters(await sub.drain(500));
      t.ok(got.length > 0 && got.length < FLOOD, `the stalled subscriber got some but not all: ${got.length} of ${FLOOD}`);
      t.ok(increasing(got), "what arrived is in order (drops leave gaps, nothing repeats)");
      await pub.send(["t", "tail"]);
      same(t, await sub.recv(), ["t", "tail"], "once drained, the next message arrives");
    });
  }
}

// The types whose send waits (blocks) at the HWM instead of dropping.
const WAITERS: [SockType, SockType][] = [
  ["PUSH", "PULL"],
  ["DEALER", "DEALER"],
  ["PAIR", "PAIR"],
];

for (const [st, rt] of WAITERS) {
  for (const [is, ir] of PAIRINGS) {
    for (const [sb, rb] of ROLES) {
      row(`HWM ${st}-${rt} ${is}(${role(sb)})<->${ir}(${role(rb)}): ${st} waits at the HWM and loses nothing`, [is, ir], async (t, s) => {
        const [snd, rcv] = await hwmPair(s, [is, ir], [st, rt], sb, {}, {});
        await snd.send(["warm"]);
        same(t, await rcv.recv(), ["warm"], "connected");
        const r = await snd.fill([], { size: BIG, max: FLOOD, stall: 500 });
        t.ok(r.blocked, `a send waited once the peer stopped reading (after ${r.sent} messages)`);
        const got = await rcv.drain(500, r.sent + 1);
        t.same(counters(got), range(r.sent), `all ${r.sent} accepted messages arrive, in order`);
        t.equal(got.length, r.sent, "and nothing else (the abandoned send was not sent)");
        await snd.send(["after"]);
        same(t, await rcv.recv(), ["after"], `${st} sends again once the peer reads`);
      });
    }
  }
}

for (const [ir, id] of PAIRINGS) {
  for (const [rb, db] of ROLES) {
    const roles = `${ir}(${role(rb)})<->${id}(${role(db)})`;
    for (const mandatory of [false, true]) {
      const what = mandatory ? "with mandatory, unknown ids reject EHOSTUNREACH" : "drops messages to an unknown id";
      row(`ROUTER-DEALER ${roles}: ROUTER ${what}`, [ir, id], async (t, s) => {
        const [router, dealer] = await hwmPair(s, [ir, id], ["ROUTER", "DEALER"], rb, { mandatory }, { routingId: "known" });
        await dealer.send(["hi"]);
        same(t, await router.recv(), ["known", "hi"], "the DEALER is known");
        if (mandatory) {
          const err = await router.send(["nobody", "x"]).then(
            () => undefined,
            (e: { code?: string }) => e,
          );
          t.equal(err?.code, "EHOSTUNREACH", `send to an unknown id rejects EHOSTUNREACH (${String(err)})`);
        } else {
          await router.send(["nobody", "lost"]);
          t.pass("send to an unknown id completes without error");
        }
        await router.send(["known", "found"]);
        same(t, await dealer.recv(), ["found"], "the DEALER's next message is the one addressed to it");
      });
    }

    row(`HWM ROUTER-DEALER ${roles}: ROUTER drops for a full peer`, [ir, id], async (t, s) => {
      const [router, dealer] = await hwmPair(s, [ir, id], ["ROUTER", "DEALER"], rb, {}, { routingId: "known" });
      await dealer.send(["hi"]);
      await router.recv();
      const r = await router.fill(["known"], { size: BIG, max: FLOOD, stall: 1000 });
      t.notOk(r.blocked, `no send waited (${r.sent} sent in ${r.ms} ms)`);
      const got = counters(await dealer.drain(500));
      t.ok(got.length > 0 && got.length < FLOOD, `the stalled DEALER got some but not all: ${got.length} of ${FLOOD}`);
      t.ok(increasing(got), "what arrived is in order");
    });

    row(`HWM ROUTER-DEALER ${roles}: ROUTER with mandatory waits for a full peer`, [ir, id], async (t, s) => {
      const [router, dealer] = await hwmPair(s, [ir, id], ["ROUTER", "DEALER"], rb, { mandatory: true }, { routingId: "known" });
      await dealer.send(["hi"]);
      await router.recv();
      const r = await router.fill(["known"], { size: BIG, max: FLOOD, stall: 500 });
      t.ok(r.blocked, `a send waited once the peer stopped reading (after ${r.sent} messages)`);
      const got = await dealer.drain(500, r.sent + 1);
      t.same(counters(got), range(r.sent), `all ${r.sent} accepted messages arrive, in order`);
    });
  }
}

// ---- linger -------------------------------------------------------------------------------------

// PUSH, and DEALER as the same kind of sender with a different class.
const LINGERERS: [SockType, SockType][] = [
  ["PUSH", "PULL"],
  ["DEALER", "DEALER"],
];

for (const [st, rt] of LINGERERS) {
  for (const [is, ir] of PAIRINGS) {
    for (const [sb, rb] of ROLES) {
      const when = sb ? "after the handshake" : "right after connect(), before the handshake";
      const name = `linger ${st}-${rt} ${is}(${role(sb)})<->${ir}(${role(rb)}): messages sent ${when} just before close() all arrive`;
      row(name, [is, ir], async (t, s) => {
        // 12.5 MiB, sent in a tight loop while the receiver does not read: more than the kernel's
        // socket buffers take, so most of it is still queued in the sender when close() is called.
        const N = 200;
        let snd: Driver;
        let rcv: Driver;
        if (sb) {
          snd = await s.open(is, st, { bind: LOCAL }, { linger: 5000 });
          rcv = await s.open(ir, rt, { connect: snd.endpoint });
          await snd.send(["warm"]);
          same(t, await rcv.recv(), ["warm"], "connected");
        } else {
          rcv = await s.open(ir, rt, { bind: LOCAL });
          snd = await s.open(is, st, { connect: rcv.endpoint }, { linger: 5000 });
        }
        const r = await snd.fill([], { size: BIG, max: N, stall: 2000 });
        t.same(r, { sent: N, blocked: false, ms: r.ms }, `${N} messages queued without waiting (below the HWM)`);
        await snd.close();
        const got = await rcv.drain(3000, N);
        t.same(counters(got), range(N), `all ${N} messages (${(N * BIG) >> 20} MiB) arrive in order after close()`);
      });
    }
  }
}
