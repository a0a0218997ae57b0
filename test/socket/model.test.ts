// Model-based tests (fast-check commands) of the routing strategies over real sockets, on
// tcp://127.0.0.1 and inproc://: round robin out (PUSH, DEALER), fair queueing in (PULL, DEALER),
// ROUTER addressing, high-water marks (PUSH waits and loses nothing; PUB drops, in order), SUB's
// counted subscriptions as the publisher applies them, and REQ's strict turn with replies matched
// to requests. Each run drives the real sockets with a random command sequence and checks them
// against a small model after every step. Each step first waits for the state it depends on
// (handshakes, arrivals, subscriptions reaching the publisher) with bounded waits, so the model is
// exact rather than timing-dependent.
//
// The last test runs four of the properties against deliberately broken subclasses (a sticky
// round robin, a PULL that drops messages, one that starves peers, a PUSH without a HWM, a SUB that
// ignores its subscription counts) and asserts that fast-check finds a counterexample: the
// properties can fail.

import t, { type Test as Tap } from "tap";
import fc from "fast-check";
import assert from "node:assert/strict";
import { Buffer } from "node:buffer";
import { Dealer, Publisher, Push, Reply, Request, Router, type Socket } from "../../src/index.js";
import type { Pipe } from "../../src/socket/pipe.js";
import { sleep, until, watch, within } from "./fake-peer.js";
import {
  CountingDealer,
  CountingPull,
  CountingSubscriber,
  FC_LIMITS,
  allArrived,
  RunSockets,
  TRANSPORTS,
  Tracked,
  WAIT,
  bound,
  code,
  expectQueued,
  receiveOrNothing,
  recv,
  strs,
  tick,
  type Counting,
  type Transport,
} from "./model-helpers.js";

const transport = fc.constantFrom(...TRANSPORTS);

// =================================================================================================
// 1. Round robin: PUSH -> PULLs, DEALER -> DEALERs
// =================================================================================================
//
// The sender binds; receivers connect, and a receiver counts as attached once the sender has seen
// its handshake. Model (emq's documented order, see RoundRobinSocket in src/socket/dealer.ts):
// the attached peers form a cycle in attach order, a new peer joins at the end of the cycle, and
// each message goes to the peer whose turn it is, the turn then passing to the next. A peer that
// leaves passes its turn to the one after it. With no peer at all, send() waits, and what waited
// goes to the first peer that attaches. HWMs are never reached here, so every peer always has room.

type RrKind = "push" | "dealer";

interface RrModel {
  peers: { id: number; expect: string[] }[];
  next: number;
  /** Sends waiting for a peer (none attached). */
  waiting: string[];
  sent: number;
  nextPeer: number;
}

interface RrReal {
  sender: Socket;
  ep: string;
  ev: ReturnType<typeof watch>;
  peers: Map<number, Counting>;
  all: Counting[];
  waiting: Tracked[];
  kind: RrKind;
  run: RunSockets;
}

type RrCommand = fc.AsyncCommand<RrModel, RrReal>;

class RrSend implements RrCommand {
  constructor(readonly k: number) {}
  check = () => true;
  async run(m: RrModel, r: RrReal): Promise<void> {
    for (let i = 0; i < this.k; i++) {
      const body = `m${m.sent++}`;
      const p = new Tracked(r.sender.send(body));
      if (m.peers.length === 0) {
        await tick();
        assert.equal(p.state, "pending", `send(${body}) waits while no peer is attached`);
        m.waiting.push(body);
        r.waiting.push(p);
        continue;
      }
      await within(p.promise, WAIT, `send(${body})`);
      m.peers[m.next]!.expect.push(body);
      m.next = (m.next + 1) % m.peers.length;
    }
  }
  toString = () => `send(${this.k})`;
}

class RrAddPeer implements RrCommand {
  check = (m: Readonly<RrModel>) => m.peers.length < 5;
  async run(m: RrModel, r: RrReal): Promise<void> {
    const id = m.nextPeer++;
    const peer = r.run.add(r.kind === "push" ? new CountingPull() : new CountingDealer());
    r.peers.set(id, peer);
    r.all.push(peer);
    peer.connect(r.ep);
    await r.ev.wait("handshake", r.all.length, WAIT);
    m.peers.push({ id, expect: [] });
    if (m.peers.length === 1 && m.waiting.length > 0) {
      // Everything that waited goes to this, the only peer; the turn stays with it.
      m.peers[0]!.expect.push(...m.waiting);
      m.waiting = [];
      for (const w of r.waiting.splice(0)) await within(w.promise, WAIT, "a send that waited for a peer");
    }
  }
  toString = () => "addPeer";
}

class RrRemovePeer implements RrCommand {
  constructor(readonly pick: number) {}
  check = (m: Readonly<RrModel>) => m.peers.length > 0;
  async run(m: RrModel, r: RrReal): Promise<void> {
    const idx = this.pick % m.peers.length;
    const { id, expect } = m.peers[idx]!;
    const peer = r.peers.get(id)!;
    await allArrived(r.all, m.sent - m.waiting.length, "everything sent so far");
    await expectQueued(peer, expect, `peer #${id} before it leaves`, 0);
    const gone = r.ev.count("disconnect");
    peer.close();
    r.peers.delete(id);
    await r.ev.wait("disconnect", gone + 1, WAIT);
    m.peers.splice(idx, 1);
    if (m.next > idx) m.next--;
    if (m.next >= m.peers.length) m.next = 0;
  }
  toString = () => `removePeer(${this.pick})`;
}

class RrReceiveAll implements RrCommand {
  check = () => true;
  async run(m: RrModel, r: RrReal): Promise<void> {
    await allArrived(r.all, m.sent - m.waiting.length, "everything sent so far");
    for (const p of m.peers) {
      await expectQueued(r.peers.get(p.id)!, p.expect, `peer #${p.id}`, 0);
      p.expect = [];
    }
  }
  toString = () => "receiveAll";
}

const rrSend = fc.integer({ min: 1, max: 7 }).map((k) => new RrSend(k));
const rrRemove = fc.nat(7).map((i) => new RrRemovePeer(i));
const rrCommands = fc.commands(
  [rrSend, rrSend, rrSend, fc.constant(new RrAddPeer()), rrRemove, rrRemove, fc.constant(new RrReceiveAll())],
  { maxCommands: 16, size: "max" },
);

function roundRobinProperty(makeSender: (kind: RrKind) => Socket, kinds: readonly RrKind[] = ["push", "dealer"]) {
  return fc.asyncProperty(transport, fc.constantFrom(...kinds), fc.nat(4), rrCommands, async (tr, kind, initial, cmds) => {
    const run = new RunSockets();
    try {
      const sender = run.add(makeSender(kind));
      const ep = await bound(sender, tr);
      const real: RrReal = { sender, ep, ev: watch(sender), peers: new Map(), all: [], waiting: [], kind, run };
      const model: RrModel = { peers: [], next: 0, waiting: [], sent: 0, nextPeer: 0 };
      for (let i = 0; i < initial; i++) await new RrAddPeer().run(model, real);
      await fc.asyncModelRun(() => ({ model, real }), cmds);
      // Everything still expected arrives; nothing else arrives anywhere, not even at peers that left.
      await new RrReceiveAll().run(model, real);
      await sleep(20);
      const arrived = real.all.reduce((n, p) => n + p.arrived, 0);
      assert.equal(arrived, model.sent - model.waiting.length, "every message sent arrived exactly once");
    } finally {
      run.closeAll();
    }
  });
}

t.test("model: round robin over the attached peers (PUSH -> PULL, DEALER -> DEALER)", async (t) => {
  await fc.assert(
    roundRobinProperty((kind) => (kind === "push" ? new Push() : new Dealer())),
    { numRuns: 30, ...FC_LIMITS },
  );
  t.pass("30 random command sequences");
});

// =================================================================================================
// 2. Fair queueing in: PULL <- PUSHes, DEALER <- DEALERs
// =================================================================================================
//
// The receiver binds; senders connect. After each batch of sends the test waits until the batch
// has reached the receiver, so the receiver's queues are known exactly. Model (the Socket base's
// `_take`/`_inReady` in src/socket/socket.ts): the peers that have unread messages form a queue in
// the order they got their first unread message; a read takes one message from the peer at the
// front and, if it has more, puts it at the back. So peers with backlogs are served one message
// each in turn (no peer's batch goes before the others'), each peer's own order is kept, and a
// peer that leaves still has what it sent read in its turn. A receive() that waits takes the next
// message that arrives.

type FqKind = "push" | "dealer";

interface FqModel {
  senders: { id: number; seq: number; live: boolean }[];
  queues: Map<number, string[]>;
  /** Peers with unread messages, in the order they will be served. */
  ready: number[];
  arrived: number;
}

interface FqReal {
  receiver: Counting;
  ep: string;
  ev: ReturnType<typeof watch>;
  senders: Map<number, Socket>;
  kind: FqKind;
  run: RunSockets;
}

type FqCommand = fc.AsyncCommand<FqModel, FqReal>;

const liveSenders = (m: Readonly<FqModel>) => m.senders.filter((s) => s.live);
const queued = (m: Readonly<FqModel>) => [...m.queues.values()].reduce((n, q) => n + q.length, 0);

class FqAddSender implements FqCommand {
  check = (m: Readonly<FqModel>) => liveSenders(m).length < 4;
  async run(m: FqModel, r: FqReal): Promise<void> {
    const id = m.senders.length;
    const s = r.run.add(r.kind === "push" ? new Push() : new Dealer());
    r.senders.set(id, s);
    s.connect(r.ep);
    await r.ev.wait("handshake", id + 1, WAIT);
    m.senders.push({ id, seq: 0, live: true });
    m.queues.set(id, []);
  }
  toString = () => "addSender";
}

class FqSend implements FqCommand {
  constructor(
    readonly pick: number,
    readonly k: number,
  ) {}
  check = (m: Readonly<FqModel>) => liveSenders(m).length > 0;
  async run(m: FqModel, r: FqReal): Promise<void> {
    const live = liveSenders(m);
    const s = live[this.pick % live.length]!;
    const q = m.queues.get(s.id)!;
    for (let i = 0; i < this.k; i++) {
      const body = `s${s.id}:${s.seq++}`;
      await within(r.senders.get(s.id)!.send(body), WAIT, `send ${body}`);
      if (q.length === 0) m.ready.push(s.id);
      q.push(body);
    }
    m.arrived += this.k;
    const rv = r.receiver;
    await until(() => rv.arrived >= m.arrived, `${m.arrived} messages at the receiver`, WAIT);
    assert.equal(rv.arrived, m.arrived, "no more messages arrived than were sent");
  }
  toString = () => `send(sender ${this.pick}, ${this.k})`;
}

class FqReceive implements FqCommand {
  constructor(readonly k: number) {}
  check = (m: Readonly<FqModel>) => queued(m) > 0;
  async run(m: FqModel, r: FqReal): Promise<void> {
    const n = Math.min(this.k, queued(m));
    for (let i = 0; i < n; i++) {
      const id = m.ready.shift()!;
      const q = m.queues.get(id)!;
      const want = q.shift()!;
      if (q.length > 0) m.ready.push(id);
      assert.ok(r.receiver.readable, `a message is queued (expecting ${want})`);
      const got = strs(await r.receiver.receive());
      r.receiver.taken++;
      assert.deepEqual(got, [want], `read ${i + 1} of ${n}`);
    }
  }
  toString = () => `receive(${this.k})`;
}

/** receive() with nothing queued waits, and takes the next message that arrives. */
class FqReceiveWaiting implements FqCommand {
  constructor(readonly pick: number) {}
  check = (m: Readonly<FqModel>) => queued(m) === 0 && liveSenders(m).length > 0;
  async run(m: FqModel, r: FqReal): Promise<void> {
    const live = liveSenders(m);
    const s = live[this.pick % live.length]!;
    const p = new Tracked(r.receiver.receive());
    await tick();
    assert.equal(p.state, "pending", "receive() waits while nothing is queued");
    const body = `s${s.id}:${s.seq++}`;
    await within(r.senders.get(s.id)!.send(body), WAIT, `send ${body}`);
    // The model says this message must arrive: its never arriving is a model violation (a lossy
    // strategy shows up this way), not a harness timeout.
    const got = strs(
      (await within(p.promise, WAIT, "the waiting receive()").catch(() => {
        throw new assert.AssertionError({ message: `${body}, sent to a waiting receive(), never arrived` });
      })) as Buffer[],
    );
    r.receiver.taken++;
    m.arrived++;
    assert.deepEqual(got, [body]);
  }
  toString = () => `receiveWaiting(sender ${this.pick})`;
}

/** A sender leaves; what it sent stays readable, in its turn. */
class FqRemoveSender implements FqCommand {
  constructor(readonly pick: number) {}
  check = (m: Readonly<FqModel>) => liveSenders(m).length > 0;
  async run(m: FqModel, r: FqReal): Promise<void> {
    const live = liveSenders(m);
    const s = live[this.pick % live.length]!;
    const gone = r.ev.count("disconnect");
    r.senders.get(s.id)!.close();
    await r.ev.wait("disconnect", gone + 1, WAIT);
    s.live = false;
  }
  toString = () => `removeSender(${this.pick})`;
}

const fqSend = fc.tuple(fc.nat(7), fc.integer({ min: 1, max: 6 })).map(([i, k]) => new FqSend(i, k));
const fqReceive = fc.integer({ min: 1, max: 12 }).map((k) => new FqReceive(k));
const fqCommands = fc.commands(
  [
    fqSend,
    fqSend,
    fqSend,
    fqReceive,
    fqReceive,
    fc.constant(new FqAddSender()),
    fc.nat(7).map((i) => new FqReceiveWaiting(i)),
    fc.nat(7).map((i) => new FqRemoveSender(i)),
  ],
  { maxCommands: 16, size: "max" },
);

function fairQueueProperty(makeReceiver: (kind: FqKind) => Counting, kinds: readonly FqKind[] = ["push", "dealer"]) {
  const initialSenders = fc.integer({ min: 1, max: 3 });
  return fc.asyncProperty(transport, fc.constantFrom(...kinds), initialSenders, fqCommands, async (tr, kind, initial, cmds) => {
    const run = new RunSockets();
    try {
      const receiver = run.add(makeReceiver(kind));
      const ep = await bound(receiver, tr);
      const real: FqReal = { receiver, ep, ev: watch(receiver), senders: new Map(), kind, run };
      const model: FqModel = { senders: [], queues: new Map(), ready: [], arrived: 0 };
      for (let i = 0; i < initial; i++) await new FqAddSender().run(model, real);
      await fc.asyncModelRun(() => ({ model, real }), cmds);
      await new FqReceive(Infinity).run(model, real);
      await sleep(20);
      assert.equal(receiver.arrived, model.arrived, "nothing more arrived");
      assert.ok(!receiver.readable, "nothing left to read");
    } finally {
      run.closeAll();
    }
  });
}

t.test("model: fair queueing from several senders (PULL <- PUSH, DEALER <- DEALER)", async (t) => {
  await fc.assert(
    fairQueueProperty((kind) => (kind === "push" ? new CountingPull() : new CountingDealer())),
    { numRuns: 30, ...FC_LIMITS },
  );
  t.pass("30 random command sequences");
});

// =================================================================================================
// 3. ROUTER addressing
// =================================================================================================
//
// The ROUTER binds; DEALERs with routing ids from a small pool connect and leave (an id may come
// back with a new DEALER). Model: a message sent to an attached id reaches exactly that DEALER,
// in order; one sent to any other id (never used, or gone) reaches nobody: send() resolves
// (dropped) or, with `mandatory`, rejects with EHOSTUNREACH. What a DEALER sends arrives at the
// ROUTER prefixed with that DEALER's id.

const ROUTING_IDS = ["a", "b", "c", "nobody"] as const; // "nobody" never connects
const CONNECTABLE = 3;

interface RtModel {
  mandatory: boolean;
  /** Expected, unread messages of each attached id. */
  live: Map<string, string[]>;
  sent: number;
  delivered: number;
}

interface RtReal {
  router: Router;
  ep: string;
  ev: ReturnType<typeof watch>;
  dealers: Map<string, CountingDealer>;
  all: CountingDealer[];
  run: RunSockets;
}

type RtCommand = fc.AsyncCommand<RtModel, RtReal>;

class RtAddDealer implements RtCommand {
  constructor(readonly id: string) {}
  check = (m: Readonly<RtModel>) => !m.live.has(this.id);
  async run(m: RtModel, r: RtReal): Promise<void> {
    const d = r.run.add(new CountingDealer({ routingId: this.id }));
    r.dealers.set(this.id, d);
    r.all.push(d);
    d.connect(r.ep);
    await r.ev.wait("handshake", r.all.length, WAIT);
    m.live.set(this.id, []);
  }
  toString = () => `addDealer(${this.id})`;
}

class RtRemoveDealer implements RtCommand {
  constructor(readonly id: string) {}
  check = (m: Readonly<RtModel>) => m.live.has(this.id);
  async run(m: RtModel, r: RtReal): Promise<void> {
    const d = r.dealers.get(this.id)!;
    await allArrived(r.all, m.delivered, "everything routed so far");
    await expectQueued(d, m.live.get(this.id)!, `dealer ${this.id} before it leaves`, 0);
    const gone = r.ev.count("disconnect");
    d.close();
    r.dealers.delete(this.id);
    await r.ev.wait("disconnect", gone + 1, WAIT);
    m.live.delete(this.id);
  }
  toString = () => `removeDealer(${this.id})`;
}

class RtRouterSend implements RtCommand {
  constructor(readonly id: string) {}
  check = () => true;
  async run(m: RtModel, r: RtReal): Promise<void> {
    const body = `r${m.sent++}`;
    const result = await within(code(r.router.send([this.id, body])), WAIT, `send to ${this.id}`);
    const q = m.live.get(this.id);
    if (q) {
      assert.equal(result, undefined, `send to attached ${this.id} resolves`);
      q.push(body);
      m.delivered++;
    } else {
      assert.equal(result, m.mandatory ? "EHOSTUNREACH" : undefined, `send to unknown ${this.id} (mandatory ${m.mandatory})`);
    }
  }
  toString = () => `routerSend(${this.id})`;
}

class RtDealerSend implements RtCommand {
  constructor(readonly id: string) {}
  check = (m: Readonly<RtModel>) => m.live.has(this.id);
  async run(m: RtModel, r: RtReal): Promise<void> {
    const body = `d${m.sent++}`;
    await within(r.dealers.get(this.id)!.send(body), WAIT, `dealer ${this.id} send`);
    assert.deepEqual(strs(await recv(r.router, "a message at the ROUTER")), [this.id, body], "prefixed with the sender's id");
  }
  toString = () => `dealerSend(${this.id})`;
}

class RtReceiveAll implements RtCommand {
  check = () => true;
  async run(m: RtModel, r: RtReal): Promise<void> {
    await allArrived(r.all, m.delivered, "everything routed so far");
    for (const [id, q] of m.live) {
      await expectQueued(r.dealers.get(id)!, q, `dealer ${id}`, 0);
      q.length = 0;
    }
  }
  toString = () => "receiveAll";
}

const anyId = fc.constantFrom(...ROUTING_IDS);
const dealerId = fc.constantFrom(...ROUTING_IDS.slice(0, CONNECTABLE));
const rtCommands = fc.commands(
  [
    dealerId.map((id) => new RtAddDealer(id)),
    dealerId.map((id) => new RtRemoveDealer(id)),
    anyId.map((id) => new RtRouterSend(id)),
    anyId.map((id) => new RtRouterSend(id)), // twice the weight: sends are what is under test
    dealerId.map((id) => new RtDealerSend(id)),
    fc.constant(new RtReceiveAll()),
  ],
  { maxCommands: 20, size: "max" },
);

t.test("model: ROUTER sends to the addressed DEALER only; unknown ids dropped or EHOSTUNREACH", async (t) => {
  await fc.assert(
    fc.asyncProperty(transport, fc.boolean(), fc.nat(CONNECTABLE), rtCommands, async (tr, mandatory, initial, cmds) => {
      const run = new RunSockets();
      try {
        const router = run.add(new Router({ mandatory }));
        const ep = await bound(router, tr);
        const real: RtReal = { router, ep, ev: watch(router), dealers: new Map(), all: [], run };
        const model: RtModel = { mandatory, live: new Map(), sent: 0, delivered: 0 };
        for (const id of ROUTING_IDS.slice(0, initial)) await new RtAddDealer(id).run(model, real);
        await fc.asyncModelRun(() => ({ model, real }), cmds);
        await new RtReceiveAll().run(model, real);
        await sleep(20);
        const arrived = real.all.reduce((n, d) => n + d.arrived, 0);
        assert.equal(arrived, model.delivered, "no message reached a DEALER it was not addressed to");
        assert.ok(!router.readable, "nothing unexpected at the ROUTER");
      } finally {
        run.closeAll();
      }
    }),
    { numRuns: 30, ...FC_LIMITS },
  );
  t.pass("30 random command sequences");
});

// =================================================================================================
// 4. High-water marks: PUSH waits and loses nothing; PUB drops for a slow SUB, in order
// =================================================================================================
//
// A sender with sendHighWaterMark h and a receiver with receiveHighWaterMark r that reads only
// when told to. Over tcp the messages carry 32 KiB of padding so that the OS buffers fill after a
// few hundred of them (with tiny messages they would absorb many thousands).
//
// PUSH -> PULL. Sends are issued without awaiting them. Invariants, checked after every step:
//  - send() promises resolve in the order they were made, and none rejects;
//  - a send() waits only when the pipe's queue is full: while one waits, at least h messages are
//    sent (resolved) but not yet read;
//  - over inproc, at most h + r + 256 are (the link's in-flight limit, INFLIGHT_LIMIT in
//    src/transport/inproc.ts): past that, send() stays pending. (Over tcp the bound is the OS
//    buffers, several MB, so it is not asserted.)
//  - reads return 0, 1, 2, ... : nothing lost, duplicated or reordered. At the end every send()
//    resolves and everything arrives exactly once.

const INPROC_INFLIGHT = 256;
const PAD = Buffer.alloc(32 * 1024, 0x2e);

interface HwModel {
  tr: Transport;
  h: number;
  r: number;
  issued: number;
  received: number;
}

interface HwReal {
  push: Push;
  pull: CountingPull;
  sends: Tracked[];
}

type HwCommand = fc.AsyncCommand<HwModel, HwReal>;

const payload = (tr: Transport, head: string): (string | Buffer)[] => (tr === "tcp" ? [head, PAD] : [head]);

async function hwInvariants(m: HwModel, r: HwReal): Promise<void> {
  await tick();
  let resolved = 0;
  while (resolved < r.sends.length && r.sends[resolved]!.state === "resolved") resolved++;
  for (let i = resolved; i < r.sends.length; i++) {
    const s = r.sends[i]!;
    assert.equal(s.state, "pending", `send #${i} settles after #${resolved} (in order, no rejection: ${String(s.error)})`);
  }
  const buffered = resolved - m.received;
  if (resolved < m.issued) {
    assert.ok(buffered >= m.h, `send #${resolved} waits with only ${buffered} message(s) unread (h=${m.h})`);
  }
  if (m.tr === "inproc") {
    const bound = m.h + m.r + INPROC_INFLIGHT;
    assert.ok(buffered <= bound, `${buffered} messages accepted but unread, more than h + r + in-flight = ${bound}`);
  }
}

class HwSend implements HwCommand {
  constructor(readonly k: number) {}
  check = (m: Readonly<HwModel>) => m.issued - m.received < 600;
  async run(m: HwModel, r: HwReal): Promise<void> {
    for (let i = 0; i < this.k; i++) r.sends.push(new Tracked(r.push.send(payload(m.tr, String(m.issued++)))));
    await hwInvariants(m, r);
  }
  toString = () => `send(${this.k})`;
}

class HwRead implements HwCommand {
  constructor(readonly k: number) {}
  check = (m: Readonly<HwModel>) => m.issued > m.received;
  async run(m: HwModel, r: HwReal): Promise<void> {
    const n = Math.min(this.k, m.issued - m.received);
    for (let i = 0; i < n; i++) {
      const msg = await recv(r.pull, `message ${m.received}`);
      r.pull.taken++;
      assert.equal(msg[0]!.toString(), String(m.received), "messages arrive in order, none lost or repeated");
      m.received++;
    }
    await hwInvariants(m, r);
  }
  toString = () => `read(${this.k})`;
}

/** Lets the queues settle (nothing is read); the invariants must still hold. */
class HwSettle implements HwCommand {
  check = () => true;
  async run(m: HwModel, r: HwReal): Promise<void> {
    await sleep(15);
    await hwInvariants(m, r);
  }
  toString = () => "settle";
}

const burst = fc.oneof(
  { weight: 4, arbitrary: fc.integer({ min: 1, max: 40 }) },
  { weight: 1, arbitrary: fc.integer({ min: 250, max: 400 }) }, // past h + r + 256 at once, or in two
);

const hwCommands = fc.commands(
  [burst.map((k) => new HwSend(k)), fc.integer({ min: 1, max: 60 }).map((k) => new HwRead(k)), fc.constant(new HwSettle())],
  { maxCommands: 10, size: "max" },
);

const hwm = fc.integer({ min: 1, max: 16 });

function pushHwmProperty(makePush: (h: number) => Push, transports: readonly Transport[] = TRANSPORTS) {
  return fc.asyncProperty(fc.constantFrom(...transports), hwm, hwm, hwCommands, async (tr, h, rh, cmds) => {
    const run = new RunSockets();
    try {
      const pull = run.add(new CountingPull({ receiveHighWaterMark: rh }));
      const ep = await bound(pull, tr);
      const push = run.add(makePush(h));
      const ev = watch(push);
      push.connect(ep);
      await ev.wait("handshake", 1, WAIT);
      const real: HwReal = { push, pull, sends: [] };
      const model: HwModel = { tr, h, r: rh, issued: 0, received: 0 };
      await fc.asyncModelRun(() => ({ model, real }), cmds);
      await new HwRead(Infinity).run(model, real);
      await within(Promise.all(real.sends.map((s) => s.promise)), WAIT, "every send() to resolve");
      await sleep(20);
      assert.equal(pull.arrived, model.issued, "nothing more arrived");
      assert.ok(!pull.readable);
    } finally {
      run.closeAll();
    }
  });
}

t.test("model: PUSH at its HWM waits and loses nothing; reads return everything once, in order", async (t) => {
  await fc.assert(
    pushHwmProperty((h) => new Push({ sendHighWaterMark: h })),
    { numRuns: 25, ...FC_LIMITS },
  );
  t.pass("25 random command sequences");
});

// PUB -> SUB (subscribed to everything). Every send() resolves at once (PUB never waits); reads are
// interleaved with bursts of publishes. "drain" reads until a probe published after everything
// else has arrived (retrying the probe, which may itself be dropped), so afterwards the PUB's queue
// for this SUB is empty. Invariants:
//  - the data messages received are a subsequence of those published: increasing, no duplicates;
//  - a burst published right after a drain loses none of its first min(k, h) messages (a message
//    is dropped only when the pipe's queue is full, and it starts empty);
//  - over inproc, at most h + 256 messages of any burst are delivered (the queue plus the link's
//    in-flight limit; a burst is published synchronously, so nothing drains meanwhile): the rest
//    are dropped rather than buffered.

interface PsBurst {
  start: number;
  k: number;
  afterDrain: boolean;
}

interface PsModel {
  tr: Transport;
  h: number;
  published: number;
  bursts: PsBurst[];
  /** Bursts not yet checked (published since the last drain). */
  unchecked: PsBurst[];
  afterDrain: boolean;
  probes: number;
}

interface PsReal {
  pub: Publisher;
  sub: CountingSubscriber;
  got: number[];
}

type PsCommand = fc.AsyncCommand<PsModel, PsReal>;

const PROBE = "\x7fprobe-";

/** Records one received message; returns the probe number if it is a probe. */
function psTake(m: PsModel, r: PsReal, msg: Buffer[]): number | undefined {
  r.sub.taken++;
  const head = msg[0]!.toString("latin1");
  if (head.startsWith(PROBE)) return Number(head.slice(PROBE.length));
  assert.ok(head.startsWith("d"), `a data message: ${JSON.stringify(head)}`);
  const id = Number(head.slice(1));
  const last = r.got.length > 0 ? r.got[r.got.length - 1]! : -1;
  assert.ok(id > last && id < m.published, `message d${id} after d${last}: in order, no duplicate, was published`);
  r.got.push(id);
  return undefined;
}

class PsPublish implements PsCommand {
  constructor(readonly k: number) {}
  check = () => true;
  async run(m: PsModel, r: PsReal): Promise<void> {
    const b: PsBurst = { start: m.published, k: this.k, afterDrain: m.afterDrain };
    const sends: Tracked[] = [];
    for (let i = 0; i < this.k; i++) sends.push(new Tracked(r.pub.send(payload(m.tr, `d${m.published++}`))));
    await tick();
    assert.ok(
      sends.every((s) => s.state === "resolved"),
      "PUB send() never waits",
    );
    m.bursts.push(b);
    m.unchecked.push(b);
    m.afterDrain = false;
  }
  toString = () => `publish(${this.k})`;
}

/** Reads what is already queued, up to k messages. */
class PsRead implements PsCommand {
  constructor(readonly k: number) {}
  check = () => true;
  async run(m: PsModel, r: PsReal): Promise<void> {
    for (let i = 0; i < this.k && r.sub.readable; i++) psTake(m, r, await r.sub.receive());
  }
  toString = () => `read(${this.k})`;
}

class PsDrain implements PsCommand {
  check = () => true;
  async run(m: PsModel, r: PsReal): Promise<void> {
    const deadline = Date.now() + WAIT;
    let latest = ++m.probes;
    await r.pub.send(PROBE + latest);
    for (;;) {
      const msg = await receiveOrNothing(r.sub, 10);
      if (msg === undefined) {
        if (Date.now() > deadline) throw new Error("drain: no probe got through");
        latest = ++m.probes; // the last probe was dropped (queue full) or is slow: publish another
        await r.pub.send(PROBE + latest);
        continue;
      }
      if (psTake(m, r, msg) === latest) break;
    }
    m.afterDrain = true;
    // Everything published before the probe has arrived or was dropped: check the bursts.
    const have = new Set(r.got);
    for (const b of m.unchecked) {
      const ids = Array.from({ length: b.k }, (_, i) => b.start + i);
      const delivered = ids.filter((id) => have.has(id)).length;
      if (b.afterDrain) {
        const first = ids.slice(0, Math.min(b.k, m.h));
        assert.ok(
          first.every((id) => have.has(id)),
          `burst of ${b.k} after a drain: its first ${first.length} (h=${m.h}) all delivered (got ${delivered})`,
        );
      }
      if (m.tr === "inproc") {
        assert.ok(delivered <= m.h + INPROC_INFLIGHT, `burst of ${b.k}: ${delivered} delivered, at most h + in-flight`);
      }
    }
    m.unchecked = [];
  }
  toString = () => "drain";
}

const psCommands = fc.commands(
  [
    burst.map((k) => new PsPublish(k)),
    fc.integer({ min: 1, max: 60 }).map((k) => new PsRead(k)),
    fc.constant(new PsDrain()),
  ],
  { maxCommands: 10, size: "max" },
);

t.test("model: PUB drops for a slow SUB; what arrives is in order, without duplicates", async (t) => {
  let drops = 0;
  await fc.assert(
    fc.asyncProperty(transport, hwm, hwm, psCommands, async (tr, h, rh, cmds) => {
      const run = new RunSockets();
      try {
        const pub = run.add(new Publisher({ sendHighWaterMark: h }));
        const ep = await bound(pub, tr);
        const sub = run.add(new CountingSubscriber({ receiveHighWaterMark: rh }));
        sub.subscribe("");
        sub.connect(ep);
        const real: PsReal = { pub, sub, got: [] };
        const model: PsModel = { tr, h, published: 0, bursts: [], unchecked: [], afterDrain: true, probes: 0 };
        await new PsDrain().run(model, real); // the subscription has reached the PUB
        await fc.asyncModelRun(() => ({ model, real }), cmds);
        await new PsDrain().run(model, real);
        await sleep(20);
        assert.ok(!sub.readable, "nothing after the last probe");
        drops += model.published - real.got.length;
      } finally {
        run.closeAll();
      }
    }),
    { numRuns: 25, ...FC_LIMITS },
  );
  t.ok(drops > 0, `over all runs, ${drops} messages were dropped for the slow SUB (the HWM was reached)`);
});

// =================================================================================================
// 5. Subscriptions: SUB counts them, the PUB filters by prefix
// =================================================================================================
//
// One PUB, two SUBs. Commands subscribe and unsubscribe (repeats included: a SUB counts them, and
// a topic stays subscribed until it has been unsubscribed as often) and publish messages whose
// first frame is a topic from an overlapping set plus a suffix. Model: a SUB receives exactly the
// messages published while some topic with a positive count is a prefix of their first frame.
//
// Subscriptions travel to the PUB asynchronously, and the SUB filters again on arrival (so a
// message in flight when its topic is unsubscribed is dropped, as in libzmq). So before and after
// each change the test synchronises: it subscribes the SUB to a fresh sync topic and publishes on
// it until one arrives. Commands on one connection are handled in order, so by then the PUB has
// applied the change; and data on one connection is delivered in order, so everything published
// before has arrived. That is also when the messages the SUB received are compared with the
// model. (Sync topics start with 0x7f, which no data topic does; stray copies are skipped.)

const TOPICS = ["a", "ab", "abc", "b"] as const;
const SUFFIXES = ["", "c", "x"] as const;
const SYNC = "\x7fsync-";

interface SbModel {
  counts: Map<string, number>[];
  expect: string[][];
  published: number;
  syncs: number;
}

interface SbReal {
  pub: Publisher;
  subs: CountingSubscriber[];
  got: string[][];
}

type SbCommand = fc.AsyncCommand<SbModel, SbReal>;

/** Brings SUB `i` and the PUB in step, then compares what it received with the model. */
async function sbSync(m: SbModel, r: SbReal, i: number): Promise<void> {
  const sub = r.subs[i]!;
  const topic = `${SYNC}${++m.syncs}.`;
  sub.subscribe(topic);
  const deadline = Date.now() + WAIT;
  await r.pub.send(topic);
  for (;;) {
    const msg = await receiveOrNothing(sub, 3);
    if (msg === undefined) {
      if (Date.now() > deadline) throw new Error(`sub ${i}: the sync topic never arrived`);
      await r.pub.send(topic); // not subscribed at the PUB yet: again
      continue;
    }
    sub.taken++;
    const head = msg[0]!.toString("latin1");
    if (head === topic) break;
    if (!head.startsWith(SYNC)) r.got[i]!.push(`${head}|${msg[1]?.toString("latin1")}`);
  }
  sub.unsubscribe(topic); // its stray copies, if any, are skipped; no data topic can match it
  const held = JSON.stringify([...m.counts[i]!]);
  assert.deepEqual(r.got[i], m.expect[i], `sub ${i} received exactly the matching messages (subscriptions ${held})`);
  r.got[i] = [];
  m.expect[i] = [];
}

/** subscribe() `times` times in a row (the repeats are what the counts are for). */
class SbSubscribe implements SbCommand {
  constructor(
    readonly i: number,
    readonly topic: string,
    readonly times: number,
  ) {}
  check = () => true;
  async run(m: SbModel, r: SbReal): Promise<void> {
    await sbSync(m, r, this.i); // what is in flight arrives under the old subscriptions
    const c = m.counts[this.i]!;
    for (let k = 0; k < this.times; k++) {
      r.subs[this.i]!.subscribe(this.topic);
      c.set(this.topic, (c.get(this.topic) ?? 0) + 1);
    }
    await sbSync(m, r, this.i);
  }
  toString = () => `sub${this.i}.subscribe(${JSON.stringify(this.topic)}) x${this.times}`;
}

/** unsubscribe() of `which`, or (given a number) of one of the topics the SUB holds. */
class SbUnsubscribe implements SbCommand {
  private topic: string | undefined;
  constructor(
    readonly i: number,
    readonly which: string | number,
  ) {}
  check = (m: Readonly<SbModel>) => typeof this.which === "string" || m.counts[this.i]!.size > 0;
  async run(m: SbModel, r: SbReal): Promise<void> {
    const c = m.counts[this.i]!;
    const held = [...c.keys()];
    const topic = typeof this.which === "string" ? this.which : held[this.which % held.length]!;
    this.topic = topic;
    await sbSync(m, r, this.i); // what is in flight arrives under the old subscriptions
    r.subs[this.i]!.unsubscribe(topic);
    const n = c.get(topic) ?? 0;
    if (n > 1) c.set(topic, n - 1);
    else c.delete(topic); // unsubscribing what is not subscribed changes nothing
    await sbSync(m, r, this.i);
  }
  toString = () => `sub${this.i}.unsubscribe(${JSON.stringify(this.topic ?? this.which)})`;
}

class SbPublish implements SbCommand {
  constructor(readonly head: string) {}
  check = () => true;
  async run(m: SbModel, r: SbReal): Promise<void> {
    const body = String(m.published++);
    await within(r.pub.send([this.head, body]), WAIT, "publish");
    m.counts.forEach((c, i) => {
      if ([...c.keys()].some((topic) => this.head.startsWith(topic))) m.expect[i]!.push(`${this.head}|${body}`);
    });
  }
  toString = () => `publish(${JSON.stringify(this.head)})`;
}

class SbCheck implements SbCommand {
  check = () => true;
  async run(m: SbModel, r: SbReal): Promise<void> {
    for (let i = 0; i < r.subs.length; i++) await sbSync(m, r, i);
  }
  toString = () => "check";
}

// The empty topic (everything) is rarer: while it is held, every message matches.
const topicArb = fc.oneof({ weight: 8, arbitrary: fc.constantFrom(...TOPICS) }, { weight: 1, arbitrary: fc.constant("") });
const subIdx = fc.constantFrom(0, 1);
const head = fc.tuple(topicArb, fc.constantFrom(...SUFFIXES)).map(([tp, sfx]) => tp + sfx);
const sbCommands = fc.commands(
  [
    fc.tuple(subIdx, topicArb, fc.integer({ min: 1, max: 3 })).map(([i, tp, n]) => new SbSubscribe(i, tp, n)),
    fc.tuple(subIdx, topicArb).map(([i, tp]) => new SbUnsubscribe(i, tp)),
    fc.tuple(subIdx, fc.nat(7)).map(([i, k]) => new SbUnsubscribe(i, k)), // one that is held
    head.map((h) => new SbPublish(h)),
    head.map((h) => new SbPublish(h)),
    fc.constant(new SbCheck()),
  ],
  { maxCommands: 24, size: "max" },
);

function subscriptionProperty(makeSub: () => CountingSubscriber) {
  return fc.asyncProperty(transport, sbCommands, async (tr, cmds) => {
    const run = new RunSockets();
    try {
      const pub = run.add(new Publisher());
      const ep = await bound(pub, tr);
      const subs = [0, 1].map(() => run.add(makeSub()));
      for (const s of subs) s.connect(ep);
      const real: SbReal = { pub, subs, got: [[], []] };
      const model: SbModel = { counts: [new Map(), new Map()], expect: [[], []], published: 0, syncs: 0 };
      await new SbCheck().run(model, real); // both attached
      await fc.asyncModelRun(() => ({ model, real }), cmds);
      await new SbCheck().run(model, real);
    } finally {
      run.closeAll();
    }
  });
}

t.test("model: SUB receives exactly what matches its counted subscriptions", async (t) => {
  await fc.assert(subscriptionProperty(() => new CountingSubscriber()), { numRuns: 30, ...FC_LIMITS });
  t.pass("30 random command sequences");
});

// =================================================================================================
// 6. REQ/REP: the strict turn, and replies matched to requests
// =================================================================================================
//
// A REQ connected to one or two echo REPs; commands call send() and receive() in any order. Model:
// out of turn (receive() with no request out, send() with one out unless `relaxed`, a second
// receive() while one waits) rejects with EFSM and changes nothing; in turn, send() resolves and
// receive() returns the echo of the last request. With `relaxed` (always with `correlate`, which
// is what makes it reliable), send() with a request out abandons it: its reply must never be
// returned, only the newest request's.

type ReqMode = "strict" | "correlate" | "relaxed";

interface RqModel {
  mode: ReqMode;
  /** The request whose reply is due, if any. */
  out: string | undefined;
  n: number;
}

interface RqReal {
  req: Request;
}

type RqCommand = fc.AsyncCommand<RqModel, RqReal>;

class RqSend implements RqCommand {
  check = () => true;
  async run(m: RqModel, r: RqReal): Promise<void> {
    const body = `q${m.n++}`;
    const result = await within(code(r.req.send(body)), WAIT, "send()");
    if (m.out !== undefined && m.mode !== "relaxed") {
      assert.equal(result, "EFSM", "send() while a reply is due");
      return;
    }
    assert.equal(result, undefined, "send() in turn");
    m.out = body;
  }
  toString = () => "send";
}

class RqReceive implements RqCommand {
  check = () => true;
  async run(m: RqModel, r: RqReal): Promise<void> {
    if (m.out === undefined) {
      assert.equal(await within(code(r.req.receive()), WAIT, "receive()"), "EFSM", "receive() with no request out");
      return;
    }
    assert.deepEqual(strs(await recv(r.req, "the reply")), ["echo", m.out], "the reply to the last request");
    m.out = undefined;
  }
  toString = () => "receive";
}

/** Two receive() calls at once: the second is out of turn. */
class RqDoubleReceive implements RqCommand {
  check = (m: Readonly<RqModel>) => m.out !== undefined;
  async run(m: RqModel, r: RqReal): Promise<void> {
    const first = r.req.receive();
    first.catch(() => {}); // awaited below; if an assertion fails first, it rejects at close
    assert.equal(await within(code(r.req.receive()), WAIT, "receive()"), "EFSM", "a second receive() while one waits");
    assert.deepEqual(strs(await within(first, WAIT, "the reply")), ["echo", m.out]);
    m.out = undefined;
  }
  toString = () => "doubleReceive";
}

const rqCommands = fc.commands(
  [fc.constant(new RqSend()), fc.constant(new RqReceive()), fc.constant(new RqDoubleReceive())],
  { maxCommands: 16, size: "max" },
);

/** Answers every request with "echo" + the request, until the socket closes. */
async function echo(rep: Reply): Promise<void> {
  try {
    for (;;) await rep.send(["echo", ...(await rep.receive())]);
  } catch {
    // closed at the end of the run
  }
}

t.test("model: REQ's strict turn (EFSM out of turn), and each reply matches its request", async (t) => {
  await fc.assert(
    fc.asyncProperty(
      transport,
      fc.constantFrom<ReqMode>("strict", "correlate", "relaxed"),
      fc.integer({ min: 1, max: 2 }),
      rqCommands,
      async (tr, mode, nreps, cmds) => {
        const run = new RunSockets();
        try {
          const req = run.add(new Request({ correlate: mode !== "strict", relaxed: mode === "relaxed" }));
          const ev = watch(req);
          for (let i = 0; i < nreps; i++) {
            const rep = run.add(new Reply());
            req.connect(await bound(rep, tr));
            void echo(rep);
          }
          await ev.wait("handshake", nreps, WAIT);
          const model: RqModel = { mode, out: undefined, n: 0 };
          await fc.asyncModelRun(() => ({ model, real: { req } }), cmds);
        } finally {
          run.closeAll();
        }
      },
    ),
    { numRuns: 40, ...FC_LIMITS },
  );
  t.pass("40 random command sequences");
});

// =================================================================================================
// The properties can fail: broken strategies, written here as subclasses, are caught
// =================================================================================================
//
// Each broken variant runs through the very property above; fast-check must report a failure
// (it stops at the first one: shrinking is not the point here). The runs are bounded, and the
// breakage shows up within the first few command sequences of any seed.

/** Round robin that always picks the first peer with room: every message goes to one peer. */
class StickyPush extends Push {
  protected override _pick(): Pipe | undefined {
    return this._lb.find((p) => this._hasRoom(p));
  }
}

/** A PULL that loses every third message it receives (after counting it as arrived). */
class LossyPull extends CountingPull {
  private n = 0;
  protected override _xrecv(pipe: Pipe, frames: Buffer[]): Buffer[] | undefined {
    const msg = super._xrecv(pipe, frames);
    return ++this.n % 3 === 0 ? undefined : msg;
  }
}

/** A PULL that serves the peer at the front until its queue is empty: the other peers starve.
 * (`_take` is private to the Socket base, so the broken one is patched onto this subclass.) */
class GreedyPull extends CountingPull {}
Object.defineProperty(GreedyPull.prototype, "_take", {
  value(this: { _inReady: { peek(): Pipe | undefined; shift(): Pipe | undefined } }): Buffer[] | undefined {
    const pipe = this._inReady.peek();
    if (!pipe) return undefined;
    const msg = pipe.inq.shift();
    if (pipe.inq.length === 0) {
      this._inReady.shift();
      pipe.inReady = false;
    }
    return msg;
  },
});

/** A PUSH that ignores its HWM: send() never waits, the queue grows without bound. */
class UnboundedPush extends Push {
  protected override _hasRoom(): boolean {
    return true;
  }
}

/** A SUB whose unsubscribe() ignores the count: one call ends the topic however often it was subscribed. */
class CountlessSubscriber extends CountingSubscriber {
  override unsubscribe(...prefixes: (string | Buffer)[]): void {
    for (let i = 0; i < 8; i++) super.unsubscribe(...prefixes);
  }
}

/** The property must fail, on a model check (an AssertionError), not on a timeout or a setup error. */
async function expectFailure(t: Tap, what: string, prop: fc.IAsyncPropertyWithHooks<unknown> | fc.IAsyncProperty<unknown>) {
  const out = await fc.check(prop, { numRuns: 200, endOnFailure: true });
  const err = out.errorInstance as Error | undefined;
  t.ok(out.failed && !out.interrupted, `${what}: caught after ${out.numRuns} run(s)`);
  t.ok(err instanceof assert.AssertionError, `${what}: by a model check (${err?.message.split("\n")[0]})`);
  if (out.failed) t.comment(`counterexample: ${fc.stringify(out.counterexample)}`);
}

t.test("the properties catch broken strategies", async (t) => {
  await expectFailure(t, "round robin stuck on the first peer", roundRobinProperty(() => new StickyPush(), ["push"]));
  await expectFailure(t, "a PULL that drops messages", fairQueueProperty(() => new LossyPull(), ["push"]));
  await expectFailure(t, "a PULL that starves all but one peer", fairQueueProperty(() => new GreedyPull(), ["push"]));
  await expectFailure(t, "a PUSH that ignores its HWM", pushHwmProperty(() => new UnboundedPush(), ["inproc"]));
  await expectFailure(t, "a SUB that ignores its subscription counts", subscriptionProperty(() => new CountlessSubscriber()));
});
