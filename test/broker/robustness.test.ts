// Robustness (fast-check): random and half-valid eMQP messages from peers with arbitrary binary
// routing ids, thrown at all three broker sockets, including the wrong commands on the wrong
// socket, while a real client/worker pair keeps getting jobs done through the same broker.

import t from "tap";
import fc from "fast-check";
import { Buffer } from "node:buffer";
import { Dealer } from "../../src/index.js";
import { captureLogger, JOB, Peer, startBroker, type LogLine } from "./peers.js";
import { within } from "../socket/fake-peer.js";

const COMMANDS = ["REQUEST", "REPLY", "DISCONNECT", "ACK", "INFORM", "READY", "HEARTBEAT", "KBYE", "SCHEDULE", "UNSCHEDULE", "PUBLISH", "STATUS", "ROUTER_SHOW_WORKERS", "ROUTER_SHOW_SCHEDULERS", "HELLO", "ready", "inform"];

const token = fc.oneof(
  fc.constant(""),
  fc.constant("eMQP/1.0"),
  fc.constantFrom(...COMMANDS),
  fc.constantFrom("worker", "scheduler", "[[10, \"default\"]]", "[[1, \"x\"], [2, \"y\"]]", "[]", "{", "reply-requested,guarantee", "timeout:x", "retry-count:1", "-1", "38", "* * * * *"),
  fc.constant(JOB()),
  fc.string({ maxLength: 12 }),
  fc.uint8Array({ maxLength: 24 }).map((b) => Buffer.from(b)),
);

/** A message: sometimes a well-formed envelope with random body, sometimes anything at all. */
const message = fc.oneof(
  fc.tuple(fc.constantFrom(...COMMANDS), fc.array(token, { maxLength: 6 })).map(([cmd, body]) => ["", "eMQP/1.0", cmd, "fuzz", ...body] as (string | Buffer)[]),
  fc.array(token, { minLength: 1, maxLength: 8 }),
);

const shot = fc.record({ socket: fc.constantFrom(0, 1, 2), peer: fc.nat(5), frames: message });

/** DISCONNECT on the frontend or admin socket is a legitimate shutdown order; leave it out. */
const shutsDown = (frames: (string | Buffer)[]) => frames.length >= 3 && String(frames[2]).toUpperCase() === "DISCONNECT";

t.test("random frames at every socket never stop a real client/worker pair", async (t) => {
  const lines: LogLine[] = [];
  const b = await startBroker({ logger: captureLogger(lines) });
  t.teardown(() => b.stop());
  const addrs = [b.endpoints.frontend!, b.endpoints.backend!, b.endpoints.admin!];
  // Rogues with binary routing ids (invalid UTF-8 too, which crashes EventMQ's router).
  const ids = [[0xff], [0xf4, 0x90, 0x80], [0x01, 0x00], [0xc3], [0x41, 0xfe, 0x42], [0x7f]].map((a) => Buffer.from(a));
  const rogues = addrs.map((a) =>
    ids.map((id) => {
      const d = new Dealer({ routingId: id, linger: 0, reconnectInterval: 50, sendTimeout: 2000 });
      d.connect(a);
      void (async () => {
        for await (const _ of d) {
          // drain whatever the broker answers
        }
      })().catch(() => {});
      return d;
    }),
  );
  t.teardown(() => rogues.flat().forEach((d) => d.close()));

  // The real pair: a worker for a queue no rogue can name, answering every job.
  const worker = new Peer(addrs[1]!, "real-worker");
  t.teardown(() => worker.close());
  await worker.send("INFORM", '[[10, "real-q"]]', "worker");
  await worker.nextCommand("ACK");
  await worker.send("READY");
  let serving = true;
  void (async () => {
    while (serving) {
      const req = await worker.nextCommand("REQUEST", 60_000).catch(() => undefined);
      if (!req) continue;
      await worker.send("REPLY", JSON.stringify({ value: JSON.parse(req.body[2]!)[1].args }), req.msgid);
      await worker.send("READY");
    }
  })();
  t.teardown(() => void (serving = false));
  const client = new Peer(addrs[0]!, "real-client");
  t.teardown(() => client.close());
  let n = 0;

  await fc.assert(
    fc.asyncProperty(fc.array(shot, { minLength: 1, maxLength: 25 }), async (shots) => {
      for (const s of shots) {
        if (s.socket !== 1 && shutsDown(s.frames)) continue;
        await within(rogues[s.socket]![s.peer]!.send(s.frames), 3000, "a rogue send");
      }
      const i = ++n;
      const id = await client.send("REQUEST", "real-q", "reply-requested", JOB("echo", [i]));
      const res = await client.next((m) => m.command === "REPLY" && m.body.length === 2 && m.body[0] === id, `result ${i}`);
      return b.state === "running" && JSON.stringify(JSON.parse(res.body[1]!).value) === JSON.stringify([i]);
    }),
    { numRuns: 150 },
  );
  t.equal(b.state, "running", "the broker is still running");
  t.notOk(lines.some((l) => l.level === "error"), `no internal error (${lines.filter((l) => l.level === "error").map((l) => l.msg).join("; ")})`);
  t.ok(b.counters.dropped > 0, `malformed input was dropped with a logged reason (${b.counters.dropped})`);
});
