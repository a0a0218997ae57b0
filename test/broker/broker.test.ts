// The broker against hand-written eMQP peers over tcp://127.0.0.1: the exact frames it sends,
// EventMQ's routing rules (receipt, weights, READY slots, buffering, unknown queue -> default), and
// what we do beyond EventMQ (results to the client, guarantee, retry-count, timeout, refusals with
// a reason, de-duplication, drain on DISCONNECT), plus admin answers and bad input.

import t from "tap";
import { Buffer } from "node:buffer";
import type { Broker } from "../../src/broker/broker.js";
import { Dealer } from "../../src/index.js";
import { answer, captureLogger, JOB, Peer, startBroker, worker, type LogLine, type Msg } from "./peers.js";
import { sleep, until } from "../socket/fake-peer.js";

type Test = Parameters<Parameters<typeof t.test>[0]>[0];

function scoped(t: Test) {
  const brokers: Broker[] = [];
  const peers: Peer[] = [];
  t.teardown(async () => {
    for (const p of peers) p.close();
    await Promise.all(brokers.map((b) => b.stop()));
  });
  return {
    async broker(opts: Parameters<typeof startBroker>[0] = {}) {
      const b = await startBroker(opts);
      brokers.push(b);
      return b;
    },
    client(b: Broker, id?: string) {
      const p = new Peer(b.endpoints.frontend!, id);
      peers.push(p);
      return p;
    },
    backend(b: Broker) {
      const p = new Peer(b.endpoints.backend!);
      peers.push(p);
      return p;
    },
    admin(b: Broker) {
      const p = new Peer(b.endpoints.admin!);
      peers.push(p);
      return p;
    },
    async worker(b: Broker, queues: string, slots: number, id?: string) {
      const w = await worker(b.endpoints.backend!, queues, slots, id);
      peers.push(w);
      return w;
    },
  };
}

const receiptFor = (msgid: string) => (m: Msg) => m.command === "REPLY" && m.body.length === 1 && m.body[0] === msgid;
const resultFor = (msgid: string) => (m: Msg) => m.command === "REPLY" && m.body.length === 2 && m.body[0] === msgid;
/** White-box: READYs the broker holds, over all workers. */
const freeSlots = (b: Broker): number => [...(b as unknown as { workers: Map<string, { slots: number }> }).workers.values()].reduce((n, w) => n + w.slots, 0);
const brokerWorkerCount = (b: Broker): number => (b as unknown as { workers: Map<string, unknown> }).workers.size;
const result = async (c: Peer, msgid: string) => JSON.parse((await c.next(resultFor(msgid), `the result of ${msgid}`)).body[1]!);

t.test("a job's round trip: receipt, exact frames to the worker, the result back to the client", async (t) => {
  const s = scoped(t);
  const b = await s.broker();
  const w = await s.worker(b, '[[10, "default"]]', 1);
  const c = s.client(b);
  const msgid = await c.send("REQUEST", "default", "reply-requested", JOB("add", [1, 2]));
  const receipt = await c.next(receiptFor(msgid), "the receipt");
  t.same(receipt.raw.slice(0, 3).map(String), ["", "eMQP/1.0", "REPLY"], "the receipt is an eMQP REPLY");
  const req = await w.nextCommand("REQUEST");
  t.same(req.raw.map(String), ["", "eMQP/1.0", "REQUEST", msgid, "default", "reply-requested", JOB("add", [1, 2])], "the worker gets the client's frames and msgid");
  await w.send("REPLY", '{"value": 3}', msgid);
  const res = await c.next(resultFor(msgid), "the result");
  t.same(res.raw.slice(0, 3).map(String), ["", "eMQP/1.0", "REPLY"]);
  t.same(JSON.parse(res.body[1]!), { value: 3 });
  t.not(res.msgid, msgid, "a response carries a fresh msgid");
  t.equal(b.counters.completed, 1);
});

t.test("without reply-requested: only the receipt; the worker is still asked for the outcome", async (t) => {
  const s = scoped(t);
  const b = await s.broker();
  const w = await s.worker(b, "", 1);
  const c = s.client(b);
  const msgid = await c.send("REQUEST", "default", "guarantee,timeout:30", JOB());
  await c.next(receiptFor(msgid));
  const req = await w.nextCommand("REQUEST");
  t.equal(req.body[1], "reply-requested,guarantee,timeout:30", "reply-requested added in EventMQ's order");
  await w.send("REPLY", '{"value": null}', msgid);
  await until(() => b.counters.completed === 1, "the job to complete");
  await sleep(100);
  t.same(c.take(() => true), [], "no result for a client that did not ask");
});

t.test("weights are strict priority; equal weights take turns; INFORM with no queues gets the defaults", async (t) => {
  const s = scoped(t);
  const b = await s.broker({ defaultQueues: [[5, "q"]] });
  const heavy = await s.worker(b, '[[50, "q"]]', 2, "heavy");
  const a = await s.worker(b, '[[10, "q"]]', 10, "a");
  const bee = await s.worker(b, "", 10, "b"); // broker default [[5, "q"]]: lowest
  const c2 = await s.worker(b, '[[10, "q"]]', 10, "c");
  await until(() => freeSlots(b) === 32, "every READY to be counted");
  const c = s.client(b);
  const order: string[] = [];
  const ids: string[] = [];
  for (let i = 0; i < 6; i++) ids.push(await c.send("REQUEST", "q", "", JOB("f", [i])));
  for (const id of ids) await c.next(receiptFor(id));
  const peers = { heavy, a, c: c2, b: bee };
  const all: Array<[string, Msg]> = [];
  await until(() => {
    for (const [name, p] of Object.entries(peers)) for (const m of p.take((m) => m.command === "REQUEST")) all.push([name, m]);
    return all.length === 6;
  }, "6 dispatches");
  for (let i = 0; i < 6; i++) order.push(all.find(([, m]) => JSON.parse(m.body[2]!)[1].args[0] === i)![0]);
  t.same(order, ["heavy", "heavy", "a", "c", "a", "c"], "the heavy worker until its slots are used, then a and c in turn; b never");
});

t.test("buffering: receipts at once, dispatch on READY oldest first, in the worker's INFORM queue order", async (t) => {
  const s = scoped(t);
  const b = await s.broker();
  const w = await s.worker(b, '[[10, "low"], [10, "high"]]', 0);
  const c = s.client(b);
  const h1 = await c.send("REQUEST", "high", "", JOB("h1"));
  const l1 = await c.send("REQUEST", "low", "", JOB("l1"));
  const l2 = await c.send("REQUEST", "low", "", JOB("l2"));
  for (const id of [h1, l1, l2]) await c.next(receiptFor(id), "a receipt for a buffered job");
  await sleep(50);
  t.same(w.take(() => true), [], "nothing dispatched without a READY");
  const got: string[] = [];
  for (let i = 0; i < 3; i++) {
    await w.send("READY");
    got.push((await w.nextCommand("REQUEST")).msgid);
  }
  t.same(got, [l1, l2, h1], "the worker's first queue (low) is emptied first, FIFO");
});

t.test("a full buffer refuses with EQUEUEFULL, not silence; an unknown queue goes to default", async (t) => {
  const s = scoped(t);
  const b = await s.broker({ maxBuffered: 2 });
  const c = s.client(b);
  const ids = [await c.send("REQUEST", "nosuch", "", JOB()), await c.send("REQUEST", "default", "", JOB()), await c.send("REQUEST", "default", "", JOB())];
  await c.next(receiptFor(ids[0]!));
  await c.next(receiptFor(ids[1]!));
  const refused = await result(c, ids[2]!);
  t.equal(refused.error.code, "EQUEUEFULL");
  t.match(refused.error.message, /default/);
  t.same(c.take(receiptFor(ids[2]!)), [], "no receipt for a refused job");
  const w = await s.worker(b, "", 2);
  const first = await w.nextCommand("REQUEST");
  t.equal(first.msgid, ids[0], "the job sent to an unknown queue waited in default");
  t.equal(first.body[0], "nosuch", "and still carries its queue frame, as EventMQ forwards it");
});

t.test("guarantee: a worker that disconnects mid-job hands the job on; without it the client hears EWORKERLOST", async (t) => {
  const s = scoped(t);
  const b = await s.broker();
  const doomed = await s.worker(b, "", 2, "doomed");
  const c = s.client(b);
  const g = await c.send("REQUEST", "default", "reply-requested,guarantee", JOB("g"));
  const n = await c.send("REQUEST", "default", "reply-requested", JOB("n"));
  await doomed.nextCommand("REQUEST");
  await doomed.nextCommand("REQUEST");
  doomed.close();
  const lost = await result(c, n);
  t.equal(lost.error.code, "EWORKERLOST");
  const heir = await s.worker(b, "", 1, "heir");
  const req = await heir.nextCommand("REQUEST");
  t.equal(req.msgid, g, "the guaranteed job runs on the next worker");
  await heir.send("REPLY", '{"value": "done"}', g);
  t.same(await result(c, g), { value: "done" });
  await sleep(100);
  t.same(c.take(resultFor(g)), [], "exactly one result");
});

t.test("retry-count re-runs failures; the last failure is delivered when retries run out", async (t) => {
  const s = scoped(t);
  const b = await s.broker();
  const w = await s.worker(b, "", 1);
  const c = s.client(b);
  const ok = await c.send("REQUEST", "default", "reply-requested,retry-count:2", JOB());
  const fail = { error: { code: "EJOBFAILED", message: "boom" } };
  await answer(w, fail);
  await answer(w, fail);
  await answer(w, { value: "third time" });
  t.same(await result(c, ok), { value: "third time" });
  const bad = await c.send("REQUEST", "default", "reply-requested,retry-count:1", JOB());
  await answer(w, fail);
  await answer(w, { error: { code: "EJOBFAILED", message: "again" } });
  t.same((await result(c, bad)).error, { code: "EJOBFAILED", message: "again" });
  t.equal(b.counters.retried, 3);
});

t.test("timeout:N is enforced by the broker; a late result is ignored", async (t) => {
  const s = scoped(t);
  const b = await s.broker({ timeoutGrace: 100 });
  const w = await s.worker(b, "", 1);
  const c = s.client(b);
  const started = Date.now();
  const id = await c.send("REQUEST", "default", "reply-requested,timeout:1", JOB());
  await w.nextCommand("REQUEST");
  const r = await result(c, id);
  t.equal(r.error.code, "ETIMEDOUT");
  t.ok(Date.now() - started >= 1000, "not before the timeout");
  await w.send("REPLY", '{"value": "late"}', id);
  await sleep(100);
  t.same(c.take(resultFor(id)), [], "the late result is dropped");
});

t.test("a request re-sent with the same msgid runs once; after completion the result is sent again", async (t) => {
  const s = scoped(t);
  const b = await s.broker();
  const w = await s.worker(b, "", 1);
  const c = s.client(b);
  const frames = ["", "eMQP/1.0", "REQUEST", "dup-1", "default", "reply-requested", JOB()];
  await c.sendRaw(frames);
  await c.sendRaw(frames);
  await c.next(receiptFor("dup-1"));
  await c.next(receiptFor("dup-1"), "a second receipt");
  await answer(w, { value: 1 });
  t.same(await result(c, "dup-1"), { value: 1 });
  await c.sendRaw(frames);
  await c.next(receiptFor("dup-1"));
  t.same(await result(c, "dup-1"), { value: 1 }, "the remembered result");
  await sleep(100);
  t.same(w.take((m) => m.command === "REQUEST"), [], "the worker ran it once");
  t.equal(b.counters.dispatched, 1);
});

t.test("heartbeats to workers; a silent worker is dropped and its guaranteed job re-queued; strangers get KBYE", async (t) => {
  const s = scoped(t);
  const b = await s.broker({ heartbeatInterval: 100, heartbeatTimeout: 600 });
  const w = await s.worker(b, "", 1, "quiet");
  const hb = await w.nextCommand("HEARTBEAT", 2000);
  t.match(hb.body[0], /^\d+(\.\d+)?$/, "HEARTBEAT carries the time");
  const c = s.client(b);
  const id = await c.send("REQUEST", "default", "reply-requested,guarantee", JOB());
  await w.nextCommand("REQUEST");
  await until(() => b.counters.requeued === 1, "the silent worker to be dropped", 3000);
  await w.send("REPLY", '{"value": "too late"}', id);
  const kbye = await w.nextCommand("KBYE");
  t.ok(kbye, "a worker the broker no longer knows gets KBYE");
  const other = await s.worker(b, "", 1);
  await answer(other, { value: "ok" });
  t.same(await result(c, id), { value: "ok" });
});

t.test("schedulers: INFORM/ACK on the frontend, SCHEDULE to one, UNSCHEDULE to all, none -> ENOSCHEDULER", async (t) => {
  const s = scoped(t);
  const b = await s.broker();
  const c = s.client(b);
  const sched = ["default", "", "38", JOB(), ""];
  const none = await c.send("SCHEDULE", ...sched);
  t.equal((await result(c, none)).error.code, "ENOSCHEDULER");
  const s1 = s.client(b);
  const s2 = s.client(b);
  for (const p of [s1, s2]) {
    const inform = await p.send("INFORM", "", "scheduler");
    t.equal((await p.nextCommand("ACK")).body[0], inform);
  }
  const id = await c.send("SCHEDULE", ...sched);
  await c.next(receiptFor(id));
  const got = await Promise.race([s1.nextCommand("SCHEDULE"), s2.nextCommand("SCHEDULE")]);
  t.same(got.raw.map(String), ["", "eMQP/1.0", "SCHEDULE", id, ...sched], "forwarded unchanged, original msgid");
  const un = await c.send("UNSCHEDULE", "default", "", "-1", JOB(), "");
  t.equal((await s1.nextCommand("UNSCHEDULE")).msgid, un);
  t.equal((await s2.nextCommand("UNSCHEDULE")).msgid, un);
});

t.test("admin: STATUS, ROUTER_SHOW_WORKERS, ROUTER_SHOW_SCHEDULERS in EventMQ's shapes; HELLO unanswered", async (t) => {
  const s = scoped(t);
  const b = await s.broker();
  await s.worker(b, '[[10, "default"], [3, "slow"]]', 2, "w-1");
  const c = s.client(b);
  const id = await c.send("REQUEST", "default", "", JOB());
  await c.next(receiptFor(id));
  const adm = s.admin(b);
  await adm.send("HELLO");
  const st = await adm.send("STATUS");
  const status = await adm.nextCommand("REPLY");
  t.equal(status.body[1], st, "our answer names the request it answers");
  const j = JSON.parse(status.body[0]!);
  for (const k of ["inflight_messages_by_queue", "latency_messages_by_queue", "max_latency_messages_by_queue", "waiting_messages_by_queue", "processed_messages_by_queue", "processed_messages_by_worker"]) {
    t.type(j[k], "object", k);
  }
  t.same(j.inflight_messages_by_queue, { default: 1 });
  t.same(j.processed_messages_by_worker, { "w-1": 1 });
  await adm.send("ROUTER_SHOW_WORKERS");
  const wj = JSON.parse((await adm.nextCommand("REPLY")).body[0]!);
  t.same(wj.connected_workers["w-1"].queues, [[10, "default"], [3, "slow"]]);
  t.equal(wj.connected_workers["w-1"].available_slots, 1);
  t.type(wj.connected_workers["w-1"].hb, "number");
  t.same(wj.connected_queues, { default: [[10, "w-1"]], slow: [[3, "w-1"]] });
  await adm.send("ROUTER_SHOW_SCHEDULERS");
  t.same(JSON.parse((await adm.nextCommand("REPLY")).body[0]!), { connected_schedulers: {} });
  t.same(adm.take(() => true), [], "HELLO got no answer");
});

t.test("DISCONNECT drains: buffered jobs still run, new ones are refused, then KBYE and stop", async (t) => {
  const s = scoped(t);
  const b = await s.broker();
  const w = await s.worker(b, "", 0);
  const c = s.client(b);
  const held = await c.send("REQUEST", "default", "reply-requested", JOB());
  await c.next(receiptFor(held));
  const adm = s.admin(b);
  const d = await adm.send("DISCONNECT");
  t.equal((await adm.nextCommand("ACK")).body[0], d);
  const late = await c.send("REQUEST", "default", "reply-requested", JOB());
  t.equal((await result(c, late)).error.code, "ESHUTDOWN");
  t.equal(b.state, "draining");
  await w.send("READY");
  await answer(w, { value: "drained" }, false);
  t.same(await result(c, held), { value: "drained" }, "the buffered job was not dropped");
  await w.nextCommand("KBYE");
  await b.stopped;
  t.equal(b.state, "stopped");
});

t.test("bad input on every socket is logged with a reason and never stops the broker", async (t) => {
  const s = scoped(t);
  const lines: LogLine[] = [];
  const b = await s.broker({ logger: captureLogger(lines) });
  const garbage: (string | Buffer)[][] = [
    [],
    ["x"],
    ["", "eMQP/1.0"],
    ["", "eMQP/9.9", "REQUEST", "m"],
    ["nodelim", "eMQP/1.0", "READY", "m"],
    ["", "eMQP/1.0", Buffer.from([0xff, 0xfe]), "m"],
    ["", "eMQP/1.0", "REQUEST", "m", "q"],
    ["", "eMQP/1.0", "REQUEST", "m", "q", "", "not json"],
    ["", "eMQP/1.0", "REQUEST", "m2", "q", "timeout:soon", JOB()],
    ["", "eMQP/1.0", "INFORM", "m", "{bad", "worker"],
    ["", "eMQP/1.0", "INFORM", "m", "", "robot"],
    ["", "eMQP/1.0", "BOGUS", "m"],
  ];
  const binary = s.client(b, Buffer.from([0xf4, 0x90, 0x00, 0xff]).toString("latin1"));
  const backendRogue = s.backend(b);
  const rogues = [s.client(b), backendRogue, s.admin(b), binary];
  for (const r of rogues) for (const g of garbage) await r.sendRaw(g.length === 0 ? [""] : g);
  // DISCONNECT on the backend from a peer that never INFORMed (EventMQ crashes on it).
  await backendRogue.send("DISCONNECT");
  const w = await s.worker(b, "", 1);
  const c = s.client(b);
  const id = await c.send("REQUEST", "default", "reply-requested", JOB());
  await answer(w, { value: "still serving" });
  t.same(await result(c, id), { value: "still serving" });
  const bad = lines.filter((l) => l.level === "warn");
  t.ok(bad.some((l) => l.fields.reason === "unsupported-version"), "version mismatch logged with its reason");
  t.ok(bad.some((l) => l.fields.reason === "not-utf8"), "invalid UTF-8 logged");
  t.ok(bad.some((l) => l.fields.reason === "bad-json"), "bad job JSON logged");
  t.notOk(lines.some((l) => l.level === "error"), "no internal error");
  t.equal(b.state, "running");
});

t.test("a client that never reads loses only its own answers; others are served", async (t) => {
  const s = scoped(t);
  const b = await s.broker({ sendHighWaterMark: 500, maxBuffered: 100 });
  const deaf = new Dealer({ routingId: "deaf", receiveHighWaterMark: 10, linger: 0 });
  t.teardown(() => deaf.close());
  deaf.connect(b.endpoints.frontend!);
  // Fire-and-forget like EventMQ's client: it never reads its receipts and refusals.
  for (let i = 0; i < 20_000; i++) await deaf.send(["", "eMQP/1.0", "REQUEST", `deaf-${i}`, "default", "", JOB()]);
  const w = await s.worker(b, "", 0);
  const c = s.client(b);
  const id = await c.send("REQUEST", "other", "reply-requested", JOB());
  // The default queue is full of the deaf client's jobs: the answer is a refusal, but it comes.
  const answer = await c.next((m) => m.command === "REPLY" && m.body[0] === id, "an answer for the other client", 3000);
  t.match(JSON.parse(answer.body[1]!), { error: { code: "EQUEUEFULL" } });
  t.ok(w, "the worker registered while the deaf client's answers were backed up");
});

t.test("non-UTF-8 frames are never passed on; SCHEDULE forwards exactly its 9 frames", async (t) => {
  const s = scoped(t);
  const b = await s.broker();
  await s.worker(b, "", 1);
  const c = s.client(b);
  await c.sendRaw(["", "eMQP/1.0", "REQUEST", "poison", "default", "guarantee", JOB(), Buffer.from([0xff])]);
  t.equal((await result(c, "poison")).error.code, "EBADJOB", "refused, not forwarded to a worker");
  const sched = s.client(b);
  await sched.send("INFORM", "", "scheduler");
  await sched.nextCommand("ACK");
  await c.sendRaw(["", "eMQP/1.0", "UNSCHEDULE", "u1", "default", "", "-1", JOB(), "", Buffer.from([0xc3])]);
  const got = await sched.nextCommand("UNSCHEDULE");
  t.equal(got.raw.length, 9, "the 10th (non-UTF-8) frame is not forwarded");
});

t.test("a timeout:N beyond setTimeout's range does not fire at once", async (t) => {
  const s = scoped(t);
  const b = await s.broker();
  const w = await s.worker(b, "", 1);
  const c = s.client(b);
  const id = await c.send("REQUEST", "default", "reply-requested,timeout:3000000", JOB());
  await w.nextCommand("REQUEST");
  await sleep(300);
  t.same(c.take(resultFor(id)), [], "no ETIMEDOUT after a few ms");
  await w.send("REPLY", '{"value": "in time"}', id);
  t.same(await result(c, id), { value: "in time" });
});

t.test("a worker reconnecting with the same routing id keeps its new registration", async (t) => {
  const s = scoped(t);
  const b = await s.broker();
  const first = await s.worker(b, "", 1, "same-id");
  const second = await s.worker(b, "", 1, "same-id"); // takes the id over while the first is connected
  first.close(); // (or its reconnects would take the id back: two live peers cannot share one)
  await sleep(200);
  t.equal(brokerWorkerCount(b), 1, "still registered after the old connection was closed");
  const c = s.client(b);
  const id = await c.send("REQUEST", "default", "reply-requested", JOB());
  await answer(second, { value: "second" });
  t.same(await result(c, id), { value: "second" });
});

t.test("the late answer of a timed-out attempt is not taken as the retry's result", async (t) => {
  const s = scoped(t);
  const b = await s.broker({ timeoutGrace: 100 });
  const w = await s.worker(b, "", 2);
  const c = s.client(b);
  const id = await c.send("REQUEST", "default", "reply-requested,retry-count:1,timeout:1", JOB());
  await w.nextCommand("REQUEST");
  const retry = await w.nextCommand("REQUEST", 3000); // the broker timed attempt 1 out and retried here
  t.equal(retry.msgid, id);
  await w.send("REPLY", JSON.stringify({ error: { code: "EJOBFAILED", message: "attempt 1, late" } }), id);
  await sleep(100);
  t.same(c.take(resultFor(id)), [], "attempt 1's late failure is ignored");
  await w.send("REPLY", '{"value": "attempt 2"}', id);
  t.same(await result(c, id), { value: "attempt 2" });
});
