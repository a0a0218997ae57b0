// Pub/sub against hand-written ZMTP peers, byte by byte: the subscription form our SUB/XSUB send to
// a ZMTP 3.0 peer (messages) and to a 3.1 peer (SUBSCRIBE/CANCEL commands), the resend after a
// reconnect, what our PUB/XPUB accept from raw SUB peers of either version, and garbage from peers.

import t, { type Test } from "tap";
import { Buffer } from "node:buffer";
import { Publisher, Subscriber, XPublisher, XSubscriber, type Socket } from "../../src/index.js";
import { COMMAND } from "../../src/zmtp/index.js";
import { commandFrame, messageBytes, scope, until, within, type FakeConn } from "./fake-peer.js";

const WAIT = 5000;
const recv = (s: Socket, what = "a message"): Promise<Buffer[]> => within(s.receive(), WAIT, what);
const strs = (m: Buffer[]): string[] => m.map(String);
const bytes = (...parts: (number[] | string)[]): Buffer =>
  Buffer.concat(parts.map((p) => (typeof p === "string" ? Buffer.from(p, "latin1") : Buffer.from(p))));

/** White-box: how many peers a PUB/XPUB holds `topic` for. */
const holders = (pub: Publisher | XPublisher, topic: Buffer | string): number =>
  (pub as unknown as { _subs: { holders(b: Uint8Array): number } })._subs.holders(Buffer.from(topic));
const waitHolders = (pub: Publisher | XPublisher, topic: Buffer | string, n: number) =>
  until(() => holders(pub, topic) === n, `${n} holder(s) of ${Buffer.from(topic).toString("hex")}`);

/** Reads exactly as many bytes as `want` has, and compares. */
async function expectRead(t: Test, c: FakeConn, want: Buffer, what?: string): Promise<void> {
  t.same(await c.read(want.length), want, what ?? want.toString("hex"));
}

/** Reads the next frame and returns flags + size + body as raw bytes (our framing is short for < 256). */
async function rawFrame(c: FakeConn): Promise<Buffer> {
  const f = await c.readFrame();
  return Buffer.concat([Buffer.from([f.flags, f.body.length]), f.body]);
}

t.test("SUB to a ZMTP 3.0 PUB: subscriptions are messages 01/00 + topic", async (t) => {
  const s = scope(t);
  const l = await s.listener();
  const sub = s.sock(new Subscriber());
  sub.subscribe("A"); // before connecting: sent once the handshake completes
  sub.connect(l.address);
  const c = await l.connection();
  const hs = await c.handshake("PUB", { minor: 0 });
  t.equal(hs.greeting[11], 1, "we still announce 3.1");
  await expectRead(t, c, bytes([0x00, 0x02, 0x01], "A"), "00 02 01 'A'");
  sub.subscribe("B");
  sub.subscribe("B"); // counted locally: nothing more on the wire
  sub.unsubscribe("A");
  await expectRead(t, c, bytes([0x00, 0x02, 0x01], "B"));
  await expectRead(t, c, bytes([0x00, 0x02, 0x00], "A"), "00 02 00 'A'");
  sub.subscribe();
  await expectRead(t, c, bytes([0x00, 0x01, 0x01]), "the empty prefix: 00 01 01");
  sub.unsubscribe();
  await expectRead(t, c, bytes([0x00, 0x01, 0x00]));
  // Our SUB filters what a (sloppy) publisher sends anyway.
  c.send(["A1"]);
  c.send(["B1", "more"]);
  c.send(["C1"]);
  c.send(["B2"]);
  t.same(strs(await recv(sub)), ["B1", "more"]);
  t.same(strs(await recv(sub)), ["B2"], "A1 and C1 were filtered out locally");
});

t.test("SUB to a ZMTP 3.1 PUB: SUBSCRIBE/CANCEL commands, resent in full after a reconnect", async (t) => {
  const s = scope(t);
  const l = await s.listener();
  const sub = s.sock(new Subscriber({ reconnectInterval: 20 }));
  sub.subscribe("A");
  sub.subscribe(Buffer.from([0x00, 0xff]));
  sub.connect(l.address);
  const c = await l.connection();
  await c.handshake("PUB", { minor: 1 });
  const first = [(await rawFrame(c)).toString("hex"), (await rawFrame(c)).toString("hex")].sort();
  t.same(
    first,
    [bytes([0x04, 0x0b, 0x09], "SUBSCRIBE", "A"), bytes([0x04, 0x0c, 0x09], "SUBSCRIBE", [0x00, 0xff])].map((b) => b.toString("hex")).sort(),
    "04 0B 09 'SUBSCRIBE' 'A', and the binary topic",
  );
  sub.unsubscribe("A");
  await expectRead(t, c, bytes([0x04, 0x08, 0x06], "CANCEL", "A"), "04 08 06 'CANCEL' 'A'");
  sub.subscribe("C");
  await expectRead(t, c, bytes([0x04, 0x0b, 0x09], "SUBSCRIBE", "C"));

  // The publisher goes away; on the new connection every current subscription is sent again.
  c.destroy();
  const c2 = await l.connection(2);
  await c2.handshake("PUB");
  const again = [(await rawFrame(c2)).toString("hex"), (await rawFrame(c2)).toString("hex")].sort();
  t.same(
    again,
    [bytes([0x04, 0x0c, 0x09], "SUBSCRIBE", [0x00, 0xff]), bytes([0x04, 0x0b, 0x09], "SUBSCRIBE", "C")].map((b) => b.toString("hex")).sort(),
    "resubscribed to exactly the current set",
  );
  c2.send(["C!"]);
  t.same(strs(await recv(sub)), ["C!"]);
});

t.test("XSUB to 3.0 and 3.1 PUBs: each gets its form; data goes out as is", async (t) => {
  const s = scope(t);
  const old = await s.listener();
  const cur = await s.listener();
  const xsub = s.sock(new XSubscriber());
  xsub.connect(old.address);
  xsub.connect(cur.address);
  const c0 = await old.connection();
  const c1 = await cur.connection();
  await c0.handshake("PUB", { minor: 0 });
  await c1.handshake("XPUB", { minor: 1 });
  await xsub.send(Buffer.from([0x01, 0x41]));
  await expectRead(t, c0, bytes([0x00, 0x02, 0x01], "A"));
  await expectRead(t, c1, bytes([0x04, 0x0b, 0x09], "SUBSCRIBE", "A"));
  await xsub.send(["up", "stream"]);
  await expectRead(t, c0, messageBytes(["up", "stream"]));
  await expectRead(t, c1, messageBytes(["up", "stream"]));
  await xsub.send(Buffer.from([0x00, 0x41]));
  await expectRead(t, c0, bytes([0x00, 0x02, 0x00], "A"));
  await expectRead(t, c1, bytes([0x04, 0x08, 0x06], "CANCEL", "A"));
  c0.send(["anything"]);
  t.same(strs(await recv(xsub)), ["anything"], "XSUB does not filter");
});

t.test("PUB takes subscriptions in both forms from 3.0 and 3.1 SUB peers", async (t) => {
  const s = scope(t);
  const pub = s.sock(new Publisher());
  await pub.bind("tcp://127.0.0.1:0");
  const addr = pub.lastEndpoint!;
  const v31 = await s.dial(addr);
  const v30 = await s.dial(addr);
  const mixed = await s.dial(addr);
  await v31.handshake("SUB", { minor: 1 });
  await v30.handshake("SUB", { minor: 0 });
  await mixed.handshake("XSUB", { minor: 1 });
  v31.write(commandFrame("SUBSCRIBE", Buffer.from("A")));
  v30.send([Buffer.from([0x01, 0x41])]);
  mixed.send([Buffer.from([0x01, 0x41])]); // a 3.1 peer may use the message form too
  await waitHolders(pub, "A", 3);
  await pub.send(["A1", "x"]);
  await pub.send("B1");
  await pub.send(["A2"]);
  const want = Buffer.concat([messageBytes(["A1", "x"]), messageBytes(["A2"])]);
  for (const [name, c] of [["3.1", v31], ["3.0", v30], ["mixed", mixed]] as const) {
    t.same(await c.read(want.length), want, `${name}: exactly A1 x, A2 (B1 filtered by the publisher)`);
  }
});

t.test("PUB: per peer a topic is held or not (libzmq): two SUBSCRIBEs, one CANCEL ends it", async (t) => {
  const s = scope(t);
  const pub = s.sock(new Publisher());
  await pub.bind("tcp://127.0.0.1:0");
  const c = await s.dial(pub.lastEndpoint!);
  await c.handshake("SUB");
  c.write(commandFrame("SUBSCRIBE", Buffer.from("A")));
  c.write(commandFrame("SUBSCRIBE", Buffer.from("A")));
  c.write(commandFrame("SUBSCRIBE", Buffer.from("Z")));
  await waitHolders(pub, "Z", 1);
  t.equal(holders(pub, "A"), 1);
  c.write(commandFrame("CANCEL", Buffer.from("A")));
  await waitHolders(pub, "A", 0);
  await pub.send("A1");
  await pub.send("Z1");
  t.same(await c.readMessage(), [Buffer.from("Z1")], "A is gone after one CANCEL");
  c.write(commandFrame("CANCEL", Buffer.from("Z")));
  c.write(commandFrame("CANCEL", Buffer.from("Z"))); // one too many: harmless
  c.write(commandFrame("CANCEL", Buffer.from("never")));
  c.write(commandFrame("SUBSCRIBE", Buffer.from("Y")));
  await waitHolders(pub, "Y", 1);
  t.equal(holders(pub, "Z"), 0);
});

t.test("garbage from peers: no throw, the connection or the publisher carries on", async (t) => {
  const s = scope(t);
  for (const Type of [Publisher, XPublisher]) {
    const pub = s.sock(new Type());
    await pub.bind("tcp://127.0.0.1:0");
    const addr = pub.lastEndpoint!;
    const c = await s.dial(addr);
    await c.handshake("SUB");
    c.write(commandFrame("HELLOTHERE", Buffer.from([0, 1, 2])));
    c.write(commandFrame("JOIN", Buffer.from("group")));
    c.write(commandFrame("subscribe", Buffer.from("lowercase is not SUBSCRIBE")));
    c.write(commandFrame("CANCEL", Buffer.from("not subscribed")));
    c.write(commandFrame("CANCEL"));
    c.send([Buffer.from([0x01, 0x41]), Buffer.from("multipart: data")]);
    c.send(["plain data"]);
    c.send([Buffer.alloc(0)]);
    c.send([Buffer.from([0x02, 0x41])]);
    const long = Buffer.alloc(300, 0xee); // a LONG command frame
    c.write(commandFrame("SUBSCRIBE", long));
    c.write(commandFrame("SUBSCRIBE", Buffer.from([0x00, 0xff, 0x00])));
    await waitHolders(pub, Buffer.from([0x00, 0xff, 0x00]), 1);
    t.equal(holders(pub, long), 1, `${pub.type}: 300-byte topic held`);
    t.equal(holders(pub, "A"), 0, `${pub.type}: a multipart message is not a subscription`);
    await pub.send([Buffer.from([0x00, 0xff, 0x00, 0x01]), "bin"]);
    await pub.send([Buffer.concat([long, Buffer.from("!")])]);
    t.same(await c.readMessage(), [Buffer.from([0x00, 0xff, 0x00, 0x01]), Buffer.from("bin")], `${pub.type}: binary topic matched`);
    t.same(await c.readMessage(), [Buffer.concat([long, Buffer.from("!")])], `${pub.type}: long topic matched`);
    if (pub instanceof XPublisher) {
      const got: string[] = [];
      for (let i = 0; i < 6; i++) got.push((await recv(pub)).map((b) => b.toString("hex")).join(","));
      t.same(
        got,
        ["0141," + Buffer.from("multipart: data").toString("hex"), Buffer.from("plain data").toString("hex"), "", "0241", "01" + long.toString("hex"), "0100ff00"],
        "XPUB: data passed up as is, new topics passed up, junk commands and unknown cancels not",
      );
    }
    // A malformed command (name length past the end) ends that connection only.
    const bad = await s.dial(addr);
    await bad.handshake("SUB");
    bad.write(Buffer.from([COMMAND, 0x03, 0x09, 0x41, 0x42]));
    await bad.waitEnd();
    await pub.send([Buffer.from([0x00, 0xff, 0x00]), "still"]);
    t.same(await c.readMessage(), [Buffer.from([0x00, 0xff, 0x00]), Buffer.from("still")], `${pub.type}: others unaffected`);
  }
});

t.test("XPUB: a raw 3.0 SUB's message-form subscriptions, the welcome message, departure", async (t) => {
  const s = scope(t);
  const xpub = s.sock(new XPublisher({ welcomeMessage: "HELLO" }));
  await xpub.bind("tcp://127.0.0.1:0");
  const c = await s.dial(xpub.lastEndpoint!);
  await c.handshake("SUB", { minor: 0 });
  await expectRead(t, c, bytes([0x00, 0x05], "HELLO"), "welcome first, 00 05 'HELLO'");
  c.send([Buffer.from([0x01, 0x4b])]);
  t.same(strs(await recv(xpub)), ["\x01K"]);
  c.write(commandFrame("SUBSCRIBE", Buffer.from("L")));
  t.same(strs(await recv(xpub)), ["\x01L"], "command form handed up as 01 + topic");
  await xpub.send(["K1"]);
  await expectRead(t, c, bytes([0x00, 0x02], "K1"));
  c.destroy();
  const gone = [String((await recv(xpub))[0]), String((await recv(xpub))[0])].sort();
  t.same(gone, ["\x00K", "\x00L"], "its topics are reported as unsubscribes when it leaves");
});
