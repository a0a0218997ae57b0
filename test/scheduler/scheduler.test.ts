// The Scheduler against a hand-written broker frontend (a ROUTER in the test, test/worker's
// FakeBroker) with a hand-moved clock: exact INFORM/HEARTBEAT/REQUEST frames, interval and cron
// runs, nohaste, run_count, UNSCHEDULE of both kinds, re-SCHEDULE replacing, the job hash (the
// reference's vector), persistence across a restart, re-registration on KBYE and liveness, and
// garbage that never crashes it. Then end to end with the real roles over tcp://127.0.0.1:
// Client.schedule -> Broker -> Scheduler -> Broker -> Worker.

import { Buffer } from "node:buffer";
import { mkdtempSync, readFileSync, readdirSync, rmSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import t, { type Test } from "tap";
import fc from "fast-check";
import { Scheduler, type SchedulerOptions } from "../../src/scheduler/scheduler.js";
import { jobHash, jobHashOfBody } from "../../src/scheduler/job-hash.js";
import { STORE_FILE } from "../../src/scheduler/store.js";
import { Client, EmqJobError } from "../../src/client/index.js";
import { Worker } from "../../src/worker/index.js";
import { pyJson } from "../../src/emqp/index.js";
import { silentLogger } from "../../src/log/logger.js";
import { startBroker } from "../broker/peers.js";
import { FakeBroker, WAIT, type Got } from "../worker/fake-broker.js";
import { sleep, until, within } from "../socket/fake-peer.js";
import { FakeClock } from "./fake-clock.js";

const VECTOR = "4658982cab9d32bf1ef9113a9d8bdec01775e2bc";
/** The job of EventMQ's test_schedule_hash, as Python's json.dumps writes it (α escaped). */
const VECTOR_BODY =
  '["run", {"path": "test", "args": [33, "asdf"], "kwargs": {"zeta": "Z", "alpha": "\\u03b1"}, "class_args": [0], "class_kwargs": {"donkey": true, "apple": false}, "callable": "do_the_thing"}]';
const VECTOR_BODY_REORDERED =
  '["run", {"class_kwargs": {"apple": false, "donkey": true}, "args": [33, "asdf"], "class_args": [0], "kwargs": {"alpha": "\\u03b1", "zeta": "Z"}, "path": "test", "callable": "do_the_thing"}]';

const body = (callable: string, args: unknown[] = []) => pyJson(["run", { callable, path: "jobs", args, kwargs: {}, class_args: [], class_kwargs: {} }]);
const T0 = Date.UTC(2024, 0, 1, 0, 0, 30); // 2024-01-01 00:00:30 UTC, a Monday
const SEC = 1000;

interface Setup {
  broker: FakeBroker;
  s: Scheduler;
  clock: FakeClock;
  dir: string;
  /** The scheduler's routing id at the broker. */
  id: string;
}

function tempDir(t: Test): string {
  const dir = mkdtempSync(join(tmpdir(), "emq-scheduler-test-"));
  t.teardown(() => rmSync(dir, { recursive: true, force: true }));
  return dir;
}

async function startScheduler(t: Test, broker: FakeBroker, dir: string, clock: FakeClock, options: SchedulerOptions = {}): Promise<{ s: Scheduler; id: string }> {
  const s = new Scheduler({ address: broker.address, dataDir: dir, clock, timeZone: "UTC", logger: silentLogger, linger: 0, ...options });
  t.teardown(() => s.stop());
  const started = s.start();
  const inform = await broker.take("INFORM", "the scheduler's INFORM");
  await broker.ack(inform);
  await within(started, WAIT, "start() to resolve on the ACK");
  return { s, id: inform.id };
}

async function setup(t: Test, options: SchedulerOptions & { start?: number } = {}): Promise<Setup> {
  const broker = await FakeBroker.start();
  t.teardown(() => broker.close());
  const dir = options.dataDir ?? tempDir(t);
  const clock = new FakeClock(options.start ?? T0);
  const { s, id } = await startScheduler(t, broker, dir, clock, options);
  return { broker, s, clock, dir, id };
}

let seq = 0;
/** The broker forwarding a client's SCHEDULE (or UNSCHEDULE): 9 frames, the client's msgid. */
function forward(x: Setup, command: "SCHEDULE" | "UNSCHEDULE", o: { queue?: string; headers?: string; interval?: number | string; job?: string; cron?: string } = {}): Promise<void> {
  return x.broker.raw(x.id, ["", "eMQP/1.0", command, `client-msg-${++seq}`, o.queue ?? "default", o.headers ?? "", String(o.interval ?? -1), o.job ?? body("f"), o.cron ?? ""]);
}

async function scheduleAndWait(x: Setup, o: Parameters<typeof forward>[2]): Promise<void> {
  const n = x.s.counters.scheduled;
  await forward(x, "SCHEDULE", o);
  await until(() => x.s.counters.scheduled > n, "the SCHEDULE to be taken");
}

const isRequest = (m: Got) => m.cmd === "REQUEST";
const nextRequest = (x: Setup, what = "a REQUEST") => x.broker.take(isRequest, what);
/** "Nothing happens" check: no REQUEST arrives within a short real-time window. */
async function noRequest(x: Setup, ms = 150): Promise<boolean> {
  await sleep(ms);
  return x.broker.unread(isRequest).length === 0;
}
const stored = (dir: string) => JSON.parse(readFileSync(join(dir, STORE_FILE), "utf8")) as { schedules: Array<{ id: string; queue: string; runsLeft: number | null; nextAt: number }> };

// ---- the job hash ------------------------------------------------------------------------------

t.test("job hash: EventMQ's test vector, in both key orders", async (t) => {
  t.equal(jobHashOfBody(VECTOR_BODY), VECTOR);
  t.equal(jobHashOfBody(VECTOR_BODY_REORDERED), VECTOR);
  t.equal(
    jobHash({ callable: "do_the_thing", path: "test", args: [33, "asdf"], kwargs: { zeta: "Z", alpha: "α" }, class_args: [0], class_kwargs: { donkey: true, apple: false } }),
    VECTOR,
  );
  t.not(jobHashOfBody(body("do_the_thing", [33, "asdf"])), VECTOR, "other arguments, another identity");
  t.equal(jobHashOfBody('["run", {"callable": "f"}]'), jobHashOfBody('["x", {"callable": "f", "path": "", "args": [], "kwargs": {}, "class_args": [], "class_kwargs": {}}]'), "missing keys count as their empty defaults; element 0 is not part of it");
});

t.test("job hash: key order never matters, values always do (property)", async (t) => {
  const value = fc.jsonValue({ maxDepth: 2 });
  const dict = fc.dictionary(fc.string({ maxLength: 6 }), value, { maxKeys: 5 });
  const shuffle = (o: Record<string, unknown>, seed: number): Record<string, unknown> => {
    const keys = Object.keys(o);
    const out: Record<string, unknown> = {};
    for (let i = 0; i < keys.length; i++) {
      const k = keys[(i + seed) % keys.length]!;
      const v = o[k];
      // defineProperty: a "__proto__" key must stay an own key, as JSON.parse makes it.
      Object.defineProperty(out, k, { value: v && typeof v === "object" && !Array.isArray(v) ? shuffle(v as Record<string, unknown>, seed + 1) : v, enumerable: true, writable: true, configurable: true });
    }
    return out;
  };
  fc.assert(
    fc.property(fc.string({ minLength: 1, maxLength: 8 }), fc.array(value, { maxLength: 4 }), dict, dict, fc.nat(7), (callable, args, kwargs, class_kwargs, seed) => {
      const job = { callable, path: "p", args, kwargs, class_args: [], class_kwargs };
      const reordered = shuffle({ class_kwargs: shuffle(class_kwargs, seed), kwargs: shuffle(kwargs, seed + 2), args, class_args: [], path: "p", callable }, seed);
      const a = jobHashOfBody(pyJson(["run", job]));
      return a === jobHashOfBody(JSON.stringify(["run", reordered])) && a !== jobHash({ ...job, callable: callable + "x" });
    }),
    { numRuns: 300 },
  );
  t.pass("300 random jobs");
});

// ---- registration ------------------------------------------------------------------------------

t.test("INFORM as a scheduler with queues '', start() resolves on the ACK, HEARTBEATs follow", async (t) => {
  const broker = await FakeBroker.start();
  t.teardown(() => broker.close());
  const s = new Scheduler({ address: broker.address, dataDir: tempDir(t), logger: silentLogger, linger: 0, heartbeatInterval: 100 });
  t.teardown(() => s.stop());
  const started = s.start();
  const inform = await broker.take("INFORM");
  t.same(inform.frames, ["", "eMQP/1.0", "INFORM", inform.frames[3], "", "scheduler"], "'' eMQP/1.0 INFORM msgid '' scheduler");
  t.equal(inform.id, s.routingId, "routing id is the scheduler's");
  t.match(inform.id, /^[0-9a-f]{8}-[0-9a-f]{4}-4[0-9a-f]{3}-[89ab][0-9a-f]{3}-[0-9a-f]{12}$/, "a uuid4 routing id");
  t.notOk(s.registered);
  await broker.ack(inform);
  await within(started, WAIT, "start()");
  t.ok(s.registered);
  const hb = await broker.take("HEARTBEAT");
  t.equal(hb.frames.length, 5);
  t.match(hb.frames[4], /^\d+\.\d+$/, "HEARTBEAT carries str(time.time())");
});

t.test("KBYE from the broker and a silent broker both lead to a new INFORM", async (t) => {
  const broker = await FakeBroker.start();
  t.teardown(() => broker.close());
  const clock = new FakeClock(T0);
  const { s, id } = await startScheduler(t, broker, tempDir(t), clock, { heartbeatInterval: 50, heartbeatTimeout: 100, heartbeatLiveness: 3 });
  await broker.send(id, "KBYE");
  const again = await broker.take("INFORM", "INFORM after KBYE");
  t.equal(again.id, id, "same routing id after KBYE");
  await broker.ack(again);
  await until(() => s.registered, "registered again");
  // Now say nothing: 3 windows of 100 ms later it gives the connection up.
  const fresh = await broker.take("INFORM", "INFORM after 3 silent windows", 3000);
  t.not(fresh.id, id, "a new routing id after the broker went silent");
  t.equal(s.routingId, fresh.id);
});

// ---- firing ------------------------------------------------------------------------------------

t.test("interval: one run at once (haste), then every interval; REQUEST frames exact", async (t) => {
  const x = await setup(t);
  const job = body("tick", [1, "α"]);
  await forward(x, "SCHEDULE", { queue: "q1", headers: "guarantee", interval: 10, job });
  const haste = await nextRequest(x, "the haste run");
  t.same(haste.frames, ["", "eMQP/1.0", "REQUEST", haste.frames[3], "q1", "reply-requested", job], "'' eMQP/1.0 REQUEST msgid queue reply-requested job");
  t.equal(x.s.schedules.length, 1);
  t.equal(x.s.schedules[0]!.nextAt, T0 + 10 * SEC, "next run one interval after creation");
  x.clock.advance(10 * SEC - 1);
  t.ok(await noRequest(x), "nothing before the interval is up");
  x.clock.advance(1);
  const second = await nextRequest(x, "the run at +10 s");
  x.clock.advance(10 * SEC);
  const third = await nextRequest(x, "the run at +20 s");
  const ids = new Set([haste.frames[3], second.frames[3], third.frames[3]]);
  t.equal(ids.size, 3, "a fresh msgid per run");
  t.equal(x.s.counters.fired, 3);
  // A clock that jumps far ahead runs it once, not once per missed interval.
  x.clock.jump(95 * SEC);
  await nextRequest(x, "one run after a jump");
  t.ok(await noRequest(x), "no burst for the missed intervals");
  t.equal(x.s.schedules[0]!.nextAt, T0 + 115 * SEC + 10 * SEC, "carries on one interval from now (T0 + 115 s)");
});

t.test("nohaste: the first run is one interval after creation", async (t) => {
  const x = await setup(t);
  await scheduleAndWait(x, { headers: "guarantee,nohaste", interval: 5 });
  t.ok(await noRequest(x), "no immediate run");
  x.clock.advance(5 * SEC);
  await nextRequest(x, "the first run at +5 s");
});

t.test("cron: runs on the cron's ticks in the chosen zone and keeps its queue", async (t) => {
  const x = await setup(t);
  const job = body("report");
  await scheduleAndWait(x, { queue: "reports", headers: "nohaste", interval: -1, cron: "*/5 * * * *", job });
  t.equal(x.s.schedules[0]!.kind, "cron");
  t.equal(x.s.schedules[0]!.nextAt, Date.UTC(2024, 0, 1, 0, 5), "next tick 00:05 UTC");
  x.clock.advanceTo(Date.UTC(2024, 0, 1, 0, 4, 59, 999));
  t.ok(await noRequest(x), "nothing before 00:05");
  x.clock.advance(1);
  const r = await nextRequest(x, "the 00:05 run");
  t.same(r.frames.slice(4), ["reports", "reply-requested", job], "a cron job keeps its queue (EventMQ's goes to default)");
  x.clock.advanceTo(Date.UTC(2024, 0, 1, 0, 10));
  await nextRequest(x, "the 00:10 run");

  // Names, ranges and lists: 09:30 on weekdays in January; 2024-01-01 is a Monday.
  await scheduleAndWait(x, { queue: "q", headers: "nohaste", interval: -1, cron: "30 9 * JAN MON-FRI", job: body("weekday") });
  const next = x.s.schedules.find((s) => s.cron === "30 9 * JAN MON-FRI")!;
  t.equal(next.nextAt, Date.UTC(2024, 0, 1, 9, 30));
});

t.test("cron in local time follows TZ", async (t) => {
  // The test process's zone is whatever it is; compare with what the cron module computes.
  const x = await setup(t, { timeZone: "local" });
  await scheduleAndWait(x, { headers: "nohaste", interval: -1, cron: "0 12 * * *" });
  const want = new Date(T0);
  want.setHours(12, 0, 0, 0);
  if (want.getTime() <= T0) want.setDate(want.getDate() + 1);
  t.equal(x.s.schedules[0]!.nextAt, want.getTime(), "noon local time");
});

t.test("run_count: at most N runs, the haste run included; then the schedule is gone", async (t) => {
  const x = await setup(t);
  await forward(x, "SCHEDULE", { headers: "run_count:2", interval: 10, job: body("twice") });
  await nextRequest(x, "run 1 (haste)");
  x.clock.advance(10 * SEC);
  await nextRequest(x, "run 2");
  t.equal(x.s.schedules.length, 0, "removed after its last run");
  x.clock.advance(60 * SEC);
  t.ok(await noRequest(x), "no third run");
  t.same(stored(x.dir).schedules, [], "the file no longer holds it");

  // A cron job with haste and run_count:1 (EventMQ raises KeyError here): one run, then removed.
  await forward(x, "SCHEDULE", { headers: "run_count:1", interval: -1, cron: "* * * * *", job: body("once") });
  await nextRequest(x, "the single cron run");
  await until(() => x.s.schedules.length === 0, "the cron schedule removed");
  x.clock.advance(5 * 60 * SEC);
  t.ok(await noRequest(x), "no more runs");

  // nohaste + run_count:3: three ticks.
  await scheduleAndWait(x, { headers: "nohaste,run_count:3", interval: 1, job: body("thrice") });
  for (let i = 1; i <= 5; i++) x.clock.advance(SEC);
  for (let i = 1; i <= 3; i++) await nextRequest(x, `run ${i} of 3`);
  t.ok(await noRequest(x), "exactly three");
});

t.test("UNSCHEDULE removes interval and cron schedules by the job alone", async (t) => {
  const x = await setup(t);
  await scheduleAndWait(x, { headers: "nohaste", interval: 10, job: body("a") });
  await scheduleAndWait(x, { headers: "nohaste", interval: -1, cron: "* * * * *", job: VECTOR_BODY });
  t.equal(x.s.schedules.length, 2);
  // EventMQ's client sends interval -1 and cron '' and another queue may be named: only the job counts.
  await forward(x, "UNSCHEDULE", { queue: "elsewhere", headers: "guarantee", job: body("a") });
  await forward(x, "UNSCHEDULE", { headers: "guarantee", job: VECTOR_BODY_REORDERED });
  await until(() => x.s.counters.unscheduled === 2, "both removed");
  t.same(x.s.schedules, []);
  x.clock.advance(10 * 60 * SEC);
  t.ok(await noRequest(x), "neither runs any more");
  // An UNSCHEDULE for something we do not hold is fine (they go to every scheduler).
  await forward(x, "UNSCHEDULE", { job: body("unknown") });
  await sleep(50);
  t.equal(x.s.counters.unscheduled, 2);
  t.equal(x.s.counters.dropped, 0);
});

t.test("SCHEDULE of the same job again replaces it (interval -> cron, new queue)", async (t) => {
  const x = await setup(t);
  await scheduleAndWait(x, { queue: "q1", headers: "nohaste", interval: 10, job: VECTOR_BODY });
  await scheduleAndWait(x, { queue: "q2", headers: "nohaste", interval: -1, cron: "0 * * * *", job: VECTOR_BODY_REORDERED });
  t.equal(x.s.schedules.length, 1, "one schedule per job identity");
  t.equal(x.s.schedules[0]!.id, VECTOR);
  t.equal(x.s.schedules[0]!.kind, "cron");
  t.equal(x.s.schedules[0]!.queue, "q2");
  x.clock.advance(30 * SEC);
  t.ok(await noRequest(x), "the interval schedule is gone");
  x.clock.advanceTo(Date.UTC(2024, 0, 1, 1, 0));
  const r = await nextRequest(x, "the cron run at 01:00");
  t.equal(r.frames[4], "q2");
});

// ---- persistence -------------------------------------------------------------------------------

t.test("a restarted scheduler keeps its schedules (phase kept; a missed run goes once)", async (t) => {
  const broker = await FakeBroker.start();
  t.teardown(() => broker.close());
  const dir = tempDir(t);
  const clock1 = new FakeClock(T0);
  const first = await startScheduler(t, broker, dir, clock1);
  const x1: Setup = { broker, s: first.s, clock: clock1, dir, id: first.id };
  await scheduleAndWait(x1, { queue: "keep", headers: "nohaste,run_count:5", interval: 60, job: body("kept") });
  await scheduleAndWait(x1, { queue: "cron", headers: "nohaste", interval: -1, cron: "0 0 * * *", job: body("nightly") });
  const file = stored(dir);
  t.equal(file.schedules.length, 2, "both are in the file");
  t.same(readdirSync(dir), [STORE_FILE], "no temporary file left behind");
  await first.s.stop();

  // Restart 30 s later: nothing was missed; the interval schedule keeps its phase.
  const clock2 = new FakeClock(T0 + 30 * SEC);
  const second = await startScheduler(t, broker, dir, clock2);
  const x2: Setup = { broker, s: second.s, clock: clock2, dir, id: second.id };
  t.equal(x2.s.schedules.length, 2, "both loaded");
  t.ok(await noRequest(x2), "nothing runs at start");
  clock2.advance(30 * SEC);
  const r = await nextRequest(x2, "the interval run at T0 + 60 s");
  t.equal(r.frames[4], "keep");
  t.equal(r.id, second.s.routingId, "sent by the new scheduler");
  t.equal(stored(dir).schedules.find((s) => s.queue === "keep")!.runsLeft, 4, "run_count is persisted");
  await second.s.stop();

  // Restart after 10 minutes and past midnight: each schedule runs once at start, not once per miss.
  const clock3 = new FakeClock(Date.UTC(2024, 0, 2, 0, 3));
  const third = await startScheduler(t, broker, dir, clock3);
  const x3: Setup = { broker, s: third.s, clock: clock3, dir, id: third.id };
  const a = await nextRequest(x3, "held run 1");
  const b = await nextRequest(x3, "held run 2");
  t.same([a.frames[4], b.frames[4]].sort(), ["cron", "keep"], "one held run each");
  t.ok(await noRequest(x3), "no more than one per schedule");
  const keep = x3.s.schedules.find((s) => s.queue === "keep")!;
  t.equal(keep.runsLeft, 3);
  t.equal(keep.nextAt, Date.UTC(2024, 0, 2, 0, 3) + 60 * SEC, "carries on one interval from the start");
  t.equal(x3.s.schedules.find((s) => s.queue === "cron")!.nextAt, Date.UTC(2024, 0, 3), "next midnight");
});

t.test("an unreadable schedules file is moved aside and the scheduler starts empty", async (t) => {
  const dir = tempDir(t);
  writeFileSync(join(dir, STORE_FILE), "{ not json");
  const x = await setup(t, { dataDir: dir });
  t.same(x.s.schedules, []);
  t.ok(readdirSync(dir).some((f) => f.startsWith(`${STORE_FILE}.corrupt-`)), "the old file is kept aside");
  await scheduleAndWait(x, { headers: "nohaste", interval: 5 });
  t.equal(stored(dir).schedules.length, 1, "a new file is written");
});

// ---- garbage -----------------------------------------------------------------------------------

t.test("garbage SCHEDULEs and frames are dropped; the scheduler keeps working", async (t) => {
  const x = await setup(t);
  const send = (frames: (string | Buffer)[]) => x.broker.raw(x.id, frames);
  const sched = (queue: string, headers: string, interval: string, job: string, cron: string) => send(["", "eMQP/1.0", "SCHEDULE", "m", queue, headers, interval, job, cron]);
  const refused: Array<[string, () => Promise<void>]> = [
    ["job not JSON", () => sched("q", "", "5", "{nope", "")],
    ["job without callable", () => sched("q", "", "5", '["run", {}]', "")],
    ["job not a list", () => sched("q", "", "5", '{"callable": "f"}', "")],
    ["interval not a number", () => sched("q", "", "five", body("f"), "")],
    ["interval fractional", () => sched("q", "", "1.5", body("f"), "")],
    ["cron empty", () => sched("q", "", "-1", body("f"), "")],
    ["cron bad field", () => sched("q", "", "-1", body("f"), "61 * * * *")],
    ["cron 6 fields", () => sched("q", "", "-1", body("f"), "0 0 * * * *")],
    ["cron never fires", () => sched("q", "", "-1", body("f"), "0 0 30 2 *")],
    ["run_count not a number", () => sched("q", "run_count:x", "5", body("f"), "")],
    ["run_count:0", () => sched("q", "run_count:0", "5", body("f"), "")],
    ["too few frames", () => send(["", "eMQP/1.0", "SCHEDULE", "m", "q", ""])],
    ["not UTF-8", () => send(["", "eMQP/1.0", "SCHEDULE", "m", Buffer.from([0xff, 0xfe]), "", "5", body("f"), ""])],
    ["bad version", () => send(["", "eMQP/9.9", "SCHEDULE", "m", "q", "", "5", body("f"), ""])],
    ["unknown command", () => send(["", "eMQP/1.0", "HELLO", "m"])],
    ["UNSCHEDULE with a bad job", () => send(["", "eMQP/1.0", "UNSCHEDULE", "m", "q", "", "-1", "[1]", ""])],
    ["a REQUEST (not for schedulers)", () => send(["", "eMQP/1.0", "REQUEST", "m", "q", "", body("f")])],
  ];
  for (const [what, go] of refused) {
    const before = x.s.counters.dropped;
    await go();
    await until(() => x.s.counters.dropped === before + 1, `${what}: dropped`);
  }
  t.same(x.s.schedules, [], "nothing was scheduled");
  t.equal(x.broker.unread(isRequest).length, 0, "nothing was run");

  // Random frames after a valid envelope, or none at all.
  await fc.assert(
    fc.asyncProperty(
      fc.array(fc.oneof(fc.string({ maxLength: 12 }), fc.uint8Array({ maxLength: 12 }).map((a) => Buffer.from(a))), { maxLength: 8 }),
      fc.boolean(),
      async (rest, envelope) => {
        await send(envelope ? ["", "eMQP/1.0", "SCHEDULE", "m", ...rest] : rest.length ? rest : [""]);
      },
    ),
    { numRuns: 150 },
  );
  await sleep(100);
  t.ok(x.s.registered, "still registered");
  await forward(x, "SCHEDULE", { queue: "after", interval: 5, job: body("still-works") });
  const r = await nextRequest(x, "a valid SCHEDULE still runs");
  t.equal(r.frames[4], "after");
});

// ---- end to end --------------------------------------------------------------------------------

t.test("end to end: Client.schedule -> Broker -> Scheduler -> Broker -> Worker, then unschedule", async (t) => {
  const broker = await startBroker({ heartbeatInterval: 200 });
  t.teardown(() => broker.stop());
  const client = new Client({ address: broker.endpoints.frontend!, logger: silentLogger });
  t.teardown(() => client.close());
  const job = { callable: "beat", path: "e2e", args: ["α"] };

  // No scheduler yet: the broker refuses instead of dropping the SCHEDULE.
  const refused = await client.schedule("default", job, { interval: 1 }).then(() => null, (e: unknown) => e);
  t.ok(refused instanceof EmqJobError && refused.code === "ENOSCHEDULER", "ENOSCHEDULER without a scheduler");

  const runs: number[] = [];
  const worker = new Worker({ address: broker.endpoints.backend!, logger: silentLogger });
  worker.handle("e2e.beat", (args) => {
    runs.push(Date.now());
    return args[0];
  });
  t.teardown(() => worker.stop({ timeout: 100 }));
  await within(worker.start(), WAIT, "the worker to register");

  const s = new Scheduler({ address: broker.endpoints.frontend!, dataDir: tempDir(t), logger: silentLogger, linger: 0 });
  t.teardown(() => s.stop());
  await within(s.start(), WAIT, "the scheduler to register");
  const results: boolean[] = [];
  s.on("result", (r) => results.push(r.ok));

  const start = Date.now();
  await within(client.schedule("default", job, { interval: 1 }), WAIT, "the SCHEDULE receipt");
  await until(() => runs.length >= 3, "three runs (haste, +1 s, +2 s)", 6000);
  const took = Date.now() - start;
  t.ok(took >= 1800, `three runs take about 2 s (${took} ms)`);
  t.ok(runs[0]! - start < 900, "the first run is immediate (haste)");
  await until(() => results.length >= 3, "the results came back to the scheduler");
  t.ok(results.every(Boolean), "the jobs succeeded");

  await within(client.unschedule("default", job), WAIT, "the UNSCHEDULE receipt");
  await until(() => s.schedules.length === 0, "the schedule removed");
  const count = runs.length;
  await sleep(1500);
  t.ok(runs.length <= count + 1, `no more runs after UNSCHEDULE (${runs.length - count} in flight)`);
});

t.test("a run that falls due while the broker is unreachable goes once when it is back", async (t) => {
  const broker = await FakeBroker.start();
  const port = broker.port;
  const dir = tempDir(t);
  const clock = new FakeClock(T0);
  const { s, id } = await startScheduler(t, broker, dir, clock);
  const x: Setup = { broker, s, clock, dir, id };
  await scheduleAndWait(x, { headers: "nohaste", interval: 10, job: body("patient") });
  broker.close();
  await until(() => s.schedules.length === 1 && !(s as unknown as { connected: boolean }).connected, "the scheduler to notice the broker is gone");
  clock.advance(35 * SEC); // three runs fall due while it is away
  t.ok(s.schedules[0]!.held, "the run is held");
  const back = await FakeBroker.start(port);
  t.teardown(() => back.close());
  const inform = await back.take("INFORM", "INFORM on reconnect");
  t.equal(inform.id, id, "same routing id after a reconnect");
  const r = await back.take(isRequest, "the held run");
  t.equal(r.frames[6], body("patient"));
  await back.ack(inform);
  await sleep(150);
  t.equal(back.unread(isRequest).length, 0, "one run for the three missed");
  t.notOk(s.schedules[0]!.held);
});
