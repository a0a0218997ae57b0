// Client against a hand-written broker (a ROUTER in the test speaking eMQP frames): the exact
// REQUEST frames EventMQ's client sends, receipts and results in both shapes, refusals, timeouts,
// re-sending after the broker comes back, close(), and garbage from the broker.

import { Buffer } from "node:buffer";
import t, { type Test } from "tap";
import fc from "fast-check";
import { Client, EmqClientError, EmqJobError } from "../../src/client/index.js";
import { isPending, scope, sleep, until, watch, within } from "../socket/fake-peer.js";
import { FakeBroker, UUID4, captureLogger, type Received } from "./fake-broker.js";

const JOB = { callable: "f", path: "m", args: [1] };
// What EventMQ's client sends for that job: all six keys, in its order, Python's JSON spacing.
const JOB_BODY = '["run", {"callable": "f", "path": "m", "args": [1], "kwargs": {}, "class_args": [], "class_kwargs": {}}]';

function newClient(t: Test, broker: FakeBroker, options: ConstructorParameters<typeof Client>[0] = {}): Client {
  const c = new Client({ address: broker.address, ...options });
  t.teardown(() => c.close());
  return c;
}

/** Reads one REQUEST and checks its envelope; returns its msgid, queue, headers and body. */
async function nextRequest(t: Test, broker: FakeBroker): Promise<Received & { msgid: string; queue: string; headers: string; body: string }> {
  const m = await broker.next();
  t.equal(m.frames.length, 7, "REQUEST has 7 frames after the routing id");
  t.same(m.frames.slice(0, 3), ["", "eMQP/1.0", "REQUEST"], "'' eMQP/1.0 REQUEST");
  const [, , , msgid, queue, headers, body] = m.frames as [string, string, string, string, string, string, string];
  return { ...m, msgid, queue, headers, body };
}

const result = (v: unknown) => JSON.stringify({ value: v });
const failure = (code: string, message: string, name?: string) => JSON.stringify({ error: { code, message, ...(name ? { name } : {}) } });

t.test("REQUEST frames are EventMQ's, byte for byte", async (t) => {
  const s = scope(t);
  const broker = await FakeBroker.start(s);
  const client = newClient(t, broker);
  const p = client.request("q", JOB, { guarantee: true, retryCount: 2, timeout: 3 });
  const m = await nextRequest(t, broker);
  t.equal(m.id.toString("utf8"), client.routingId, "routing id is the client's");
  t.match(client.routingId, UUID4, "routing id is a uuid4 string (EventMQ's broker needs UTF-8 ids)");
  t.match(m.msgid, UUID4, "msgid is a uuid4");
  t.equal(m.queue, "q");
  t.equal(m.headers, "reply-requested,guarantee,retry-count:2,timeout:3", "headers in EventMQ's order");
  t.equal(m.body, JOB_BODY, "job body as EventMQ's client writes it");
  await broker.reply(m.id, m.msgid, result(42));
  t.equal(await within(p, 3000, "the result"), 42);

  // Defaults: request() asks for the reply and nothing else; send() sends no headers at all.
  const p2 = client.request("default", { callable: "g" });
  const m2 = await nextRequest(t, broker);
  t.equal(m2.headers, "reply-requested");
  t.equal(m2.body, '["run", {"callable": "g", "path": "", "args": [], "kwargs": {}, "class_args": [], "class_kwargs": {}}]');
  t.not(m2.msgid, m.msgid, "a fresh msgid per request");
  await broker.reply(m2.id, m2.msgid, result(null));
  t.equal(await within(p2, 3000, "the result"), null);

  const p3 = client.send("q", JOB, { guarantee: true });
  const m3 = await nextRequest(t, broker);
  t.equal(m3.headers, "guarantee", "send(): no reply-requested");
  await broker.reply(m3.id, m3.msgid);
  t.equal(await within(p3, 3000, "the receipt"), m3.msgid, "send() resolves with the msgid on the receipt");

  // Non-ASCII goes out escaped, as Python's json.dumps (ensure_ascii) writes it.
  const p4 = client.send("q", { callable: "h", args: ["é☃"], kwargs: { k: 1.5 } });
  const m4 = await nextRequest(t, broker);
  t.equal(m4.body, '["run", {"callable": "h", "path": "", "args": ["\\u00e9\\u2603"], "kwargs": {"k": 1.5}, "class_args": [], "class_kwargs": {}}]');
  await broker.reply(m4.id, m4.msgid);
  await p4;
});

t.test("receipt, then result; error results reject with their code", async (t) => {
  const s = scope(t);
  const broker = await FakeBroker.start(s);
  const client = newClient(t, broker);

  const p = client.request("q", JOB);
  const m = await nextRequest(t, broker);
  await broker.reply(m.id, m.msgid); // the receipt
  await until(() => client.pending === 1, "receipt handled");
  t.ok(await isPending(p), "a receipt does not settle request()");
  await broker.reply(m.id, m.msgid, result({ a: [1, "x"] }));
  t.same(await within(p, 3000, "the result"), { a: [1, "x"] });
  t.equal(client.pending, 0);

  const p2 = client.request("q", JOB);
  const m2 = await nextRequest(t, broker);
  await broker.reply(m2.id, m2.msgid);
  await broker.reply(m2.id, m2.msgid, failure("EJOBFAILED", "kaboom", "TypeError"));
  const err = await within(p2, 3000, "the failure").then(
    () => undefined,
    (e: unknown) => e,
  );
  t.ok(err instanceof EmqJobError, "EmqJobError");
  t.match(err, { code: "EJOBFAILED", message: "kaboom", msgid: m2.msgid, queue: "q", failure: { code: "EJOBFAILED", message: "kaboom", name: "TypeError" } });

  // A refusal comes without a receipt.
  const p3 = client.request("q", JOB, { timeout: 2 });
  const m3 = await nextRequest(t, broker);
  await broker.reply(m3.id, m3.msgid, failure("ETIMEDOUT", "job ran past 2 s"));
  await t.rejects(p3, { name: "EmqJobError", code: "ETIMEDOUT" }, "the broker's ETIMEDOUT is a job error");

  // A result the client cannot read rejects (EPROTO) instead of hanging.
  const p4 = client.request("q", JOB);
  const m4 = await nextRequest(t, broker);
  await broker.reply(m4.id, m4.msgid, "{not json");
  await t.rejects(p4, { name: "EmqClientError", code: "EPROTO" });
});

t.test("send(): receipt resolves, EQUEUEFULL and other refusals reject", async (t) => {
  const s = scope(t);
  const broker = await FakeBroker.start(s);
  const client = newClient(t, broker);

  const full = client.send("busy", JOB);
  const m = await nextRequest(t, broker);
  await broker.reply(m.id, m.msgid, failure("EQUEUEFULL", "queue busy is full (1000 jobs)"));
  const err = await full.then(() => undefined, (e: unknown) => e);
  t.ok(err instanceof EmqJobError);
  t.match(err, { code: "EQUEUEFULL", queue: "busy", msgid: m.msgid });

  const down = client.send("q", JOB);
  const m2 = await nextRequest(t, broker);
  await broker.reply(m2.id, m2.msgid, failure("ESHUTDOWN", "broker is draining"));
  await t.rejects(down, { code: "ESHUTDOWN" });

  // request() without reply-requested: sent with no headers, done at the receipt.
  const quiet = client.request("q", JOB, { replyRequested: false });
  const m3 = await nextRequest(t, broker);
  t.equal(m3.headers, "");
  await broker.reply(m3.id, m3.msgid);
  t.equal(await within(quiet, 3000, "the receipt"), undefined);
});

t.test("many concurrent requests answered out of order each get their own result", async (t) => {
  const s = scope(t);
  const broker = await FakeBroker.start(s);
  const client = newClient(t, broker);
  const N = 300;
  const calls = Array.from({ length: N }, (_, i) => client.request(`q${i % 3}`, { callable: "double", args: [i] }));
  const got: Array<{ id: Buffer; msgid: string; arg: number }> = [];
  const msgids = new Set<string>();
  for (let i = 0; i < N; i++) {
    const m = await broker.next();
    const arg = (JSON.parse(m.frames[6]!) as [string, { args: number[] }])[1].args[0]!;
    got.push({ id: m.id, msgid: m.frames[3]!, arg });
    msgids.add(m.frames[3]!);
  }
  t.equal(msgids.size, N, "every request has its own msgid");
  // Receipts for all, then results in a scrambled order: odd ones backwards, then even ones.
  for (const g of got) await broker.reply(g.id, g.msgid);
  const order = [...got.filter((g) => g.arg % 2 === 1).reverse(), ...got.filter((g) => g.arg % 2 === 0)];
  for (const g of order) await broker.reply(g.id, g.msgid, result(g.arg * 2));
  const values = await within(Promise.all(calls), 5000, "all results");
  t.same(values, Array.from({ length: N }, (_, i) => i * 2), "each call resolved with its own result");
  t.equal(client.pending, 0);

  // Property: whatever the order of answers (and whichever fail), each call settles with its own.
  await fc.assert(
    fc.asyncProperty(
      fc.array(fc.tuple(fc.integer({ min: -1e6, max: 1e6 }), fc.boolean()), { minLength: 1, maxLength: 12 }).chain((jobs) =>
        fc.tuple(fc.constant(jobs), fc.shuffledSubarray([...jobs.keys()], { minLength: jobs.length, maxLength: jobs.length })),
      ),
      async ([jobs, order]) => {
        const ps = jobs.map(([v]) => client.request("q", { callable: "echo", args: [v] }).then((x) => ({ ok: x }), (e: EmqJobError) => ({ err: e.code })));
        const seen = new Map<number, { id: Buffer; msgid: string }>();
        for (let i = 0; i < jobs.length; i++) {
          const m = await broker.next();
          // Requests go out in call order over the one connection.
          seen.set(i, { id: m.id, msgid: m.frames[3]! });
        }
        for (const i of order) {
          const { id, msgid } = seen.get(i)!;
          const [v, fails] = jobs[i]!;
          await broker.reply(id, msgid, fails ? failure(`E${Math.abs(v)}`, "no") : result(v));
        }
        const out = await within(Promise.all(ps), 3000, "answers");
        return out.every((o, i) => (jobs[i]![1] ? "err" in o && o.err === `E${Math.abs(jobs[i]![0])}` : "ok" in o && o.ok === jobs[i]![0]));
      },
    ),
    { numRuns: 40 },
  );
});

t.test("client-side timeouts", async (t) => {
  const s = scope(t);
  const broker = await FakeBroker.start(s);
  const client = newClient(t, broker, { timeoutGrace: 100 });

  const started = Date.now();
  const p = client.request("q", JOB, { wait: 150 });
  const m = await nextRequest(t, broker);
  const err = await p.then(() => undefined, (e: unknown) => e);
  const took = Date.now() - started;
  t.ok(err instanceof EmqClientError, "EmqClientError");
  t.match(err, { code: "ETIMEDOUT", msgid: m.msgid });
  t.ok(took >= 140 && took < 2000, `rejected after the wait (${took} ms)`);
  t.equal(client.pending, 0, "no longer pending");
  await broker.reply(m.id, m.msgid, result(1)); // late: dropped without a fuss

  // send() waits only for the receipt.
  const sp = client.send("q", JOB, { wait: 100 });
  await nextRequest(t, broker);
  await t.rejects(sp, { code: "ETIMEDOUT", message: /no receipt/ });

  // timeout:1 with a 100 ms grace: the client gives up 1.1 s after sending, receipt or not.
  const started2 = Date.now();
  const p2 = client.request("q", JOB, { timeout: 1 });
  const m2 = await nextRequest(t, broker);
  t.equal(m2.headers, "reply-requested,timeout:1");
  await broker.reply(m2.id, m2.msgid); // receipt only
  const err2 = await p2.then(() => undefined, (e: unknown) => e);
  const took2 = Date.now() - started2;
  t.match(err2, { name: "EmqClientError", code: "ETIMEDOUT", message: /no result \(the receipt came\)/ });
  t.ok(took2 >= 1050 && took2 < 3000, `rejected after timeout + grace (${took2} ms)`);
  t.equal(client.pending, 0);

  // A result that comes in time wins over the timer.
  const p3 = client.request("q", JOB, { timeout: 1, retryCount: 1 });
  const m3 = await nextRequest(t, broker);
  await broker.reply(m3.id, m3.msgid, result("in time"));
  t.equal(await p3, "in time");
});

t.test("a lost broker: pending requests go again with the same msgid once it is back", async (t) => {
  const s = scope(t);
  let broker = await FakeBroker.start(s);
  const client = newClient(t, broker, { heartbeatInterval: 0 });

  const p = client.request("q", JOB, { guarantee: true });
  const first = await nextRequest(t, broker);
  await broker.reply(first.id, first.msgid); // receipt: the job is accepted, but its result is still owed
  const sent = client.send("q", { callable: "later" }); // waits for its receipt
  const firstSend = await nextRequest(t, broker);
  await until(() => client.connected, "connected");

  const port = broker.port;
  broker.close();
  await until(() => !client.connected, "the client notices the broker is gone");
  // Sent while there is no broker: it waits in the socket's queue and must go out only once.
  const offline = client.send("q", { callable: "offline" });

  broker = await FakeBroker.start(s, port);
  const again = new Map<string, Received>();
  for (let i = 0; i < 3; i++) {
    const m = await broker.next();
    again.set(m.frames[3]!, m);
  }
  t.ok(await broker.nothingWithin(300), "no more than the three (nothing repeated twice)");
  const resent = again.get(first.msgid);
  t.ok(resent, "the request went again with the same msgid");
  t.same(resent?.frames, first.frames, "byte-identical frames");
  t.same(again.get(firstSend.msgid)?.frames, firstSend.frames, "the unacknowledged send() went again too");
  const off = [...again.values()].find((m) => m.frames[6]!.includes('"offline"'));
  t.ok(off, "the send() made while offline went out");

  await broker.reply(resent!.id, first.msgid, result("done"));
  await broker.reply(resent!.id, firstSend.msgid);
  await broker.reply(off!.id, off!.frames[3]!);
  t.equal(await within(p, 3000, "the result"), "done");
  t.equal(await within(sent, 3000, "the receipt"), firstSend.msgid);
  t.equal(await within(offline, 3000, "the receipt"), off!.frames[3]);
  t.equal(client.pending, 0);
});

t.test("close() rejects what is pending with ECLOSED", async (t) => {
  const s = scope(t);
  const broker = await FakeBroker.start(s);
  const client = newClient(t, broker);
  const r = client.request("q", JOB);
  const m = await nextRequest(t, broker);
  await broker.reply(m.id, m.msgid);
  // One more round trip: answers arrive in order, so the receipt above has been handled after it.
  const ping = client.send("q", JOB);
  const pm = await nextRequest(t, broker);
  await broker.reply(pm.id, pm.msgid);
  await ping;
  const sd = client.send("q", JOB);
  await nextRequest(t, broker);
  await until(() => client.pending === 2, "both pending");
  client.close();
  await t.rejects(r, { name: "EmqClientError", code: "ECLOSED", message: /before its result arrived/ });
  await t.rejects(sd, { name: "EmqClientError", code: "ECLOSED", message: /before its receipt arrived/ });
  await t.rejects(client.request("q", JOB), { code: "ECLOSED" }, "calls after close() reject");
  t.ok(client.closed);
  // A client that never reached any broker closes just as cleanly.
  const lonely = new Client({ address: "tcp://127.0.0.1:1" });
  const lp = lonely.request("q", JOB);
  lonely.close();
  await t.rejects(lp, { code: "ECLOSED" });
});

t.test("bad arguments reject with EINVAL and send nothing", async (t) => {
  const s = scope(t);
  const broker = await FakeBroker.start(s);
  const client = newClient(t, broker);
  await t.rejects(client.request("", JOB), { code: "EINVAL" });
  await t.rejects(client.request("q", { callable: "" }), { code: "EINVAL" });
  await t.rejects(client.send("q", JOB, { retryCount: -1 }), { code: "EINVAL" });
  await t.rejects(client.send("q", JOB, { timeout: 1.5 }), { code: "EINVAL" });
  await t.rejects(client.send("q", { callable: "f", args: [Symbol("x")] }), { code: "EINVAL" });
  const ac = new AbortController();
  ac.abort();
  await t.rejects(client.request("q", JOB, { signal: ac.signal }), { code: "ABORT_ERR" });
  t.ok(await broker.nothingWithin(200), "nothing reached the broker");
  t.equal(client.pending, 0);

  const ac2 = new AbortController();
  const p = client.request("q", JOB, { signal: ac2.signal });
  await nextRequest(t, broker);
  ac2.abort();
  await t.rejects(p, { code: "ABORT_ERR" });
  t.equal(client.pending, 0);
});

t.test("garbage from the broker is logged and dropped; later requests still work", async (t) => {
  const s = scope(t);
  const broker = await FakeBroker.start(s);
  const { logger, lines } = captureLogger("warn");
  const client = newClient(t, broker, { logger });

  const p = client.request("q", JOB);
  const m = await nextRequest(t, broker);
  const id = m.id;

  const bytes = fc.uint8Array({ maxLength: 40 }).map((a) => Buffer.from(a));
  const word = fc.constantFrom("", "eMQP/1.0", "REPLY", "ACK", "KBYE", "HEARTBEAT", "REQUEST", "reply", "HELLO", m.msgid.slice(0, 8), "{}", '{"value": 1}');
  const frame = fc.oneof(bytes, word.map((w) => Buffer.from(w)));
  // Fully random messages, and eMQP-shaped ones with random commands and bodies (never the
  // pending request's msgid, which would answer it for real).
  const raw = fc.array(frame, { minLength: 1, maxLength: 8 });
  const shaped = fc
    .tuple(fc.oneof(word, fc.string({ maxLength: 12 })), fc.string({ maxLength: 40 }), fc.array(frame, { maxLength: 4 }))
    .map(([cmd, msgid, body]) => [Buffer.from(""), Buffer.from("eMQP/1.0"), Buffer.from(cmd), Buffer.from(msgid), ...body]);

  await fc.assert(
    fc.asyncProperty(fc.array(fc.oneof(raw, shaped), { minLength: 1, maxLength: 10 }), async (msgs) => {
      for (const frames of msgs) await broker.router.send([id, ...frames]);
      // A real request after the garbage still round-trips.
      const q = client.request("q", { callable: "ping" }, { wait: 3000 });
      const r = await broker.next();
      await broker.reply(r.id, r.frames[3]!, result("pong"));
      return (await q) === "pong" && (await isPending(p));
    }),
    { numRuns: 60 },
  );
  t.ok(lines.some((l) => l.includes("malformed message")), "malformed messages were logged");
  await broker.reply(id, m.msgid, result("still fine"));
  t.equal(await within(p, 3000, "the first request"), "still fine", "the request pending all along still resolves");
});

t.test("ZMTP heartbeats: a broker that answers PINGs stays; a silent one is dropped and requests go again", async (t) => {
  const s = scope(t);
  const broker = await FakeBroker.start(s);
  const ev = watch(broker.router);
  const client = newClient(t, broker, { heartbeatInterval: 50 });
  const p = client.request("q", JOB);
  const m = await nextRequest(t, broker);
  await sleep(600); // a dozen PINGs, all answered by our ROUTER
  t.ok(client.connected, "still connected");
  t.equal(ev.count("accept"), 1, "over the one connection");
  await broker.reply(m.id, m.msgid, result(1));
  t.equal(await p, 1);

  // A peer that completes the handshake, takes the request and then says nothing, not even PONG
  // (a broker host that vanished without closing the connection).
  const l = await s.listener();
  const quiet = new Client({ address: l.address, heartbeatInterval: 100 });
  t.teardown(() => quiet.close());
  const q = quiet.request("q", JOB);
  const c1 = await l.connection(1);
  await c1.handshake("ROUTER");
  const first = (await c1.readMessage()).map((f) => f.toString("utf8"));
  t.equal(first[2], "REQUEST");
  const c2 = await l.connection(2, 5000);
  await c2.handshake("ROUTER");
  const again = (await c2.readMessage()).map((f) => f.toString("utf8"));
  t.same(again, first, "the same REQUEST (same msgid) on the new connection");
  c2.send(["", "eMQP/1.0", "REPLY", "m2", first[3]!, result("via the second connection")]);
  t.equal(await within(q, 3000, "the result"), "via the second connection");
});
