// Conformance cases for the pub/sub socket types, one per type, over tcp://127.0.0.1 (run on Node
// through tap and on Bun/Deno by run.ts, like the rest of the table in cases.ts). No framework:
// each run() throws on failure and bounds every wait.

import { Buffer } from "node:buffer";
import * as net from "node:net";
import { Publisher, Subscriber, XPublisher, XSubscriber, type Socket } from "../../src/index.js";
import { withTimeout, type Case } from "./cases.js";

const WAIT_MS = 5_000;

function check(cond: unknown, msg: string): asserts cond {
  if (!cond) throw new Error(msg);
}

const show = (frames: readonly Uint8Array[]): string => JSON.stringify(frames.map((f) => Buffer.from(f).toString("latin1")));

function same(got: readonly Uint8Array[], want: readonly (string | Uint8Array)[], what: string): void {
  const w = want.map((f) => (typeof f === "string" ? Buffer.from(f, "latin1") : f));
  check(show(got) === show(w), `${what}: got ${show(got)}, want ${show(w)}`);
}

const recv = (s: Socket, what: string): Promise<Buffer[]> => withTimeout(s.receive(), WAIT_MS, what);

/**
 * Subscriptions reach a publisher some time after subscribe(): publish `probe` until the
 * subscriber has one (then drain the extra probes as they come, see `next`).
 */
async function synced(pub: Socket, sub: Socket, probe: string): Promise<void> {
  const deadline = Date.now() + WAIT_MS;
  for (;;) {
    await pub.send(probe);
    const m = await sub.receive({ signal: AbortSignal.timeout(20) }).catch(() => undefined);
    if (m) return;
    check(Date.now() < deadline, `subscription for ${probe} never reached the publisher`);
  }
}

/** The next message that is not a probe. */
async function next(s: Socket, what: string): Promise<Buffer[]> {
  for (;;) {
    const m = await recv(s, what);
    if (!m[0]!.toString("latin1").startsWith("probe")) return m;
  }
}

// ---- PUB: prefix filtering and fan-out to several subscribers ------------------------------------

async function pubCase(): Promise<void> {
  const pub = new Publisher({ linger: 0 });
  const subs = [new Subscriber({ linger: 0 }), new Subscriber({ linger: 0 }), new Subscriber({ linger: 0 })];
  try {
    await withTimeout(pub.bind("tcp://127.0.0.1:0"), WAIT_MS, "pub.bind");
    subs[0]!.subscribe("A");
    subs[1]!.subscribe(); // everything
    subs[2]!.subscribe("B", "probe");
    subs[0]!.subscribe("probe");
    for (const s of subs) s.connect(pub.lastEndpoint!);
    for (const [i, s] of subs.entries()) await synced(pub, s, `probe${i}`);
    await pub.send(["A1", "x"]);
    await pub.send("B1");
    await pub.send(["", Buffer.alloc(300, 7)]);
    await pub.send(["AB", ""]);
    await pub.send("probe-end");
    same(await next(subs[0]!, "A subscriber"), ["A1", "x"], "prefix A: first");
    same(await next(subs[0]!, "A subscriber"), ["AB", ""], "prefix A: second");
    same(await next(subs[1]!, "all subscriber"), ["A1", "x"], "empty prefix: 1");
    same(await next(subs[1]!, "all subscriber"), ["B1"], "empty prefix: 2");
    same(await next(subs[1]!, "all subscriber"), ["", Buffer.alloc(300, 7)], "empty prefix: 3 (LONG frame)");
    same(await next(subs[1]!, "all subscriber"), ["AB", ""], "empty prefix: 4");
    same(await next(subs[2]!, "B subscriber"), ["B1"], "prefix B");
    let r = "";
    await pub.receive().catch((e: { code?: string }) => (r = e.code ?? ""));
    check(r === "ENOTSUP", `Publisher.receive() must reject with ENOTSUP, got ${r}`);
  } finally {
    pub.close();
    for (const s of subs) s.close();
  }
}

// ---- SUB: the exact subscription bytes for a ZMTP 3.0 and a 3.1 publisher --------------------------

/** A raw publisher: accepts one connection, plays greeting (given minor) + READY PUB, collects bytes. */
async function rawPublisher(minor: number) {
  let sock: net.Socket | undefined;
  let buf = Buffer.alloc(0);
  let wake: (() => void) | undefined;
  const server = net.createServer((s) => {
    sock = s;
    s.on("data", (d: Buffer) => {
      buf = Buffer.concat([buf, d]);
      wake?.();
    });
    s.on("error", () => {});
    const greeting = Buffer.alloc(64);
    greeting[0] = 0xff;
    greeting[9] = 0x7f;
    greeting[10] = 3;
    greeting[11] = minor;
    greeting.write("NULL", 12, "latin1");
    const body = Buffer.concat([Buffer.from([5]), Buffer.from("READY"), Buffer.from([11]), Buffer.from("Socket-Type"), Buffer.from([0, 0, 0, 3]), Buffer.from("PUB")]);
    s.write(Buffer.concat([greeting, Buffer.from([0x04, body.length]), body]));
  });
  await withTimeout(new Promise<void>((r) => server.listen({ host: "127.0.0.1", port: 0 }, r)), WAIT_MS, "raw publisher listen");
  return {
    address: `tcp://127.0.0.1:${(server.address() as net.AddressInfo).port}`,
    /** Waits for `n` bytes after the 64-octet greeting and our READY frame; returns them. */
    async after(n: number, what: string): Promise<Buffer> {
      const deadline = Date.now() + WAIT_MS;
      for (;;) {
        if (buf.length >= 66) {
          const readyEnd = 64 + 2 + buf[65]!;
          if (buf.length >= readyEnd + n) return buf.subarray(readyEnd, readyEnd + n);
        }
        const left = deadline - Date.now();
        check(left > 0, `${what}: timed out with ${buf.length} octets received`);
        await new Promise<void>((r) => {
          const t = setTimeout(r, left);
          wake = () => {
            clearTimeout(t);
            r();
          };
        });
      }
    },
    close(): void {
      sock?.destroy();
      server.close();
    },
  };
}

async function subCase(): Promise<void> {
  const v30 = await rawPublisher(0);
  const v31 = await rawPublisher(1);
  const sub = new Subscriber({ linger: 0 });
  try {
    sub.subscribe("A");
    sub.subscribe("A"); // counted: still one subscription on the wire
    sub.connect(v30.address);
    sub.connect(v31.address);
    const m = await v30.after(4, "3.0 publisher");
    check(m.toString("hex") === "00020141", `ZMTP 3.0 peer must get the message 00 02 01 'A', got ${m.toString("hex")}`);
    const c = await v31.after(13, "3.1 publisher");
    const want = Buffer.concat([Buffer.from([0x04, 0x0b, 0x09]), Buffer.from("SUBSCRIBEA")]);
    check(c.equals(want), `ZMTP 3.1 peer must get ${want.toString("hex")}, got ${c.toString("hex")}`);
    sub.unsubscribe("A");
    sub.unsubscribe("A");
    const m2 = await v30.after(8, "3.0 cancel");
    check(m2.subarray(4).toString("hex") === "00020041", `3.0 cancel must be 00 02 00 'A', got ${m2.subarray(4).toString("hex")}`);
    const c2 = await v31.after(23, "3.1 cancel");
    const want2 = Buffer.concat([Buffer.from([0x04, 0x08, 0x06]), Buffer.from("CANCELA")]);
    check(c2.subarray(13).equals(want2), `3.1 cancel must be ${want2.toString("hex")}, got ${c2.subarray(13).toString("hex")}`);
    let r = "";
    await sub.send("x").catch((e: { code?: string }) => (r = e.code ?? ""));
    check(r === "ENOTSUP", `Subscriber.send() must reject with ENOTSUP, got ${r}`);
  } finally {
    sub.close();
    v30.close();
    v31.close();
  }
}

// ---- XPUB: subscriptions handed to the application, unsubscribes when a subscriber leaves ----------

async function xpubCase(): Promise<void> {
  const xpub = new XPublisher({ linger: 0 });
  const sub = new Subscriber({ linger: 0 });
  const xsub = new XSubscriber({ linger: 0 });
  try {
    await withTimeout(xpub.bind("tcp://127.0.0.1:0"), WAIT_MS, "xpub.bind");
    sub.subscribe("news");
    sub.connect(xpub.lastEndpoint!);
    same(await recv(xpub, "the SUB's subscription"), ["\x01news"], "subscription message");
    xsub.connect(xpub.lastEndpoint!);
    await xsub.send("\x01weather");
    same(await recv(xpub, "the XSUB's subscription"), ["\x01weather"], "XSUB subscription message");
    await xsub.send(["up", "stream"]);
    same(await recv(xpub, "the XSUB's own message"), ["up", "stream"], "non-subscription message passed up");
    await xpub.send(["news", "1"]);
    same(await recv(sub, "news"), ["news", "1"], "SUB got its topic");
    await xpub.send(["weather", "2"]);
    same(await recv(xsub, "weather"), ["weather", "2"], "XSUB got its topic");
    sub.close();
    same(await recv(xpub, "the departed SUB's unsubscribe"), ["\x00news"], "departure reported as unsubscribe");
  } finally {
    xpub.close();
    sub.close();
    xsub.close();
  }
}

// ---- XSUB: subscribing by message, counted --------------------------------------------------------

async function xsubCase(): Promise<void> {
  const pub = new Publisher({ linger: 0 });
  const xsub = new XSubscriber({ linger: 0 });
  try {
    await withTimeout(pub.bind("tcp://127.0.0.1:0"), WAIT_MS, "pub.bind");
    xsub.connect(pub.lastEndpoint!);
    await xsub.send(Buffer.from([1, 0x41]));
    await xsub.send(Buffer.from([1, 0x41]));
    await xsub.send("\x01probe");
    await synced(pub, xsub, "probe0");
    await xsub.send(Buffer.from([0, 0x41])); // one of two: A stays
    await pub.send("A1");
    await pub.send("B1");
    await pub.send("probe-mark");
    same(await next(xsub, "A1"), ["A1"], "subscribed by message; B filtered by the publisher");
    await xsub.send(Buffer.from([0, 0x41])); // the last one: A goes
    // Wait until the cancel took effect: A messages stop while probes go on.
    const deadline = Date.now() + WAIT_MS;
    for (let i = 0; ; i++) {
      await pub.send(`A-${i}`);
      await pub.send(`probe-${i}`);
      let m: Buffer[];
      do m = await recv(xsub, "after the cancel");
      while (m[0]!.toString().startsWith("probe") && m[0]!.toString() !== `probe-${i}`);
      if (m[0]!.toString() === `probe-${i}`) break; // A-i was not delivered
      check(Date.now() < deadline, "the cancel never took effect");
    }
  } finally {
    pub.close();
    xsub.close();
  }
}

export const pubsubCases: Case[] = [
  { name: "pubsub PUB: prefix filtering, empty prefix, fan-out to 3 subscribers, ENOTSUP receive (tcp 127.0.0.1)", run: pubCase },
  { name: "pubsub SUB: 00 02 01 'A' to a ZMTP 3.0 PUB, SUBSCRIBE command to 3.1, counted, CANCEL (tcp)", run: subCase },
  { name: "pubsub XPUB: subscriptions and upstream data received, departure unsubscribes (tcp 127.0.0.1)", run: xpubCase },
  { name: "pubsub XSUB: subscribe/unsubscribe by message, counted (tcp 127.0.0.1)", run: xsubCase },
];
