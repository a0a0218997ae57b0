// Admin against a hand-written broker: the exact frames of each admin command, answers in our
// broker's shape (`REPLY [json, request_msgid]`, matched by msgid) and EventMQ's (`REPLY [json]`,
// matched by order), shutdown's ACK, and timeouts.

import t, { type Test } from "tap";
import { Admin, EmqClientError, type StatusReport, type WorkersReport } from "../../src/client/index.js";
import { closedPort, scope, within } from "../socket/fake-peer.js";
import { FakeBroker, UUID4, type Received } from "./fake-broker.js";

function newAdmin(t: Test, broker: FakeBroker | string, timeout = 3000): Admin {
  const a = new Admin({ address: typeof broker === "string" ? broker : broker.address, timeout });
  t.teardown(() => a.close());
  return a;
}

/** Reads one admin command and checks its frames: `'' eMQP/1.0 CMD admin:<uuid4>`. */
async function nextCommand(t: Test, broker: FakeBroker, command: string): Promise<Received & { msgid: string }> {
  const m = await broker.next();
  t.equal(m.frames.length, 4, `${command}: 4 frames after the routing id`);
  t.same(m.frames.slice(0, 3), ["", "eMQP/1.0", command], `'' eMQP/1.0 ${command}`);
  t.match(m.frames[3]!.replace(/^admin:/, ""), UUID4, "msgid is admin:<uuid4>, as emq-cli's");
  t.match(m.id.toString("utf8"), UUID4, "routing id is a uuid4");
  return { ...m, msgid: m.frames[3]! };
}

const STATUS: StatusReport = {
  inflight_messages_by_queue: { default: 1 },
  latency_messages_by_queue: { default: 12 },
  max_latency_messages_by_queue: { default: 30 },
  waiting_messages_by_queue: { default: 4, other: 0 },
  processed_messages_by_queue: { default: 99 },
  processed_messages_by_worker: { "w-1": 99 },
};

const WORKERS: WorkersReport = {
  connected_workers: { "w-1": { queues: [[10, "default"]], hb: 8123.5, available_slots: 3 } },
  connected_queues: { default: [[10, "w-1"]] },
};

const SCHEDULERS = { connected_schedulers: { "s-1": { hb: 8124.25 } } };

t.test("each command's frames, answered in our broker's shape (matched by msgid)", async (t) => {
  const s = scope(t);
  const broker = await FakeBroker.start(s);
  const admin = newAdmin(t, broker);

  const st = admin.status();
  const m = await nextCommand(t, broker, "STATUS");
  await broker.reply(m.id, JSON.stringify(STATUS), m.msgid);
  t.same(await within(st, 3000, "status"), STATUS);

  const wk = admin.workers();
  const m2 = await nextCommand(t, broker, "ROUTER_SHOW_WORKERS");
  await broker.reply(m2.id, JSON.stringify(WORKERS), m2.msgid);
  t.same(await within(wk, 3000, "workers"), WORKERS);

  const sc = admin.schedulers();
  const m3 = await nextCommand(t, broker, "ROUTER_SHOW_SCHEDULERS");
  await broker.reply(m3.id, JSON.stringify(SCHEDULERS), m3.msgid);
  t.same(await within(sc, 3000, "schedulers"), SCHEDULERS);

  // Several at once, answered backwards: each gets the answer that names it.
  const a = admin.status();
  const b = admin.workers();
  const c = admin.schedulers();
  const ma = await nextCommand(t, broker, "STATUS");
  const mb = await nextCommand(t, broker, "ROUTER_SHOW_WORKERS");
  const mc = await nextCommand(t, broker, "ROUTER_SHOW_SCHEDULERS");
  await broker.reply(mc.id, JSON.stringify(SCHEDULERS), mc.msgid);
  await broker.reply(mb.id, JSON.stringify(WORKERS), mb.msgid);
  await broker.reply(ma.id, JSON.stringify(STATUS), ma.msgid);
  t.same(await within(Promise.all([a, b, c]), 3000, "all three"), [STATUS, WORKERS, SCHEDULERS]);

  // An answer naming a query nobody waits for (a late one) is dropped, not given to the next query.
  const d = admin.status();
  const md = await nextCommand(t, broker, "STATUS");
  await broker.reply(md.id, JSON.stringify({ stale: true }), "admin:not-a-pending-query");
  await broker.reply(md.id, JSON.stringify(STATUS), md.msgid);
  t.same(await within(d, 3000, "status"), STATUS);
});

t.test("EventMQ's answers, which name no request, are matched in order", async (t) => {
  const s = scope(t);
  const broker = await FakeBroker.start(s);
  const admin = newAdmin(t, broker);
  const a = admin.workers();
  const b = admin.schedulers();
  const c = admin.status();
  const ms = [
    await nextCommand(t, broker, "ROUTER_SHOW_WORKERS"),
    await nextCommand(t, broker, "ROUTER_SHOW_SCHEDULERS"),
    await nextCommand(t, broker, "STATUS"),
  ];
  await broker.reply(ms[0]!.id, JSON.stringify(WORKERS));
  await broker.reply(ms[1]!.id, JSON.stringify(SCHEDULERS));
  await broker.reply(ms[2]!.id, JSON.stringify(STATUS));
  t.same(await within(Promise.all([a, b, c]), 3000, "answers"), [WORKERS, SCHEDULERS, STATUS]);

  // Python's json.dumps spacing and key order (as EventMQ sends it) parse the same.
  const d = admin.status();
  const md = await nextCommand(t, broker, "STATUS");
  await broker.reply(md.id, '{"inflight_messages_by_queue": {}, "latency_messages_by_queue": {}, "max_latency_messages_by_queue": {}, "waiting_messages_by_queue": {"default": 0}, "processed_messages_by_queue": {}, "processed_messages_by_worker": {}}');
  t.same((await d).waiting_messages_by_queue, { default: 0 });
});

t.test("shutdown() sends DISCONNECT and waits for the ACK naming it", async (t) => {
  const s = scope(t);
  const broker = await FakeBroker.start(s);
  const admin = newAdmin(t, broker);
  let done = false;
  const p = admin.shutdown().then(() => (done = true));
  const m = await nextCommand(t, broker, "DISCONNECT");
  await broker.send(m.id, "ACK", "admin:someone-else");
  await broker.reply(m.id, "{}"); // a REPLY does not answer a shutdown
  // Round trip a query so both have been handled before looking.
  const q = admin.status();
  const mq = await nextCommand(t, broker, "STATUS");
  await broker.reply(mq.id, JSON.stringify(STATUS), mq.msgid);
  await q;
  t.notOk(done, "an ACK for another msgid or a REPLY does not finish it");
  await broker.send(m.id, "ACK", m.msgid);
  await within(p, 3000, "shutdown");
  t.ok(done);
});

t.test("timeouts, bad answers and close()", async (t) => {
  const s = scope(t);
  const broker = await FakeBroker.start(s);
  const admin = newAdmin(t, broker, 200);

  const started = Date.now();
  const st = admin.status();
  await nextCommand(t, broker, "STATUS"); // and never answer
  const err = await st.then(() => undefined, (e: unknown) => e);
  t.ok(err instanceof EmqClientError);
  t.match(err, { code: "ETIMEDOUT", message: /no answer to STATUS from the broker at tcp:\/\/127\.0\.0\.1:\d+ within 200 ms$/ });
  t.ok(Date.now() - started >= 190, "after the timeout");
  const sd = admin.shutdown();
  await nextCommand(t, broker, "DISCONNECT");
  await t.rejects(sd, { code: "ETIMEDOUT", message: /DISCONNECT/ });

  const bad = admin.workers();
  const m = await nextCommand(t, broker, "ROUTER_SHOW_WORKERS");
  await broker.reply(m.id, "not json", m.msgid);
  await t.rejects(bad, { code: "EPROTO" });
  const arr = admin.workers();
  const m2 = await nextCommand(t, broker, "ROUTER_SHOW_WORKERS");
  await broker.reply(m2.id, "[1, 2]", m2.msgid);
  await t.rejects(arr, { code: "EPROTO", message: /not a JSON object/ });

  // Nobody at all on the port: the timeout says it could not connect.
  const port = await closedPort();
  const nobody = newAdmin(t, `tcp://127.0.0.1:${port}`, 200);
  await t.rejects(nobody.status(), { code: "ETIMEDOUT", message: /within 200 ms \(could not connect\)/ });

  const slow = new Admin({ address: broker.address, timeout: 3000 });
  const pending = slow.status();
  await nextCommand(t, broker, "STATUS");
  slow.close();
  await t.rejects(pending, { code: "ECLOSED" });
  await t.rejects(slow.schedulers(), { code: "ECLOSED" });
});
