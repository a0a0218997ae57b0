// Garbage into the forwarder: random frame arrays, near-misses of a PUBLISH (short, wrong
// delimiter or version, wrong commands, bad UTF-8), from publishers with binary routing ids. None
// of it may stop the forwarder; each malformed or non-PUBLISH message is logged with its reason
// and dropped, and exactly the valid PUBLISHes come out, in order. EventMQ's pubsub crashes on a
// PUBLISH with fewer than 6 frames.

import { Buffer, isUtf8 } from "node:buffer";
import t from "tap";
import fc from "fast-check";
import { Dealer, Subscriber } from "../../src/index.js";
import { EventPublisher } from "../../src/pubsub/index.js";
import { until, within } from "../socket/fake-peer.js";
import { Collector, parsed, publisher, startPubSub, sync, tryReceive } from "./helpers.js";

const b = (s: string): Buffer => Buffer.from(s, "utf8");
const E = Buffer.alloc(0);
const head = (cmd = "PUBLISH"): Buffer[] => [E, b("eMQP/1.0"), b(cmd), b("m1")];

/** Independent of the codec: what the forwarder must publish for these frames, if anything. */
function expectedOut(f: Buffer[]): [Buffer, Buffer] | undefined {
  if (f.length < 6 || f[0]!.length !== 0 || !f[1]!.equals(b("eMQP/1.0"))) return undefined;
  if (!isUtf8(f[2]!) || !isUtf8(f[3]!)) return undefined;
  if (f[2]!.toString("utf8").toUpperCase() !== "PUBLISH") return undefined;
  return [f[4]!, f[5]!];
}

const bytes = (max: number) => fc.uint8Array({ maxLength: max }).map((u) => Buffer.from(u));
const badUtf8 = fc.constantFrom(Buffer.from([0xff]), Buffer.from([0xc3, 0x28]), Buffer.from([0xed, 0xa0, 0x80]), Buffer.from([0xe2, 0x82]));
const frameArb = fc.oneof(
  // anything at all
  fc.array(bytes(24), { minLength: 1, maxLength: 9 }),
  // an eMQP envelope with random parts, often a PUBLISH, sometimes short or extended
  fc
    .record({
      delim: fc.oneof({ weight: 5, arbitrary: fc.constant(E) }, { weight: 1, arbitrary: bytes(3) }),
      version: fc.oneof({ weight: 5, arbitrary: fc.constant(b("eMQP/1.0")) }, { weight: 1, arbitrary: fc.constantFrom(b("eMQP/1.1"), b("emqp/1.0"), E) }),
      cmd: fc.oneof(
        { weight: 6, arbitrary: fc.constantFrom("PUBLISH", "publish", "Publish").map(b) },
        { weight: 3, arbitrary: fc.constantFrom("REQUEST", "HEARTBEAT", "INFORM", "KBYE", "DISCONNECT", "SCHEDULE", "HELLO", "").map(b) },
        { weight: 1, arbitrary: badUtf8 },
      ),
      msgid: fc.oneof({ weight: 6, arbitrary: fc.string({ maxLength: 40 }).map(b) }, { weight: 1, arbitrary: badUtf8 }),
      body: fc.array(bytes(32), { maxLength: 4 }),
    })
    .map((r) => [r.delim, r.version, r.cmd, r.msgid, ...r.body]),
);
// Routing ids: libzmq's rule (1-255 bytes, no leading zero byte), mostly not UTF-8; or none (generated).
const routingIdArb = fc.option(
  fc.uint8Array({ minLength: 1, maxLength: 255 }).filter((u) => u[0] !== 0).map((u) => Buffer.from(u)),
  { nil: undefined },
);

t.test("random frames never stop it; exactly the valid PUBLISHes come out, in order", async (t) => {
  const { pubsub, lines } = await startPubSub(t);
  const sub = new Subscriber({ linger: 0 });
  t.teardown(() => sub.close());
  sub.subscribe();
  sub.connect(pubsub.endpoints.outgoing!);
  const probe = publisher(t, pubsub);
  let subscribed = false;
  for (let i = 0; !subscribed && i < 100; i++) {
    await probe.publish("probe", "p");
    subscribed = (await tryReceive(sub, 50)) !== undefined;
  }
  t.ok(subscribed, "subscriber ready");
  while ((await tryReceive(sub, 20)) !== undefined); // late probes
  let run = 0;
  let totalValid = 0;
  let totalDropped = 0;
  await fc.assert(
    fc.asyncProperty(routingIdArb, fc.array(frameArb, { minLength: 1, maxLength: 12 }), async (routingId, msgs) => {
      const sentinel = b(`sentinel-${++run}`);
      const dealer = new Dealer({ routingId, linger: 0 });
      try {
        dealer.connect(pubsub.endpoints.incoming!);
        const dropped0 = pubsub.counters.dropped;
        for (const m of msgs) await dealer.send(m);
        await dealer.send([...head(), sentinel, b("end")]);
        const got: Buffer[][] = [];
        for (;;) {
          const m = await within(sub.receive(), 3000, `the sentinel of run ${run}`);
          if (m[0]!.equals(sentinel)) break;
          got.push(m);
        }
        const want = msgs.map(expectedOut).filter((x) => x !== undefined);
        totalValid += want.length;
        totalDropped += msgs.length - want.length;
        if (got.length !== want.length || got.some((m, i) => m.length !== 2 || !m[0]!.equals(want[i]![0]) || !m[1]!.equals(want[i]![1]))) {
          throw new Error(`published ${got.length}, expected ${want.length}`);
        }
        if (pubsub.counters.dropped - dropped0 !== msgs.length - want.length) {
          throw new Error(`dropped ${pubsub.counters.dropped - dropped0}, expected ${msgs.length - want.length}`);
        }
      } finally {
        dealer.close();
      }
    }),
    { numRuns: 150 },
  );
  t.comment(`${run} runs: ${totalValid} valid PUBLISHes forwarded, ${totalDropped} messages dropped`);
  t.ok(totalValid > 20 && totalDropped > 100, "both kinds were exercised");
  t.equal(pubsub.state, "running");
  const reasons = new Set(parsed(lines).filter((l) => l.level === "warn").map((l) => l.reason));
  for (const r of ["too-few-frames", "bad-delimiter", "unsupported-version", "not-utf8", "not-publish"]) t.ok(reasons.has(r), `logged reason ${r}`);
});

t.test("short PUBLISH, wrong commands and binary routing ids: logged, dropped, and a real pair keeps working", async (t) => {
  const { pubsub, lines } = await startPubSub(t);
  const pub = publisher(t, pubsub);
  const c = new Collector(t, pubsub, ["news"]);
  await sync(pub, [c]);
  const dealer = new Dealer({ routingId: Buffer.from([0xfe, 0x00, 0xff]), linger: 0 });
  t.teardown(() => dealer.close());
  dealer.connect(pubsub.endpoints.incoming!);
  const bad: [Buffer[], string][] = [
    [[...head(), b("news")], "too-few-frames"], // 5 frames: EventMQ's pubsub dies with IndexError
    [head(), "too-few-frames"], // 4 frames
    [[E, b("eMQP/1.0"), b("PUBLISH")], "too-few-frames"],
    [[E], "too-few-frames"],
    [[...head("REQUEST"), b("q"), b(""), b("[]")], "not-publish"],
    [[...head("HELLO"), b("news"), b("x")], "not-publish"],
    [[...head("HEARTBEAT"), b("1.0")], "not-publish"],
    [[b("x"), b("eMQP/1.0"), b("PUBLISH"), b("m"), b("news"), b("x")], "bad-delimiter"],
    [[E, b("eMQP/2.0"), b("PUBLISH"), b("m"), b("news"), b("x")], "unsupported-version"],
    [[E, b("eMQP/1.0"), Buffer.from([0xff, 0xfe]), b("m"), b("news"), b("x")], "not-utf8"],
    [[E, b("eMQP/1.0"), b("PUBLISH"), Buffer.from([0xc3, 0x28]), b("news"), b("x")], "not-utf8"],
  ];
  for (const [frames] of bad) await dealer.send(frames);
  await until(() => pubsub.counters.dropped === bad.length, `${bad.length} drops`);
  const warns = parsed(lines).filter((l) => l.level === "warn");
  // Drops of one kind within a second log once (with a count after); every kind shows up.
  for (const reason of new Set(bad.map(([, r]) => r))) t.ok(warns.some((w) => w.reason === reason), `logged with reason ${reason}`);
  t.ok(warns.every((w) => w.peer === "0xfe00ff"), "the binary routing id is logged as hex");
  t.ok(warns.some((w) => w.reason === "not-publish" && w.command === "HELLO"), "the command is named");
  // The real pair still works, and so does the garbage publisher once it sends a real PUBLISH.
  await pub.publish("news", { ok: 1 });
  await dealer.send([...head(), b("news.x"), b("from-binary-id")]);
  await until(() => c.real().length === 2, "both messages");
  t.same(c.events.filter((e) => !e.text().startsWith("\u0000")).map((e) => [e.topicText, e.text()]), [["news", '{"ok": 1}'], ["news.x", "from-binary-id"]]);
  t.equal(pubsub.state, "running");
});

t.test("a flood of garbage logs a count, not a line per message", async (t) => {
  const { pubsub, lines } = await startPubSub(t);
  const dealer = new Dealer({ linger: 0 });
  t.teardown(() => dealer.close());
  dealer.connect(pubsub.endpoints.incoming!);
  for (let i = 0; i < 2000; i++) await dealer.send([E, b("eMQP/1.0"), b("PUBLISH")]);
  await until(() => pubsub.counters.dropped === 2000, "2000 drops");
  const warns = parsed(lines).filter((l) => l.level === "warn");
  t.ok(warns.length >= 1 && warns.length <= 10, `${warns.length} warning line(s) for 2000 drops`);
  // Still serving.
  const pub = new EventPublisher({ address: pubsub.endpoints.incoming!, linger: 0 });
  t.teardown(() => pub.close());
  const c = new Collector(t, pubsub, ["x"]);
  await sync(pub, [c]);
  t.pass("still forwarding");
});
