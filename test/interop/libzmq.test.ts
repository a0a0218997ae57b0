// Interop with libzmq 4.3.x, the acceptance test for the wire: emq sockets against a real libzmq
// ROUTER/DEALER (test/interop/peer.py through Debian's /usr/bin/python3 + pyzmq), over TCP on
// 127.0.0.1. Both socket pairings in both bind/connect roles; multipart messages with edge-size
// frames byte for byte in both directions; explicit and generated routing ids both ways; ZMTP 3.1
// heartbeats (PING/PONG both ways, timeout on a frozen peer, the peer's TTL); reconnect to a
// restarted peer; 10 000 messages in order both ways.
//
// Without pyzmq every test is skipped with the reason, except in CI (CI=true), where that fails.

import t from "tap";
import { Buffer } from "node:buffer";
import { randomBytes } from "node:crypto";
import { Dealer, Router, type Socket } from "../../src/index.js";
import { EventLog, Peer, freePort, peerScope, requirePyzmq, sleep, within } from "./peer.js";

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

/** Exact frame-by-frame comparison without dumping megabytes into a diff on failure. */
function sameFrames(t: Test, got: Buffer[], want: Buffer[], what: string): void {
  const sizes = (m: Buffer[]) => m.map((f) => f.length).join(",");
  t.equal(sizes(got), sizes(want), `${what}: frame sizes [${sizes(want)}]`);
  const bad = want.findIndex((f, i) => !got[i] || !f.equals(got[i]!));
  t.equal(bad, -1, `${what}: every frame byte for byte`);
}

const SIZES = [0, 1, 255, 256, 1 << 20];
const edgeMessage = (): Buffer[] => SIZES.map((n) => randomBytes(n));

function checkAutoId(t: Test, id: Buffer | undefined, who: string): void {
  t.ok(id && id.length === 5 && id[0] === 0, `${who} generated a 5-byte routing id starting with 0x00 (${id?.toString("hex")})`);
}

// ---- both pairings x both roles x named/generated ids, multipart edge sizes both ways -------

for (const emqBinds of [true, false]) {
  for (const named of [true, false]) {
    const role = emqBinds ? "emq binds, libzmq connects" : "libzmq binds, emq connects";
    const ids = named ? "explicit routing id" : "generated routing id";

    test(`emq DEALER <-> libzmq ROUTER (${role}; ${ids})`, async (t) => {
      const s = scope(t);
      const dealer = s.sock(new Dealer({ linger: 0, ...(named ? { routingId: "emq-dealer" } : {}) }));
      let peer: Peer;
      if (emqBinds) {
        await dealer.bind(LOCAL);
        peer = await s.peer({ type: "ROUTER", connect: dealer.lastEndpoint! });
      } else {
        peer = await s.peer({ type: "ROUTER", bind: LOCAL });
        dealer.connect(peer.endpoint);
      }

      const up = edgeMessage();
      await within(dealer.send(up), WAIT, "dealer send");
      const got = await peer.recv(WAIT);
      const id = got[0]!;
      if (named) t.equal(id.toString("latin1"), "emq-dealer", "libzmq ROUTER sees the emq DEALER's routingId");
      else checkAutoId(t, id, "libzmq ROUTER");
      sameFrames(t, got.slice(1), up, "emq DEALER -> libzmq ROUTER");

      const down = edgeMessage();
      await peer.send([id, ...down]);
      sameFrames(t, await recv(dealer), down, "libzmq ROUTER -> emq DEALER");

      // A second round on the same connection: the codec state is fine after the big frame.
      await within(dealer.send(["again", ""]), WAIT, "dealer send");
      const again = await peer.recv(WAIT);
      t.same(again.map(String), [id.toString(), "again", ""], "a second message after the 1 MiB one");
    });

    test(`emq ROUTER <-> libzmq DEALER (${role}; ${ids})`, async (t) => {
      const s = scope(t);
      const router = s.sock(new Router({ linger: 0, mandatory: true }));
      const identity = named ? { identity: "zmq-dealer" } : {};
      let peer: Peer;
      if (emqBinds) {
        await router.bind(LOCAL);
        peer = await s.peer({ type: "DEALER", connect: router.lastEndpoint!, ...identity });
      } else {
        peer = await s.peer({ type: "DEALER", bind: LOCAL, ...identity });
        router.connect(peer.endpoint);
      }

      const up = edgeMessage();
      await peer.send(up);
      const got = await recv(router);
      const id = got[0]!;
      if (named) t.equal(id.toString("latin1"), "zmq-dealer", "emq ROUTER sees the libzmq DEALER's IDENTITY");
      else checkAutoId(t, id, "emq ROUTER");
      sameFrames(t, got.slice(1), up, "libzmq DEALER -> emq ROUTER");

      const down = edgeMessage();
      await within(router.send([id, ...down]), WAIT, "router send");
      sameFrames(t, await peer.recv(WAIT), down, "emq ROUTER -> libzmq DEALER");

      await peer.send([Buffer.from("again")]);
      t.same((await recv(router)).map((f) => f.toString("latin1")), [id.toString("latin1"), "again"], "same id on the next message");
    });
  }
}

// ---- heartbeats -----------------------------------------------------------------------------

test("heartbeats: an idle connection survives > 1 s and messages still flow", async (t) => {
  // ivl 100 ms; the timeout is 1 s so a slow turn on a loaded machine is not taken for a dead peer,
  // while an idle period of 1.5 s still catches a side that never answers PINGs.
  const configs = [
    { name: "both sides PING", emq: true, zmq: true },
    { name: "only emq PINGs (libzmq must PONG)", emq: true, zmq: false },
    { name: "only libzmq PINGs (emq must PONG)", emq: false, zmq: true },
  ];
  const s = scope(t);
  await Promise.all(
    configs.map(async (c) => {
      const peer = await s.peer({ type: "ROUTER", bind: LOCAL, mode: "echo", ...(c.zmq ? { hbIvl: 100, hbTimeout: 1000 } : {}) });
      const dealer = s.sock(
        new Dealer({ linger: 0, reconnectInterval: 50, ...(c.emq ? { heartbeatInterval: 100, heartbeatTimeout: 1000 } : {}) }),
      );
      const log = new EventLog(dealer);
      dealer.connect(peer.endpoint);
      await within(dealer.send(["before"]), WAIT, "send");
      t.same((await recv(dealer)).map(String), ["before"], `${c.name}: echo before idling`);
      await sleep(1500); // the idle period is the point
      await within(dealer.send(["after"]), WAIT, "send");
      t.same((await recv(dealer)).map(String), ["after"], `${c.name}: echo after 1.5 s idle`);
      t.equal(log.count("disconnect"), 0, `${c.name}: emq saw no disconnect`);
      t.equal(log.count("handshake"), 1, `${c.name}: one handshake, no reconnect`);
      const ev = await peer.events();
      t.notOk(ev.includes("DISCONNECTED"), `${c.name}: libzmq saw no disconnect (${ev.join(" ")})`);
    }),
  );
});

test("heartbeats: a SIGSTOPped libzmq peer is dropped by the emq side, which reconnects after SIGCONT", async (t) => {
  const s = scope(t);
  const peer = await s.peer({ type: "ROUTER", bind: LOCAL, mode: "echo", hbIvl: 100, hbTimeout: 1000 });
  const dealer = s.sock(new Dealer({ linger: 0, heartbeatInterval: 100, heartbeatTimeout: 300, reconnectInterval: 50 }));
  const log = new EventLog(dealer);
  dealer.connect(peer.endpoint);
  await within(dealer.send(["ping"]), WAIT, "send");
  t.same((await recv(dealer)).map(String), ["ping"], "echo while the peer runs");

  const dropped = log.next("disconnect", WAIT);
  const back = log.next("handshake", 2 * WAIT); // the reconnect's, after SIGCONT
  back.catch(() => {}); // awaited below; only here so an early failure is not unhandled
  const t0 = Date.now();
  peer.kill("SIGSTOP");
  const ev = await dropped.finally(() => peer.kill("SIGCONT"));
  const ms = Date.now() - t0;
  // The last unanswered PING may have gone out up to one interval before SIGSTOP: 300 - 100 ms, less jitter.
  t.ok(ms >= 150, `dropped after ${ms} ms (not before the 300 ms heartbeat timeout could run out)`);
  // A frozen peer never sends FIN: the connection must be dropped at the timeout, not after it.
  t.ok(ms < 1200, `dropped within heartbeatInterval + heartbeatTimeout (+ slack): ${ms} ms`);
  t.equal(ev.error?.code, "ETIMEDOUT", `disconnect says why: ${ev.error?.message}`);

  await back;
  await within(dealer.send(["resumed"]), WAIT, "send");
  t.same((await recv(dealer)).map(String), ["resumed"], "after SIGCONT emq reconnects and messages flow");
});

test("heartbeats: emq honours the TTL in libzmq's PINGs (emq's own heartbeats off)", async (t) => {
  const s = scope(t);
  const router = s.sock(new Router({ linger: 0 }));
  const log = new EventLog(router);
  await router.bind(LOCAL);
  // libzmq announces TTL 1 s in its PINGs; it PINGs every 100 ms while running.
  const peer = await s.peer({ type: "DEALER", connect: router.lastEndpoint!, hbIvl: 100, hbTimeout: 1000, hbTtl: 1000 });
  await peer.send([Buffer.from("hello")]);
  t.same((await recv(router)).slice(1).map(String), ["hello"], "message from the libzmq DEALER");
  await sleep(300); // let a few PINGs carrying the TTL arrive

  const dropped = log.next("disconnect", WAIT);
  const t0 = Date.now();
  peer.kill("SIGSTOP");
  const ev = await dropped;
  const ms = Date.now() - t0;
  t.ok(ms >= 700, `dropped after ${ms} ms (about the 1 s TTL after the last PING)`);
  t.ok(ms < 1700, `dropped within the TTL (+ slack): ${ms} ms`);
  t.equal(ev.error?.code, "ETIMEDOUT", `disconnect says why: ${ev.error?.message}`);
  peer.kill("SIGKILL");
});

// ---- reconnect --------------------------------------------------------------------------------

test("peer restart: emq DEALER reconnects to a new libzmq ROUTER on the same port", async (t) => {
  const s = scope(t);
  const port = await freePort();
  const address = `tcp://127.0.0.1:${port}`;
  const first = await s.peer({ type: "ROUTER", bind: address, mode: "echo" });
  const dealer = s.sock(new Dealer({ linger: 0, reconnectInterval: 50, routingId: "restart" }));
  const log = new EventLog(dealer);
  dealer.connect(address);
  await within(dealer.send(["one"]), WAIT, "send");
  t.same((await recv(dealer)).map(String), ["one"], "echo from the first peer");

  const gone = log.next("disconnect", WAIT);
  first.kill("SIGKILL");
  await within(first.exited, WAIT, "first peer exit");
  await gone;
  t.pass("emq saw the first peer go");

  // Queued while no peer is there; delivered once the new one is up.
  const sent = within(dealer.send(["two"]), WAIT, "send while disconnected");
  const back = log.next("handshake", WAIT);
  let second: Peer | undefined;
  for (let i = 0; !second; i++) {
    try {
      second = await s.peer({ type: "ROUTER", bind: address, mode: "echo" });
    } catch (err) {
      if (i >= 20) throw err; // the port should be free again at once (libzmq sets SO_REUSEADDR)
      await sleep(100);
    }
  }
  await back;
  await sent;
  t.same((await recv(dealer)).map(String), ["two"], "round trip through the restarted peer");
  t.ok(log.count("connect:retry") >= 1, "emq retried while the port was closed");
});

// ---- volume -----------------------------------------------------------------------------------

const N = 10_000;
const WINDOW = 500; // below the default HWM of 1000, so neither ROUTER ever has to drop a reply

test(`${N} small messages emq DEALER -> libzmq ROUTER (echo), all back in order`, async (t) => {
  const s = scope(t);
  const peer = await s.peer({ type: "ROUTER", bind: LOCAL, mode: "echo" });
  const dealer = s.sock(new Dealer({ linger: 0 }));
  dealer.connect(peer.endpoint);
  const seq = (i: number) => {
    const b = Buffer.alloc(4);
    b.writeUInt32BE(i);
    return b;
  };
  let received = 0;
  let firstBad = -1;
  const take = async () => {
    const m = await recv(dealer, `echo ${received}`);
    if (firstBad < 0 && (m.length !== 2 || String(m[0]) !== "seq" || !m[1]!.equals(seq(received)))) firstBad = received;
    received++;
  };
  const t0 = Date.now();
  for (let i = 0; i < N; i++) {
    if (i - received >= WINDOW) await take();
    await within(dealer.send(["seq", seq(i)]), WAIT, `send ${i}`);
  }
  while (received < N) await take();
  t.equal(received, N, `all ${N} echoes arrived (${Date.now() - t0} ms)`);
  t.equal(firstBad, -1, "in order, each intact");
});

test(`${N} small messages libzmq DEALER -> emq ROUTER (echo), all back in order`, async (t) => {
  const s = scope(t);
  const router = s.sock(new Router({ linger: 0 }));
  await router.bind(LOCAL);
  const echoing = (async () => {
    let n = 0;
    for await (const msg of router) {
      await router.send(msg);
      n++;
    }
    return n;
  })();
  const peer = await s.peer({ type: "DEALER", connect: router.lastEndpoint!, identity: "burst" });
  const t0 = Date.now();
  await peer.burst(N, WINDOW); // throws unless all N come back in order
  t.pass(`libzmq got all ${N} echoes in order (${Date.now() - t0} ms)`);
  router.close();
  t.equal(await within(echoing, WAIT, "echo loop end"), N, `emq ROUTER echoed ${N} messages`);
});
