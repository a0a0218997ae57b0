// Worker against a hand-written broker backend (a ROUTER in the test speaking eMQP frames): the
// exact INFORM/READY/REPLY/HEARTBEAT/KBYE frames EventMQ's jobmanager sends, slots and
// concurrency, handler lookup and failures, timeouts with AbortSignal, liveness and re-registration
// (silent broker, broker restart, KBYE), graceful stop, and garbage from the broker (fast-check).

import { Buffer } from "node:buffer";
import t, { type Test } from "tap";
import fc from "fast-check";
import { createLogger } from "../../src/log/logger.js";
import { Worker, WorkerError, type Handler, type JobContext, type WorkerOptions } from "../../src/worker/index.js";
import { closedPort, isPending, sleep, until, within } from "../socket/fake-peer.js";
import { FakeBroker, WAIT, is, type Got } from "./fake-broker.js";

const UUID4 = /^[0-9a-f]{8}-[0-9a-f]{4}-4[0-9a-f]{3}-[89ab][0-9a-f]{3}-[0-9a-f]{12}$/;
const value = (v: string) => `{"value": ${v}}`;
const failure = (code: string, message: string, name?: string) =>
  `{"error": {"code": "${code}", "message": ${JSON.stringify(message)}${name ? `, "name": "${name}"` : ""}}}`;
const isReplyTo = (msgid: string) => (m: Got) => m.cmd === "REPLY" && m.frames[5] === msgid;

async function broker(t: Test, port = 0): Promise<FakeBroker> {
  const b = await FakeBroker.start(port);
  t.teardown(() => b.close());
  return b;
}

function captureLog() {
  const lines: string[] = [];
  return { lines, logger: createLogger({ level: "debug", write: (l) => lines.push(l) }) };
}

function worker(t: Test, b: FakeBroker, options: WorkerOptions = {}): Worker {
  const w = new Worker({ address: b.address, ...options });
  // Handlers that never return are abandoned after 50 ms, so teardown is bounded.
  t.teardown(() => w.stop({ timeout: 50 }));
  return w;
}

/** start() + INFORM + ACK + the READYs; returns the worker's routing id. */
async function registered(w: Worker, b: FakeBroker, readys = w.concurrency): Promise<string> {
  const started = w.start();
  const id = await b.register(readys);
  await within(started, WAIT, "start()");
  return id;
}

/** A promise and its resolve function, for handlers a test releases. */
function gate<T = void>() {
  let open!: (v: T) => void;
  const p = new Promise<T>((r) => (open = r));
  return { p, open };
}

t.test("INFORM is EventMQ's 6 frames; after the ACK exactly `concurrency` READYs; start() resolves at the ACK", async (t) => {
  const b = await broker(t);
  const w = worker(t, b, { concurrency: 3 });
  const started = w.start();
  const inform = await b.take("INFORM");
  t.match(inform.id, UUID4, "routing id is a uuid4");
  t.equal(inform.id, w.routingId);
  t.same(inform.frames, ["", "eMQP/1.0", "INFORM", inform.frames[3], '[[10, "default"]]', "worker"], "INFORM frames");
  t.match(inform.frames[3], UUID4, "INFORM msgid is a uuid4");
  await sleep(150);
  t.same(b.unread(), [], "nothing but the INFORM before the ACK");
  t.ok(await isPending(started), "start() waits for the ACK");
  t.equal(w.registered, false);

  await b.ack(inform);
  await within(started, WAIT, "start()");
  const readys: Got[] = [];
  for (let i = 0; i < 3; i++) readys.push(await b.take("READY"));
  for (const r of readys) {
    t.equal(r.id, inform.id);
    t.same(r.frames, ["", "eMQP/1.0", "READY", r.frames[3]], "READY is 4 frames");
    t.match(r.frames[3], UUID4);
  }
  t.equal(new Set(readys.map((r) => r.frames[3])).size, 3, "each READY has its own msgid");
  await sleep(150);
  t.same(b.unread("READY"), [], "exactly 3 READYs");
  t.equal(w.registered, true);
  t.equal(w.counters.registrations, 1);
});

t.test("a worker started before its broker registers once the broker binds; one INFORM, not a pile", async (t) => {
  const port = await closedPort();
  const w = new Worker({ address: `tcp://127.0.0.1:${port}`, concurrency: 2, informInterval: 150 });
  t.teardown(() => w.stop({ timeout: 50 }));
  const started = w.start();
  await sleep(400); // several informIntervals with nobody there
  t.ok(await isPending(started));
  const b = await broker(t, port);
  const inform = await b.take("INFORM");
  await sleep(50);
  t.same(b.unread("INFORM"), [], "the INFORM queued at start, and no copies of it");
  await b.ack(inform);
  await within(started, WAIT, "start()");
  await b.take("READY");
  await b.take("READY");
});

t.test("INFORM carries the queues as Python's json.dumps writes them", async (t) => {
  const b = await broker(t);
  const w = worker(t, b, { queues: [[20, "heavy"], [10, "café"]] });
  void w.start().catch(() => {});
  const inform = await b.take("INFORM");
  t.equal(inform.frames[4], '[[20, "heavy"], [10, "caf\\u00e9"]]');
});

t.test("no ACK: INFORM again every informInterval while connected; a stray ACK is ignored", async (t) => {
  const b = await broker(t);
  const w = worker(t, b, { concurrency: 2, informInterval: 100 });
  const started = w.start();
  const first = await b.take("INFORM");
  const t0 = Date.now();
  const second = await b.take("INFORM", "the second INFORM", 2000);
  t.ok(Date.now() - t0 >= 60, "not before the interval");
  t.equal(second.id, first.id, "same routing id");
  t.not(second.frames[3], first.frames[3], "a new msgid");

  await b.send(first.id, "ACK", "some-other-msgid");
  await sleep(100);
  t.same(b.unread("READY"), [], "an ACK for an INFORM we did not send does nothing");
  t.ok(await isPending(started));

  await b.ack(first); // an earlier INFORM of this attempt counts
  await within(started, WAIT, "start()");
  await b.take("READY");
  await b.take("READY");
  await b.ack(second);
  await sleep(150);
  t.same(b.unread("READY"), [], "a second ACK adds no READYs");
  b.discard("INFORM");
});

t.test("REQUEST with reply-requested: the handler runs, then REPLY [result, job msgid], then READY", async (t) => {
  const b = await broker(t);
  let ctx: JobContext | undefined;
  let got: unknown[] = [];
  const w = worker(t, b, { concurrency: 1 });
  w.handle("calc.add", (args, kwargs, c) => {
    ctx = c;
    got = [args, kwargs];
    return (args[0] as number) + (args[1] as number);
  });
  const id = await registered(w, b);
  await b.request(id, "job-1", { callable: "add", path: "calc", args: [2, 3], kwargs: { k: "v" }, class_args: [], class_kwargs: {} });
  const reply = await b.next("REPLY");
  t.same(reply.frames, ["", "eMQP/1.0", "REPLY", reply.frames[3], value("5"), "job-1"], "REPLY frames: result first, then the job's msgid");
  t.match(reply.frames[3], UUID4, "the REPLY has its own msgid");
  const ready = await b.next("READY");
  t.equal(ready.cmd, "READY", "READY comes after the REPLY");
  t.same(got, [[2, 3], { k: "v" }]);
  t.equal(ctx?.msgid, "job-1");
  t.equal(ctx?.queue, "default");
  t.same(ctx?.headers, { replyRequested: true });
  t.equal(ctx?.job.path, "calc");
  t.equal(ctx?.signal.aborted, false);
  t.equal(w.counters.completed, 1);
  t.equal(w.counters.received, 1);
});

t.test("handler lookup: path.callable, then path:callable, then callable; results of every JSON kind", async (t) => {
  const b = await broker(t);
  const w = worker(t, b, { concurrency: 1 });
  w.handle("p.f", () => "dotted")
    .handle("p:f", () => "colon")
    .handle("f", () => "bare")
    .handle("q:g", () => ({ nested: [1, "é", null] }))
    .handle("mod:Cls.method", () => true)
    .handle("nothing", () => undefined);
  const id = await registered(w, b);
  const cases: [object, string][] = [
    [{ path: "p", callable: "f" }, value('"dotted"')],
    [{ path: "q", callable: "g" }, value('{"nested": [1, "\\u00e9", null]}')],
    [{ path: "other", callable: "f" }, value('"bare"')],
    [{ callable: "f" }, value('"bare"')],
    [{ path: "mod:Cls", callable: "method" }, value("true")],
    [{ path: "", callable: "nothing" }, value("null")],
  ];
  for (const [i, [job, expected]] of cases.entries()) {
    await b.request(id, `j${i}`, job);
    const r = await b.take(isReplyTo(`j${i}`), `REPLY j${i}`);
    t.equal(r.frames[4], expected, JSON.stringify(job));
    await b.take("READY");
  }
});

t.test("a value JSON cannot carry (a cycle, a function) fails the job with EJOBFAILED", async (t) => {
  const b = await broker(t);
  const cyclic: Record<string, unknown> = {};
  cyclic.self = cyclic;
  const w = worker(t, b, { concurrency: 1, handlers: { cycle: () => cyclic, fn: () => () => 1, big: () => 2n ** 70n } });
  const id = await registered(w, b);
  for (const name of ["cycle", "fn"]) {
    await b.request(id, name, { callable: name });
    const r = await b.next(`REPLY ${name}`);
    t.match(JSON.parse(r.frames[4]!), { error: { code: "EJOBFAILED", message: /^result is not JSON/ } }, name);
    await b.take("READY");
  }
  await b.request(id, "big", { callable: "big" });
  t.equal((await b.next()).frames[4], value("1180591620717411303424"), "a BigInt is written as its digits, as Python writes an int");
  t.equal(w.counters.failed, 2);
  t.equal(w.counters.completed, 1);
});

t.test("without reply-requested: the job runs, no REPLY, but READY", async (t) => {
  const b = await broker(t);
  const ran: string[] = [];
  const w = worker(t, b, { concurrency: 1, handlers: { touch: (args) => void ran.push(String(args[0])) } });
  const id = await registered(w, b);
  await b.request(id, "m1", { callable: "touch", args: ["a"] }, "");
  t.equal((await b.next()).cmd, "READY", "READY, no REPLY");
  await b.request(id, "m2", { callable: "touch", args: ["b"] }, "guarantee,retry-count:2");
  t.equal((await b.next()).cmd, "READY");
  t.same(ran, ["a", "b"]);
  await sleep(100);
  t.same(b.unread("REPLY"), [], "never a REPLY");
});

t.test("a handler that throws or rejects: EJOBFAILED with the message and class name, then READY", async (t) => {
  const b = await broker(t);
  const w = worker(t, b, {
    concurrency: 1,
    handlers: {
      sync: () => {
        throw new TypeError("kaboom");
      },
      async: async () => {
        throw new RangeError("too far");
      },
      str: () => Promise.reject("just a string"),
    },
  });
  const id = await registered(w, b);
  const expect: Record<string, string> = {
    sync: failure("EJOBFAILED", "kaboom", "TypeError"),
    async: failure("EJOBFAILED", "too far", "RangeError"),
    str: failure("EJOBFAILED", "just a string"),
  };
  for (const [name, expected] of Object.entries(expect)) {
    await b.request(id, name, { callable: name });
    const r = await b.next(`REPLY for ${name}`);
    t.same(r.frames.slice(4), [expected, name], name);
    t.equal((await b.next()).cmd, "READY");
  }
  t.equal(w.counters.failed, 3);
  t.equal(w.counters.completed, 0);
});

t.test("no handler for the job: ENOHANDLER naming what was tried; READY", async (t) => {
  const b = await broker(t);
  const w = worker(t, b, { concurrency: 1, handlers: { known: () => 1 } });
  const id = await registered(w, b);
  await b.request(id, "x", { path: "jobs", callable: "missing" });
  const r = await b.next();
  t.same(r.frames.slice(4), [failure("ENOHANDLER", 'no handler for "jobs.missing", "jobs:missing", "missing"'), "x"]);
  t.equal((await b.next()).cmd, "READY");
});

t.test("bad job body or headers: EBADJOB (REPLY if asked for) and READY; the worker goes on", async (t) => {
  const b = await broker(t);
  const w = worker(t, b, { concurrency: 1, handlers: { ok: () => "fine" } });
  const id = await registered(w, b);
  const cases: [string, string, string][] = [
    ["not json", "reply-requested", failure("EBADJOB", "job body is not JSON")],
    ['["run"]', "reply-requested", failure("EBADJOB", 'job body must be ["run", {callable, path, args, kwargs, ...}]')],
    ['["run", {"callable": "ok", "args": 5}]', "reply-requested", failure("EBADJOB", "job args must be a list")],
    ['["run", {"callable": "ok"}]', "reply-requested,timeout:soon", failure("EBADJOB", 'header timeout needs an integer, got "soon"')],
  ];
  for (const [i, [body, headers, expected]] of cases.entries()) {
    await b.request(id, `bad${i}`, body, headers);
    const r = await b.next();
    t.same(r.frames.slice(2), ["REPLY", r.frames[3], expected, `bad${i}`], body);
    t.equal((await b.next()).cmd, "READY");
  }
  await b.request(id, "quiet", "{oops", "");
  t.equal((await b.next()).cmd, "READY", "no REPLY without reply-requested, but the slot comes back");
  await b.request(id, "good", { callable: "ok" });
  t.same((await b.next()).frames.slice(4), [value('"fine"'), "good"], "and it still runs jobs");
  t.equal(w.counters.failed, 5);
});

t.test("timeout:1 -> ETIMEDOUT after about a second; the handler's signal is aborted", async (t) => {
  const b = await broker(t);
  let signal: AbortSignal | undefined;
  const w = worker(t, b, {
    concurrency: 1,
    handlers: {
      wait: (_a, _k, ctx) => {
        signal = ctx.signal;
        return new Promise((resolve) => ctx.signal.addEventListener("abort", () => resolve("too late")));
      },
    },
  });
  const id = await registered(w, b);
  const t0 = Date.now();
  await b.request(id, "slow", { callable: "wait" }, "reply-requested,timeout:1");
  const r = await b.next("REPLY", 4000);
  const took = Date.now() - t0;
  t.same(r.frames.slice(4), [failure("ETIMEDOUT", "the job ran past its timeout of 1 s"), "slow"]);
  t.ok(took >= 950 && took < 2500, `after about 1 s (${took} ms)`);
  t.equal(signal?.aborted, true, "signal aborted");
  t.equal((signal?.reason as WorkerError).code, "ETIMEDOUT", "abort reason has code ETIMEDOUT");
  t.equal((await b.next()).cmd, "READY");
  await sleep(100);
  t.same(b.unread("REPLY"), [], "the handler's late value is not sent");
});

t.test("the worker's default timeout applies without a header; a handler that ignores the signal is overdue", async (t) => {
  const b = await broker(t);
  const late = gate<string>();
  const w = worker(t, b, { concurrency: 1, timeout: 0.2, handlers: { stuck: () => late.p, quick: () => 1 } });
  const id = await registered(w, b);
  await b.request(id, "s", { callable: "stuck" });
  const r = await b.next("REPLY", 2000);
  t.equal(r.frames[4], failure("ETIMEDOUT", "the job ran past its timeout of 0.2 s"));
  t.equal(w.counters.overdue, 1, "the handler still runs");
  await sleep(100);
  t.same(b.unread("READY"), [], "its slot is not offered while it runs on (concurrency bounds what runs)");
  late.open("finally");
  await until(() => w.counters.overdue === 0, "overdue back to 0");
  t.equal((await b.next()).cmd, "READY", "the slot is given back once the handler really ended");
  await b.request(id, "q", { callable: "quick" });
  t.equal((await b.next()).frames[4], value("1"), "the freed slot runs the next job");
  await b.next("READY");
  await sleep(50);
  t.same(b.unread("REPLY"), [], "its result is dropped");
});

t.test("concurrency: never more than N handlers at once, with a broker that spends READYs as credit", async (t) => {
  const b = await broker(t);
  let now = 0;
  let max = 0;
  const w = worker(t, b, {
    concurrency: 3,
    handlers: {
      work: async (args) => {
        max = Math.max(max, ++now);
        await sleep(Number(args[0]));
        now--;
        return args[0];
      },
    },
  });
  const id = await registered(w, b, 0);
  const jobs = Array.from({ length: 12 }, (_, i) => 5 + ((i * 7) % 20));
  let sent = 0;
  let credit = 0;
  const replies = new Map<string, string>();
  while (replies.size < jobs.length) {
    const m = await b.next("READY or REPLY");
    if (m.cmd === "READY") credit++;
    if (m.cmd === "REPLY") replies.set(m.frames[5]!, m.frames[4]!);
    while (credit > 0 && sent < jobs.length) {
      credit--;
      await b.request(id, `w${sent}`, { callable: "work", args: [jobs[sent]] });
      sent++;
    }
  }
  t.equal(max, 3, "exactly 3 at once at the peak");
  for (const [i, ms] of jobs.entries()) t.equal(replies.get(`w${i}`), value(String(ms)));
});

t.test("concurrency: a broker that sends more jobs than READYs still gets at most N at once, and no extra READYs", async (t) => {
  const b = await broker(t);
  let now = 0;
  let max = 0;
  const w = worker(t, b, {
    concurrency: 2,
    handlers: {
      work: async () => {
        max = Math.max(max, ++now);
        await sleep(20);
        now--;
      },
    },
  });
  const id = await registered(w, b);
  for (let i = 0; i < 5; i++) await b.request(id, `o${i}`, { callable: "work" });
  await until(() => w.counters.waiting === 3, "3 jobs waiting for a slot");
  for (let i = 0; i < 5; i++) await b.take(isReplyTo(`o${i}`), `REPLY o${i}`);
  await b.take("READY");
  await b.take("READY");
  await sleep(100);
  t.same(b.unread("READY"), [], "2 READYs: the offers match the slots again");
  t.equal(max, 2);
  t.equal(w.counters.completed, 5);
});

t.test("HEARTBEAT every heartbeatInterval once registered, none before", async (t) => {
  const b = await broker(t);
  const w = worker(t, b, { concurrency: 1, heartbeatInterval: 40 });
  const started = w.start();
  const inform = await b.take("INFORM");
  await sleep(200);
  t.same(b.unread("HEARTBEAT"), [], "no HEARTBEAT before the ACK");
  await b.ack(inform);
  await within(started, WAIT, "start()");
  const t0 = Date.now();
  const hbs: Got[] = [];
  for (let i = 0; i < 4; i++) hbs.push(await b.take("HEARTBEAT", `HEARTBEAT #${i + 1}`, 2000));
  t.ok(Date.now() - t0 >= 100, "spaced by the interval");
  for (const h of hbs) {
    t.same(h.frames.slice(0, 3), ["", "eMQP/1.0", "HEARTBEAT"]);
    t.equal(h.frames.length, 5);
    t.match(h.frames[3], UUID4);
    t.match(h.frames[4], /^\d+(\.\d+)?$/, "time is seconds as a decimal");
    t.ok(Math.abs(Number(h.frames[4]) * 1000 - Date.now()) < 5000, "time is now");
  }
});

t.test("liveness: a broker silent for heartbeatLiveness windows -> a new DEALER with a new routing id INFORMs", async (t) => {
  const b = await broker(t);
  const { lines, logger } = captureLog();
  const w = worker(t, b, { concurrency: 2, heartbeatInterval: 30, heartbeatTimeout: 100, heartbeatLiveness: 3, logger });
  const reasons: string[] = [];
  w.on("reconnect", (e) => reasons.push(e.reason));
  const oldId = await registered(w, b);
  const t0 = Date.now();
  const disconnected = within(new Promise<void>((r) => b.router.events.on("disconnect", (e) => e.routingId?.toString() === oldId && r())), 3000, "old connection closed");
  const inform = await b.take("INFORM", "INFORM after liveness", 3000);
  const took = Date.now() - t0;
  await disconnected;
  t.ok(took >= 250 && took < 1500, `after 3 silent windows of 100 ms (${took} ms)`);
  t.not(inform.id, oldId, "a new routing id");
  t.match(inform.id, UUID4);
  t.equal(w.routingId, inform.id);
  t.equal(w.registered, false);
  t.same(reasons, ["liveness"]);
  t.ok(lines.some((l) => l.includes("silent") && l.includes("new routing id")), "logged why");
  await b.ack(inform);
  await b.take((m) => m.cmd === "READY" && m.id === inform.id);
  await b.take((m) => m.cmd === "READY" && m.id === inform.id);
  t.equal(w.registered, true);
});

t.test("liveness: a broker that keeps talking keeps the worker where it is", async (t) => {
  const b = await broker(t);
  const w = worker(t, b, { concurrency: 1, heartbeatTimeout: 100, heartbeatLiveness: 3 });
  const id = await registered(w, b);
  const timer = setInterval(() => void b.send(id, "HEARTBEAT", String(Date.now() / 1000)).catch(() => {}), 25);
  t.teardown(() => clearInterval(timer));
  await sleep(700);
  clearInterval(timer);
  t.same(b.unread("INFORM"), [], "no new INFORM in 7 windows");
  t.equal(w.routingId, id);
});

t.test("broker restart on the same port: the worker re-INFORMs (same id) and offers only its free slots", async (t) => {
  const b = await broker(t);
  const release = gate<string>();
  const w = worker(t, b, { concurrency: 2, handlers: { hold: () => release.p } });
  const reasons: string[] = [];
  w.on("reconnect", (e) => reasons.push(e.reason));
  const id = await registered(w, b);
  await b.request(id, "held", { callable: "hold" });
  await until(() => w.counters.running === 1, "the job runs");
  const port = b.port;
  b.close();
  await until(() => !w.registered, "the worker notices the lost connection");

  const b2 = await broker(t, port);
  const inform = await b2.take("INFORM", "INFORM to the restarted broker");
  t.equal(inform.id, id, "same routing id");
  t.same(inform.frames.slice(0, 3), ["", "eMQP/1.0", "INFORM"]);
  t.same(reasons, ["reconnected"]);
  await b2.ack(inform);
  await b2.take("READY");
  await sleep(150);
  t.same(b2.unread("READY"), [], "one READY: the other slot is busy");
  release.open("done at last");
  const r = await b2.take("REPLY");
  t.same(r.frames.slice(4), [value('"done at last"'), "held"], "the running job's REPLY goes to the new broker");
  await b2.take("READY");
});

t.test("KBYE from the broker: registered -> INFORM again at once; while registering it is ignored", async (t) => {
  const b = await broker(t);
  const release = gate();
  const w = worker(t, b, { concurrency: 3, handlers: { hold: () => release.p } });
  const id = await registered(w, b);
  await b.request(id, "h", { callable: "hold" }, "");
  await until(() => w.counters.running === 1, "one job runs");
  await b.send(id, "KBYE");
  const inform = await b.take("INFORM", "INFORM after KBYE");
  t.equal(inform.id, id, "same routing id");
  t.equal(w.registered, false);

  await b.send(id, "KBYE"); // not registered yet: our INFORM is already on its way
  await sleep(150);
  t.same(b.unread("INFORM"), [], "no second INFORM");
  await b.ack(inform);
  await b.take("READY");
  await b.take("READY");
  await sleep(100);
  t.same(b.unread("READY"), [], "2 READYs for the 2 free slots");
  release.open();
  await b.take("READY");
});

t.test("stop(): KBYE at once, no more jobs, running jobs finish and REPLY, no READY, then resolves", async (t) => {
  const b = await broker(t);
  const release = gate<string>();
  const release2 = gate<string>();
  const ran: string[] = [];
  const w = worker(t, b, {
    concurrency: 2,
    handlers: {
      hold: () => release.p,
      other: () => (ran.push("other"), release2.p),
    },
  });
  const id = await registered(w, b);
  await b.request(id, "running", { callable: "hold" });
  await until(() => w.counters.running === 1, "the job runs");
  const stopped = w.stop();
  const kbye = await b.take("KBYE");
  t.same(kbye.frames, ["", "eMQP/1.0", "KBYE", kbye.frames[3]], "KBYE is 4 frames");
  t.ok(await isPending(stopped), "stop() waits for the running job");

  // A job that crossed the KBYE, sent against the slot we had offered: it runs (the broker
  // counts it as ours) and the drain waits for it.
  await b.request(id, "crossed", { callable: "other" });
  await until(() => ran.length === 1, "the crossing job to run in the free slot");
  // With every slot busy, one more is not run.
  await b.request(id, "extra", { callable: "other" });
  await sleep(100);
  t.same(ran, ["other"], "a job beyond concurrency after KBYE does not run");
  release2.open("crossed done");
  t.same((await b.take("REPLY")).frames.slice(5), ["crossed"]);
  release.open("finished");
  const r = await b.take("REPLY");
  t.same(r.frames.slice(4), [value('"finished"'), "running"]);
  await within(stopped, WAIT, "stop()");
  await sleep(100);
  t.same(b.unread((m) => m.cmd !== "HEARTBEAT"), [], "no READY and nothing else after KBYE");
  t.equal(w.counters.completed, 2);
  await within(w.stop(), 100, "stop() again resolves too");
  await t.rejects(w.start(), { code: "EINVAL" }, "a stopped worker cannot start again");
});

t.test("stop({timeout}) gives up on handlers that never return: ESHUTDOWN, signal aborted", async (t) => {
  const b = await broker(t);
  let signal: AbortSignal | undefined;
  const w = worker(t, b, {
    concurrency: 1,
    handlers: {
      forever: (_a, _k, ctx) => {
        signal = ctx.signal;
        return new Promise(() => {});
      },
    },
  });
  const id = await registered(w, b);
  await b.request(id, "f", { callable: "forever" });
  await until(() => w.counters.running === 1, "the job runs");
  const t0 = Date.now();
  await within(w.stop({ timeout: 100 }), 2000, "stop()");
  t.ok(Date.now() - t0 >= 90, "waited the timeout");
  await b.take("KBYE");
  const r = await b.take("REPLY");
  t.same(r.frames.slice(4), [failure("ESHUTDOWN", "the worker stopped after waiting 100 ms for the job"), "f"]);
  t.equal(signal?.aborted, true);
});

t.test("stop() before the ACK: start() rejects with ECLOSED; stop() before start() is a no-op", async (t) => {
  const b = await broker(t);
  const w = worker(t, b);
  const started = w.start();
  await b.take("INFORM");
  await within(w.stop(), WAIT, "stop()");
  await t.rejects(started, { code: "ECLOSED" });
  const idle = new Worker({ address: b.address });
  await within(idle.stop(), 100, "stop() of a worker never started");
  t.equal(idle.routingId, "");
});

t.test("a malformed message from the broker is logged with its reason and dropped", async (t) => {
  const b = await broker(t);
  const { lines, logger } = captureLog();
  const w = worker(t, b, { concurrency: 1, logger, handlers: { ok: () => "ok" } });
  const id = await registered(w, b);
  const dropped: string[] = [];
  w.on("dropped", (e) => dropped.push(e.reason));
  await b.raw(id, ["", "eMQP/1.0"]);
  await b.raw(id, ["x", "eMQP/1.0", "ACK", "m", "a"]);
  await b.raw(id, ["", "eMQP/0.9", "ACK", "m", "a"]);
  await b.raw(id, ["", "eMQP/1.0", "REQUEST", "m", "default"]);
  await b.raw(id, ["", "eMQP/1.0", Buffer.from([0xff, 0xfe]), "m"]);
  await b.raw(id, ["", "eMQP/1.0", "INFORM", "m", "[]", "worker"]);
  await b.raw(id, ["", "eMQP/1.0", "HELLO", "m"]);
  await until(() => dropped.length === 7, "7 drops");
  t.same(dropped, ["too-few-frames", "bad-delimiter", "unsupported-version", "too-few-frames", "not-utf8", "unexpected-command", "unexpected-command"]);
  t.ok(lines.some((l) => l.includes("WARN") && l.includes("reason=too-few-frames") && l.includes("REQUEST needs 3 body frame(s)")), "logged with the reason");
  t.equal(w.counters.dropped, 7);
  await b.request(id, "after", { callable: "ok" });
  t.same((await b.take("REPLY")).frames.slice(4), [value('"ok"'), "after"], "still works");
});

t.test("random frames from the broker never crash the worker, and it keeps running jobs (fast-check)", async (t) => {
  const b = await broker(t);
  b.autoAck = true; // garbage may include KBYE: let it re-register
  const w = worker(t, b, { concurrency: 2, handlers: { echo: (args) => args, ok: () => "ok" } });
  const id = await registered(w, b);
  const text = fc.oneof(
    fc.string({ maxLength: 12 }),
    fc.constantFrom("", "eMQP/1.0", "ACK", "REQUEST", "KBYE", "kbye", "HEARTBEAT", "READY", "REPLY", "INFORM", "DISCONNECT", "reply-requested", "timeout:1", "timeout:x"),
    fc.constantFrom('["run", {"callable": "echo", "args": [1]}]', '["run", {"callable": "nope"}]', '["run"]', "{}", "[1, 2]", '["run", {"callable": "ok", "kwargs": []}]'),
  );
  const frame = fc.oneof(text.map((s) => Buffer.from(s)), fc.uint8Array({ maxLength: 16 }).map((a) => Buffer.from(a)));
  const envelope = fc
    .tuple(fc.constantFrom("ACK", "REQUEST", "KBYE", "HEARTBEAT", "READY", "REPLY", "request", "X"), fc.array(frame, { maxLength: 5 }))
    .map(([cmd, rest]) => [Buffer.alloc(0), Buffer.from("eMQP/1.0"), Buffer.from(cmd), Buffer.from("g-msgid"), ...rest]);
  const message = fc.oneof(fc.array(frame, { minLength: 1, maxLength: 8 }), envelope);
  let probes = 0;
  let retried = 0;
  await fc.assert(
    fc.asyncProperty(fc.array(message, { minLength: 1, maxLength: 5 }), async (msgs) => {
      for (const m of msgs) await b.raw(id, m);
      // A KBYE among them makes the worker register again; a job sent meanwhile is dropped by
      // design, so the probe is repeated (same msgid) until it is answered.
      const msgid = `probe-${probes++}`;
      const reply = b.take(isReplyTo(msgid), `REPLY ${msgid}`);
      for (let attempt = 0; ; attempt++) {
        await until(() => w.registered, "registered again", 3000);
        let onDrop!: (e: { message: string }) => void;
        const droppedProbe = new Promise<"dropped">((r) => (onDrop = (e) => e.message.includes(msgid) && r("dropped")));
        w.on("dropped", onDrop);
        await b.request(id, msgid, { callable: "echo", args: [msgid] });
        const r = await Promise.race([reply, droppedProbe]).finally(() => w.off("dropped", onDrop));
        if (r === "dropped") {
          retried++;
          if (attempt >= 4) {
            reply.catch(() => {});
            return false;
          }
          continue;
        }
        if (r.frames[4] !== value(`["${msgid}"]`)) return false;
        break;
      }
      b.discard();
      return true;
    }),
    { numRuns: 60 },
  );
  t.equal(w.routingId, id, "never needed a new connection");
  t.comment(`${retried} probes were sent again after a KBYE made the worker register anew`);
  t.ok(w.counters.dropped > 0, `dropped ${w.counters.dropped} malformed messages`);
  t.ok(w.counters.running <= 2);
});

t.test("bad options and arguments fail with EINVAL", async (t) => {
  const bad: WorkerOptions[] = [
    { concurrency: 0 },
    { concurrency: 1.5 },
    { concurrency: Number.NaN },
    { timeout: -1 },
    { heartbeatInterval: 0 },
    { heartbeatLiveness: 0.5 },
    { queues: [] },
    { queues: [[1, ""]] },
    { queues: [["10", "q"]] as unknown as [number, string][] },
    { address: "" },
    { linger: -5 },
  ];
  for (const o of bad) t.throws(() => new Worker(o), { code: "EINVAL", name: "WorkerError" }, JSON.stringify(o));
  const w = new Worker({ address: "tcp://127.0.0.1:1" });
  t.throws(() => w.handle("", () => 1), { code: "EINVAL" });
  t.throws(() => w.handle("x", 5 as unknown as Handler), { code: "EINVAL" });
  t.same(new Worker({ handlers: { a: () => 1, b: () => 2 } }).handlerNames, ["a", "b"]);
  const badAddress = new Worker({ address: "nope://x" });
  await t.rejects(badAddress.start(), { code: "EINVAL" }, "a bad address rejects start()");
  const b = await broker(t);
  const twice = worker(t, b);
  void twice.start().catch(() => {});
  await t.rejects(twice.start(), { code: "EINVAL" }, "start() twice");
});
