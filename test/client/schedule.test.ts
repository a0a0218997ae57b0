// Client.schedule / Client.unschedule against a hand-written broker (a ROUTER in the test): the
// exact 9 SCHEDULE/UNSCHEDULE frames EventMQ's client sends (headers default `guarantee`, interval
// as whole seconds or -1 with the cron string, the job body in EventMQ's spelling), the receipt,
// the ENOSCHEDULER refusal, and argument checks that send nothing.

import t, { type Test } from "tap";
import { Client, EmqClientError, EmqJobError } from "../../src/client/index.js";
import { scope, within } from "../socket/fake-peer.js";
import { FakeBroker, UUID4 } from "./fake-broker.js";

const JOB = { callable: "touch", path: "jobs_demo", args: [1, "α"], kwargs: { k: true } };
const JOB_BODY = '["run", {"callable": "touch", "path": "jobs_demo", "args": [1, "\\u03b1"], "kwargs": {"k": true}, "class_args": [], "class_kwargs": {}}]';

function newClient(t: Test, broker: FakeBroker): Client {
  const c = new Client({ address: broker.address });
  t.teardown(() => c.close());
  return c;
}

t.test("SCHEDULE with an interval: EventMQ's 9 frames; resolves with the msgid on the receipt", async (t) => {
  const broker = await FakeBroker.start(scope(t));
  const c = newClient(t, broker);
  const p = c.schedule("default", JOB, { interval: 38 });
  const m = await broker.next();
  t.equal(m.frames.length, 9, "9 frames after the routing id");
  const [delim, ver, cmd, msgid, queue, headers, interval, body, cron] = m.frames;
  t.same([delim, ver, cmd], ["", "eMQP/1.0", "SCHEDULE"]);
  t.match(msgid, UUID4, "msgid is a uuid4");
  t.same([queue, headers, interval, body, cron], ["default", "guarantee", "38", JOB_BODY, ""], "queue, headers (guarantee by default), interval, job, cron ''");
  await broker.reply(m.id, msgid!);
  t.equal(await within(p, 3000, "schedule() to resolve"), msgid, "resolves with the SCHEDULE's msgid");
});

t.test("SCHEDULE with cron, nohaste and run_count: interval -1 and the headers in EventMQ's order", async (t) => {
  const broker = await FakeBroker.start(scope(t));
  const c = newClient(t, broker);
  const p = c.schedule("reports", JOB, { cron: "*/5 9-17 * * MON-FRI", nohaste: true, runCount: 3 });
  const m = await broker.next();
  t.same(m.frames.slice(2), ["SCHEDULE", m.frames[3], "reports", "guarantee,nohaste,run_count:3", "-1", JOB_BODY, "*/5 9-17 * * MON-FRI"]);
  await broker.reply(m.id, m.frames[3]!);
  await within(p, 3000, "schedule() to resolve");

  const p2 = c.schedule("q", JOB, { interval: 0, guarantee: false });
  const m2 = await broker.next();
  t.same(m2.frames.slice(4), ["q", "", "0", JOB_BODY, ""], "guarantee: false sends no header; interval 0 is allowed");
  await broker.reply(m2.id, m2.frames[3]!);
  await within(p2, 3000, "second schedule() to resolve");
});

t.test("UNSCHEDULE: headers guarantee, interval -1, cron ''", async (t) => {
  const broker = await FakeBroker.start(scope(t));
  const c = newClient(t, broker);
  const p = c.unschedule("default", JOB);
  const m = await broker.next();
  t.same(m.frames.slice(0, 3), ["", "eMQP/1.0", "UNSCHEDULE"]);
  t.same(m.frames.slice(4), ["default", "guarantee", "-1", JOB_BODY, ""]);
  await broker.reply(m.id, m.frames[3]!);
  t.equal(await within(p, 3000, "unschedule() to resolve"), m.frames[3]);
});

t.test("ENOSCHEDULER from the broker rejects with EmqJobError", async (t) => {
  const broker = await FakeBroker.start(scope(t));
  const c = newClient(t, broker);
  for (const call of [() => c.schedule("default", JOB, { interval: 5 }), () => c.unschedule("default", JOB)]) {
    const p = call();
    const m = await broker.next();
    await broker.reply(m.id, m.frames[3]!, JSON.stringify({ error: { code: "ENOSCHEDULER", message: "no scheduler is connected" } }));
    const err = await within(p.then(() => null, (e: unknown) => e), 3000, "the refusal");
    t.ok(err instanceof EmqJobError, `${m.frames[2]}: EmqJobError`);
    t.equal((err as EmqJobError).code, "ENOSCHEDULER");
  }
});

t.test("bad arguments reject with EINVAL and send nothing", async (t) => {
  const broker = await FakeBroker.start(scope(t));
  const c = newClient(t, broker);
  const bad: Array<[string, () => Promise<unknown>]> = [
    ["neither interval nor cron", () => c.schedule("q", JOB, {})],
    ["both interval and cron", () => c.schedule("q", JOB, { interval: 5, cron: "* * * * *" })],
    ["negative interval", () => c.schedule("q", JOB, { interval: -1 })],
    ["fractional interval", () => c.schedule("q", JOB, { interval: 1.5 })],
    ["empty cron", () => c.schedule("q", JOB, { cron: " " })],
    ["runCount 0", () => c.schedule("q", JOB, { interval: 5, runCount: 0 })],
    ["empty queue", () => c.schedule("", JOB, { interval: 5 })],
    ["no callable", () => c.unschedule("q", { callable: "" })],
  ];
  for (const [what, call] of bad) {
    const err = await call().then(() => null, (e: unknown) => e);
    t.ok(err instanceof EmqClientError && err.code === "EINVAL", `${what}: EINVAL`);
  }
  t.ok(await broker.nothingWithin(200), "nothing was sent");
  t.equal(c.pending, 0);
});

t.test("wait: no receipt within the time rejects with ETIMEDOUT", async (t) => {
  const broker = await FakeBroker.start(scope(t));
  const c = newClient(t, broker);
  const p = c.schedule("q", JOB, { interval: 5, wait: 200 });
  await broker.next();
  const err = await within(p.then(() => null, (e: unknown) => e), 3000, "the timeout");
  t.ok(err instanceof EmqClientError && err.code === "ETIMEDOUT");
});
