// The forwarder against libzmq (pyzmq, /usr/bin/python3): a libzmq SUB receives what it publishes,
// filtered by prefix, as exactly [topic, message]; a libzmq DEALER's PUBLISH (as EventMQ's library
// sends it, with a uuid4 identity, and with libzmq's generated binary identity, which crashes
// EventMQ's pubsub) comes out to our subscriber.

import { Buffer } from "node:buffer";
import { randomUUID } from "node:crypto";
import t from "tap";
import { peerScope, requirePyzmq, type Peer } from "../interop/peer.js";
import { until } from "../socket/fake-peer.js";
import { Collector, publisher, startPubSub, sync } from "./helpers.js";

const skip = requirePyzmq(t);
const b = (s: string | number[]): Buffer => (typeof s === "string" ? Buffer.from(s, "utf8") : Buffer.from(s));

/** One recv with a timeout; undefined when nothing came. */
async function recvOrNone(peer: Peer, ms: number): Promise<Buffer[] | undefined> {
  const r = await peer.request({ op: "recv", timeout: ms }, ms + 10_000);
  if (r.error !== undefined) return undefined;
  return (r.frames as string[]).map((h) => Buffer.from(h, "hex"));
}

t.test("a libzmq SUB receives exactly what matches its prefix", { skip }, async (t) => {
  const { pubsub } = await startPubSub(t);
  const pub = publisher(t, pubsub);
  const ps = peerScope(t);
  const sub = await ps.peer({ type: "SUB", connect: pubsub.endpoints.outgoing!, subscribe: ["news"] });
  let ready = false;
  for (let i = 0; !ready && i < 100; i++) {
    await pub.publish("news\u0000probe", "p");
    ready = (await recvOrNone(sub, 50)) !== undefined;
  }
  t.ok(ready, "the libzmq SUB's subscription reached the PUB");
  while ((await recvOrNone(sub, 30)) !== undefined); // late probes
  const msgs: [string | Buffer, unknown][] = [
    ["news", { hello: "world" }],
    ["weather", "not for it"],
    [b([0x6e, 0x65, 0x77, 0x73, 0xff, 0x00]), b([0x00, 0xff, 0xc3, 0x28])],
    ["new", "not for it either"],
    ["news.tech", ""],
  ];
  for (const [topic, message] of msgs) await pub.publish(topic, message);
  await pub.publish("news-fence", "end");
  const got: string[][] = [];
  for (;;) {
    const m = await recvOrNone(sub, 5000);
    if (!m) throw new Error(`timed out; got ${JSON.stringify(got)}`);
    if (m[0]!.equals(b("news-fence"))) break;
    got.push(m.map((f) => f.toString("hex")));
  }
  t.same(
    got,
    [
      [b("news").toString("hex"), b('{"hello": "world"}').toString("hex")], // EventMQ's live example, byte for byte
      ["6e657773ff00", "00ffc328"],
      [b("news.tech").toString("hex"), ""],
    ],
    "[topic, message], prefix-filtered, in order, bytes untouched",
  );
});

t.test("a libzmq DEALER's PUBLISH (uuid4 or generated binary identity) reaches our subscriber", { skip }, async (t) => {
  const { pubsub } = await startPubSub(t);
  const c = new Collector(t, pubsub, ["ev"]);
  const ps = peerScope(t);
  const named = await ps.peer({ type: "DEALER", connect: pubsub.endpoints.incoming!, identity: randomUUID() });
  const anonymous = await ps.peer({ type: "DEALER", connect: pubsub.endpoints.incoming! }); // 0x00 + 4 bytes
  // A probe from our own publisher first, so the subscription is known to be in place.
  await sync(publisher(t, pubsub), [c]);
  const frames = (msgid: string, topic: string, message: string) => [b(""), b("eMQP/1.0"), b("PUBLISH"), b(msgid), b(topic), b(message)];
  await named.send(frames(randomUUID(), "ev.named", '{"n": 1}'));
  await anonymous.send(frames(randomUUID(), "ev.anon", '{"n": 2}'));
  await anonymous.send([b(""), b("eMQP/1.0"), b("PUBLISH"), b("short")]); // EventMQ's pubsub dies here
  await anonymous.send(frames(randomUUID(), "ev.anon", '{"n": 3}'));
  await until(() => c.real().length >= 3, "three events");
  const got = c.events.filter((e) => !e.text().startsWith("\u0000")).map((e) => [e.topicText, e.json()]);
  t.same(got.filter(([tp]) => tp === "ev.named"), [["ev.named", { n: 1 }]]);
  t.same(got.filter(([tp]) => tp === "ev.anon"), [["ev.anon", { n: 2 }], ["ev.anon", { n: 3 }]], "the short PUBLISH between them was dropped, nothing else");
  t.equal(pubsub.counters.dropped, 1);
});
