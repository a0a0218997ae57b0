// Conformance cases for REQ, REP, PUSH, PULL and PAIR, one per type (run on Node through tap and on
// Bun/Deno by run.ts, like the rest of the table in cases.ts). No framework: each run() throws on
// failure and bounds every wait.

import { Buffer } from "node:buffer";
import { Dealer, Pair, Pull, Push, Reply, Request, Router, type Socket } from "../../src/index.js";
import { withTimeout, type Case } from "./cases.js";

const WAIT_MS = 5_000;
const LOCAL = "tcp://127.0.0.1:0";

function check(cond: unknown, msg: string): asserts cond {
  if (!cond) throw new Error(msg);
}

const show = (frames: readonly Uint8Array[]): string => JSON.stringify(frames.map((f) => Buffer.from(f).toString("latin1")));

function same(got: readonly Uint8Array[], want: readonly string[], what: string): void {
  check(show(got) === JSON.stringify(want), `${what}: got ${show(got)}, want ${JSON.stringify(want)}`);
}

const recv = (s: Socket, what: string): Promise<Buffer[]> => withTimeout(s.receive(), WAIT_MS, what);

async function rejects(p: Promise<unknown>, code: string, what: string): Promise<void> {
  const err = await p.then(
    () => undefined,
    (e: { code?: string }) => e,
  );
  check(err !== undefined, `${what}: resolved, want ${code}`);
  check(err.code === code, `${what}: rejected with ${String(err.code)}, want ${code}`);
}

function closeAll(...socks: Socket[]): void {
  for (const s of socks) s.close();
}

// REQ: the delimiter goes on the wire, send/receive alternate (EFSM otherwise), replies are matched.
async function reqCase(): Promise<void> {
  const router = new Router({ linger: 0 });
  const req = new Request({ linger: 0, routingId: "req-1" });
  try {
    await withTimeout(router.bind(LOCAL), WAIT_MS, "router.bind");
    req.connect(router.lastEndpoint!);
    await rejects(req.receive(), "EFSM", "receive before any send");
    await withTimeout(req.send("hello"), WAIT_MS, "req.send");
    await rejects(req.send("again"), "EFSM", "second send without a reply");
    const m = await recv(router, "request at the router");
    same(m, ["req-1", "", "hello"], "the ROUTER sees id, empty delimiter, body");
    await router.send(["req-1", "", "stray-first"]); // taken as the reply
    await router.send(["req-1", "", "stray-second"]); // dropped: one reply per request
    same(await recv(req, "reply"), ["stray-first"], "the REQ gets the body only");
    await withTimeout(req.send("next"), WAIT_MS, "req.send after the reply");
    same(await recv(router, "second request"), ["req-1", "", "next"], "second request");
    await router.send(["req-1", "no-delimiter"]); // malformed: dropped
    await router.send(["req-1", "", "ok"]);
    same(await recv(req, "second reply"), ["ok"], "a reply without delimiter is dropped, the next one taken");
  } finally {
    closeAll(router, req);
  }
}

// REP: envelopes are stripped and restored; replies go to the right requester; EFSM out of turn.
async function repCase(): Promise<void> {
  const rep = new Reply({ linger: 0 });
  const a = new Dealer({ linger: 0 });
  const b = new Request({ linger: 0, correlate: true });
  try {
    await withTimeout(rep.bind(LOCAL), WAIT_MS, "rep.bind");
    await rejects(rep.send("too early"), "EFSM", "send before any receive");
    a.connect(rep.lastEndpoint!);
    b.connect(rep.lastEndpoint!);
    await withTimeout(a.send(["hop1", "hop2", "", "from-a"]), WAIT_MS, "dealer send");
    const got1 = await recv(rep, "first request");
    same(got1, ["from-a"], "REP strips the envelope");
    await rejects(rep.receive(), "EFSM", "receive before replying");
    await rep.send("to-a");
    same(await recv(a, "reply at the dealer"), ["hop1", "hop2", "", "to-a"], "the envelope comes back");
    await withTimeout(b.send("from-b"), WAIT_MS, "req send");
    same(await recv(rep, "second request"), ["from-b"], "request from a correlating REQ");
    await rep.send("to-b");
    same(await recv(b, "reply at the REQ"), ["to-b"], "the REQ gets its reply (request id echoed)");
  } finally {
    closeAll(rep, a, b);
  }
}

// PUSH: round robin over peers, ENOTSUP on receive, waits when no peer can take a message.
async function pushCase(): Promise<void> {
  const push = new Push({ linger: 0, sendTimeout: 0 });
  const pulls = [new Pull({ linger: 0 }), new Pull({ linger: 0 })];
  try {
    await rejects(push.send("nobody"), "EAGAIN", "send with no peer and sendTimeout 0");
    await rejects(push.receive(), "ENOTSUP", "receive on PUSH");
    await withTimeout(push.bind(LOCAL), WAIT_MS, "push.bind");
    push.sendTimeout = -1;
    const events = push.events;
    for (const p of pulls) p.connect(push.lastEndpoint!);
    // Both peers must be in the rotation before the first send.
    for (let n = 0; n < 2; ) if ((await withTimeout(events.receive(), WAIT_MS, "push events")).type === "handshake") n++;
    for (let k = 0; k < 4; k++) await push.send(`m${k}`);
    const got = [];
    for (const p of pulls) got.push([(await recv(p, "m"))[0]!.toString(), (await recv(p, "m"))[0]!.toString()].join(","));
    got.sort();
    check(JSON.stringify(got) === JSON.stringify(["m0,m2", "m1,m3"]), `strict rotation over two peers: ${JSON.stringify(got)}`);
  } finally {
    closeAll(push, ...pulls);
  }
}

// PULL: fair-queues from several pushers; ENOTSUP on send.
async function pullCase(): Promise<void> {
  const pull = new Pull({ linger: 0 });
  const pushes = [new Push({ linger: 0 }), new Push({ linger: 0 }), new Push({ linger: 0 })];
  try {
    await rejects(pull.send("x"), "ENOTSUP", "send on PULL");
    await withTimeout(pull.bind("inproc://conformance-pull"), WAIT_MS, "pull.bind inproc");
    for (const p of pushes) p.connect("inproc://conformance-pull");
    for (const [i, p] of pushes.entries()) for (let k = 0; k < 5; k++) await p.send([`p${i}`, `${k}`]);
    const got: string[] = [];
    for (let n = 0; n < 15; n++) got.push((await recv(pull, "message")).map((f) => f.toString()).join(":"));
    for (const [i] of pushes.entries()) {
      const mine = got.filter((g) => g.startsWith(`p${i}:`));
      check(JSON.stringify(mine) === JSON.stringify([0, 1, 2, 3, 4].map((k) => `p${i}:${k}`)), `pusher ${i} in order, once: ${mine}`);
    }
    check(new Set(got.slice(0, 3).map((g) => g.slice(0, 2))).size === 3, `the first three come from three different pushers: ${got.slice(0, 3)}`);
  } finally {
    closeAll(pull, ...pushes);
  }
}

// PAIR: one peer both ways; a second peer is refused with ECONNREFUSED on its disconnect event.
async function pairCase(): Promise<void> {
  const a = new Pair({ linger: 0 });
  const b = new Pair({ linger: 0 });
  const c = new Pair({ linger: 0, reconnectInterval: -1 });
  try {
    await withTimeout(a.bind(LOCAL), WAIT_MS, "a.bind");
    b.connect(a.lastEndpoint!);
    await withTimeout(b.send("b->a"), WAIT_MS, "b.send");
    same(await recv(a, "at a"), ["b->a"], "PAIR a receives");
    await withTimeout(a.send(["a->b", ""]), WAIT_MS, "a.send");
    same(await recv(b, "at b"), ["a->b", ""], "PAIR b receives");
    const events = a.events;
    c.connect(a.lastEndpoint!);
    const deadline = Date.now() + WAIT_MS;
    for (;;) {
      const ev = await withTimeout(events.receive(), WAIT_MS, "a's events");
      if (ev.type === "disconnect") {
        check(ev.error && (ev.error as { code?: string }).code === "ECONNREFUSED", `refusal code: ${String(ev.error)}`);
        break;
      }
      check(Date.now() < deadline, "a never refused the second peer");
    }
    await withTimeout(a.send("still-b"), WAIT_MS, "a.send after the refusal");
    same(await recv(b, "at b again"), ["still-b"], "the first peer keeps the pair");
  } finally {
    closeAll(a, b, c);
  }
}

export const patternCases: Case[] = [
  { name: "pattern REQ: empty delimiter on the wire, EFSM out of turn, one reply per request (tcp 127.0.0.1)", run: reqCase },
  { name: "pattern REP: envelope stripped and restored per requester, EFSM out of turn (tcp 127.0.0.1)", run: repCase },
  { name: "pattern PUSH: round robin over two peers, EAGAIN with none, ENOTSUP receive (tcp 127.0.0.1)", run: pushCase },
  { name: "pattern PULL: fair queue from three pushers, per-peer order, ENOTSUP send (inproc)", run: pullCase },
  { name: "pattern PAIR: one peer both ways, a second refused with ECONNREFUSED (tcp 127.0.0.1)", run: pairCase },
];
