// The pub/sub forwarder end to end over real sockets on loopback: several subscribers with prefix
// topics each get exactly what matches, in order; EventPublisher's PUBLISH frames are EventMQ's;
// binary topics and messages pass untouched as exactly two frames; a subscriber that does not
// read misses messages instead of growing the forwarder or holding the others up; start/stop.

import { Buffer } from "node:buffer";
import * as net from "node:net";
import t from "tap";
import { Dealer, Router, Subscriber } from "../../src/index.js";
import { EventPublisher, EventSubscriber, PubSub, publishBody } from "../../src/pubsub/index.js";
import { scope, until, within } from "../socket/fake-peer.js";
import { Collector, LOCAL, matches, publisher, startPubSub, sync, tryReceive } from "./helpers.js";

const UUID4 = /^[0-9a-f]{8}-[0-9a-f]{4}-4[0-9a-f]{3}-[89ab][0-9a-f]{3}-[0-9a-f]{12}$/;
const hex = (b: Buffer | string): string => Buffer.from(b).toString("hex");

t.test("several subscribers with prefix topics: each gets exactly what matches, in order", async (t) => {
  const { pubsub } = await startPubSub(t);
  const pub = publisher(t, pubsub);
  const subs = [
    new Collector(t, pubsub, ["news"]),
    new Collector(t, pubsub, ["news.sport"]),
    new Collector(t, pubsub, ["weather", "news.tech"]),
    new Collector(t, pubsub, [""]),
    new Collector(t, pubsub, [Buffer.from([0xff, 0x00])]),
    new Collector(t, pubsub, ["nothing-matches-this"]),
  ];
  await sync(pub, subs);
  const topics = ["news", "news.sport", "news.sport.f1", "news.tech", "newsletter", "weather", "weather/eu", "wea", "", "other", Buffer.from([0xff, 0x00, 0x01]), Buffer.from([0xff])];
  const sent: [Buffer, Buffer][] = [];
  for (let i = 0; i < 300; i++) {
    const topic = Buffer.from(topics[(i * 7) % topics.length]!);
    const message = i % 3 === 0 ? { i, list: [1, 2] } : `m${i}`;
    sent.push([topic, publishBody(message)]);
    await pub.publish(topic, message);
  }
  const expected = subs.map((c) => sent.filter(([topic]) => matches(topic, c.prefixes)).map(([tp, m]) => [hex(tp), hex(m)]));
  await until(() => subs.every((c, i) => c.real().length >= expected[i]!.length), "every subscriber's messages");
  await sync(pub, subs); // fence: anything extra would have arrived before it
  subs.forEach((c, i) => t.same(c.real(), expected[i], `subscriber ${i} (${c.prefixes.map((p) => JSON.stringify(p.toString())).join(", ")}): ${expected[i]!.length} messages`));
  t.ok(expected[0]!.length > 50 && expected[3]!.length === 300 && expected[5]!.length === 0, "the topics exercise every case");
  t.ok(subs[2]!.real().length > 0 && expected[2]!.some(([tp]) => tp === hex("news.tech")) && expected[2]!.some(([tp]) => tp.startsWith(hex("weather"))), "two prefixes on one subscriber both count");
  t.same(subs[3]!.events.filter((e) => e.topicText === "news")[0]!.json(), { i: 0, list: [1, 2] }, "json() reads the message");
  t.equal(pubsub.counters.dropped, 0);
});

t.test("EventPublisher sends EventMQ's exact PUBLISH frames", async (t) => {
  const s = scope(t);
  const router = s.sock(new Router());
  await router.bind("tcp://127.0.0.1:0");
  const pub = new EventPublisher({ address: router.lastEndpoint!, linger: 0 });
  t.teardown(() => pub.close());
  t.match(pub.routingId, UUID4, "routing id is a uuid4 string");
  const cases: [string | Uint8Array, unknown, string | Buffer][] = [
    ["news", { hello: "world" }, '{"hello": "world"}'], // EventMQ's live example, Python's spacing
    ["news", "plain text", "plain text"],
    ["n", [1, 2.5, null, true, "é"], '[1, 2.5, null, true, "\\u00e9"]'],
    ["n", 42, "42"],
    [new Uint8Array([1, 2, 3]), Buffer.from([0, 0xfe, 0xff]), Buffer.from([0, 0xfe, 0xff])],
    ["", "", ""],
  ];
  for (const [topic, message, body] of cases) {
    const msgid = await pub.publish(topic, message);
    const frames = await within(router.receive(), 3000, "the PUBLISH");
    t.equal(frames.length, 7, "routing id + 6 frames");
    t.equal(frames[0]!.toString(), pub.routingId);
    t.same(frames.slice(1, 4).map(String), ["", "eMQP/1.0", "PUBLISH"]);
    t.equal(frames[4]!.toString(), msgid, "frame 3 is the msgid publish() returned");
    t.match(msgid, UUID4);
    t.equal(hex(frames[5]!), hex(Buffer.from(topic)), "topic");
    t.equal(hex(frames[6]!), hex(body), `message ${JSON.stringify(message)}`);
  }
});

t.test("binary topics and messages pass untouched, as exactly [topic, message]", async (t) => {
  const s = scope(t);
  const { pubsub } = await startPubSub(t);
  const sub = s.sock(new Subscriber());
  sub.subscribe(Buffer.from([0x80]));
  sub.connect(pubsub.endpoints.outgoing!);
  const dealer = s.sock(new Dealer({ routingId: Buffer.from([0xc3, 0x28, 0xff]) })); // not UTF-8
  dealer.connect(pubsub.endpoints.incoming!);
  const head = [Buffer.alloc(0), Buffer.from("eMQP/1.0"), Buffer.from("PUBLISH"), Buffer.from("m1")];
  // Wait for the subscription with probes on the same topic prefix.
  const probe = Buffer.from([0x80, 0x00]);
  let got: Buffer[] | undefined;
  for (let i = 0; !got && i < 100; i++) {
    await dealer.send([...head, probe, Buffer.from("probe")]);
    got = await tryReceive(sub, 50);
  }
  t.ok(got, "subscribed");
  const big = Buffer.alloc(1 << 20, 0xab);
  const msgs: [Buffer, Buffer][] = [
    [Buffer.from([0x80, 0xc3, 0x28]), Buffer.from([0xff, 0xfe, 0x00, 0xed, 0xa0, 0x80])], // invalid UTF-8 both
    [Buffer.from([0x80]), Buffer.alloc(0)], // empty message
    [Buffer.from([0x80, 0x00, 0x00]), big], // 1 MiB
  ];
  for (const [topic, message] of msgs) await dealer.send([...head, topic, message]);
  // Extra frames after the message are ignored: still two frames out.
  await dealer.send([...head, Buffer.from([0x80, 1]), Buffer.from("m"), Buffer.from("extra"), Buffer.from("more")]);
  const out: Buffer[][] = [];
  while (out.length < 4) {
    const m = await within(sub.receive(), 3000, "published messages");
    if (m[1]!.toString() !== "probe") out.push(m);
  }
  for (let i = 0; i < 3; i++) {
    t.equal(out[i]!.length, 2, "two frames");
    t.ok(out[i]![0]!.equals(msgs[i]![0]) && out[i]![1]!.equals(msgs[i]![1]), `message ${i} byte for byte (${msgs[i]![1].length} bytes)`);
  }
  t.same(out[3]!.map(hex), [hex(Buffer.from([0x80, 1])), hex("m")], "frames after the message are not published");
  t.equal(pubsub.counters.dropped, 0);
});

t.test("a subscriber that does not read misses messages; the others and the forwarder go on", async (t) => {
  const { pubsub } = await startPubSub(t, { sendHighWaterMark: 10 });
  const pub = publisher(t, pubsub);
  const fast = new Collector(t, pubsub, ["big"]);
  // A bare SUB that never reads (its receive HWM is small, so it stops reading from TCP soon).
  const slow = new Subscriber({ receiveHighWaterMark: 5, linger: 0 });
  t.teardown(() => slow.close());
  slow.subscribe("big");
  slow.connect(pubsub.endpoints.outgoing!);
  // Probe until the slow one has its subscription in the PUB (it reads only these), then it stops reading.
  let subscribed = false;
  for (let i = 0; !subscribed && i < 100; i++) {
    await pub.publish("big\u0000probe", "probe");
    subscribed = (await tryReceive(slow, 50)) !== undefined;
  }
  t.ok(subscribed, "the slow subscriber is subscribed");
  await sync(pub, [fast]);
  const N = 200;
  const payload = Buffer.alloc(256 * 1024, 1);
  for (let i = 0; i < N; i++) await pub.publish("big", Buffer.concat([Buffer.from(String(i).padStart(4, "0")), payload]));
  await until(() => fast.real().some(([, m]) => m.startsWith(hex(String(N - 1).padStart(4, "0")))), "the fast subscriber to get the last message", 15_000);
  const idx = fast.real().filter(([tp]) => tp === hex("big")).map(([, m]) => Number(Buffer.from(m.slice(0, 8), "hex").toString()));
  t.ok(idx.every((v, i) => i === 0 || v > idx[i - 1]!), "the fast subscriber's messages are in order");
  t.equal(pubsub.counters.published >= N, true, "every PUBLISH was taken");
  // Now read the slow one: it gets what was queued for it (HWMs + socket buffers), far fewer than N.
  let slowGot = 0;
  for (;;) {
    const m = await tryReceive(slow, 300);
    if (!m) break;
    if (m[0]!.toString() === "big") slowGot++;
  }
  t.comment(`slow subscriber received ${slowGot} of ${N} 256 KiB messages`);
  t.ok(slowGot < N, "the slow subscriber missed messages (the PUB dropped them at its HWM)");
  const fastAfter = new EventPublisher({ address: pubsub.endpoints.incoming!, linger: 0 });
  t.teardown(() => fastAfter.close());
  await sync(fastAfter, [fast]);
  t.pass("the forwarder still forwards");
});

t.test("start, endpoints, stop", async (t) => {
  const ps = new PubSub(LOCAL);
  t.equal(ps.state, "new");
  await ps.start();
  t.equal(ps.state, "running");
  t.match(ps.endpoints.incoming, /^tcp:\/\/127\.0\.0\.1:\d+$/);
  t.match(ps.endpoints.outgoing, /^tcp:\/\/127\.0\.0\.1:\d+$/);
  t.notMatch(ps.endpoints.incoming, /:0$/, "the real port");
  t.not(ps.endpoints.incoming, ps.endpoints.outgoing);
  await t.rejects(ps.start(), /already running/);
  await ps.stop();
  t.equal(ps.state, "stopped");
  await ps.stop(); // idempotent
  // Both ports are free again.
  const port = Number(ps.endpoints.incoming!.split(":").pop());
  const srv = net.createServer();
  await new Promise<void>((resolve, reject) => srv.once("error", reject).listen(port, "127.0.0.1", resolve));
  srv.close();
  // stop() before start() just stops.
  const never = new PubSub(LOCAL);
  await never.stop();
  t.equal(never.state, "stopped");
  // A taken port: start() rejects and leaves nothing open.
  const taken = net.createServer();
  await new Promise<void>((r) => taken.listen(0, "127.0.0.1", r));
  t.teardown(() => taken.close());
  const busy = new PubSub({ incoming: `tcp://127.0.0.1:${(taken.address() as net.AddressInfo).port}`, outgoing: "tcp://127.0.0.1:0" });
  await t.rejects(busy.start(), { code: "EADDRINUSE" });
  t.equal(busy.state, "stopped");
  await within(busy.stopped, 1000, "stopped to resolve");
});

t.test("EventSubscriber: subscribe/unsubscribe, receive(), iteration ends at close()", async (t) => {
  const { pubsub } = await startPubSub(t);
  const pub = publisher(t, pubsub);
  const c = new Collector(t, pubsub, ["a"]);
  await sync(pub, [c]);
  c.sub.subscribe("b");
  const sub2 = new EventSubscriber({ address: pubsub.endpoints.outgoing! });
  t.teardown(() => sub2.close());
  sub2.subscribe(); // everything
  // Wait until both "b" (on c) and sub2 are in place: probe under "b" until both have one.
  let both = false;
  for (let i = 0; !both && i < 100; i++) {
    await pub.publish("b-probe", "x");
    const r = (await tryReceive(sub2, 50)) !== undefined;
    both = r && c.events.some((e) => e.topicText === "b-probe");
  }
  t.ok(both, "new subscriptions took effect");
  c.sub.unsubscribe("a");
  // An unsubscribe travels on the SUB's connection; probe it the same way: publish "a" then a "b" fence.
  let quiet = false;
  for (let i = 0; !quiet && i < 100; i++) {
    const before = c.events.length;
    await pub.publish("a", "after-unsubscribe");
    await pub.publish("b", `fence${i}`);
    await until(() => c.events.some((e) => e.text() === `fence${i}`), "fence");
    quiet = c.events.slice(before).every((e) => e.topicText !== "a");
  }
  t.ok(quiet, "after unsubscribe('a') nothing under 'a' arrives");
  const idle = new EventSubscriber({ address: pubsub.endpoints.outgoing!, topics: ["never-published"] });
  t.teardown(() => idle.close());
  const ac = new AbortController();
  const pending = idle.receive({ signal: ac.signal });
  ac.abort();
  await t.rejects(pending, { code: "ABORT_ERR" }, "receive() honours an AbortSignal");
  idle.close();
  await t.rejects(idle.receive(), { code: "EBADF" }, "receive() after close() rejects");
  c.sub.close();
  await within(c.done, 1000, "the iteration to end at close()");
  t.ok(c.sub.closed);
});
