// EventMQ's Python peers against our broker: test/interop/eventmq_peer.py reproduces what EventMQ's
// jobmanager and client do on the wire (libzmq DEALERs, uuid4 identities, strict UTF-8 decoding of
// every frame, READY only after the first router HEARTBEAT, REPLY only for reply-requested). Our
// extra frames and replies must be harmless to them, and their jobs must run.

import t from "tap";
import { spawn, type ChildProcessWithoutNullStreams } from "node:child_process";
import { createInterface } from "node:readline";
import { fileURLToPath } from "node:url";
import { PYTHON, requirePyzmq } from "./peer.js";
import { JOB, Peer, startBroker } from "../broker/peers.js";
import { until } from "../socket/fake-peer.js";

const SCRIPT = fileURLToPath(new URL("./eventmq_peer.py", import.meta.url));
const skip = requirePyzmq(t);

type Ev = Record<string, unknown> & { event: string };

class PyPeer {
  readonly events: Ev[] = [];
  readonly exited: Promise<number | null>;
  private readonly child: ChildProcessWithoutNullStreams;

  constructor(args: string[]) {
    this.child = spawn(PYTHON, [SCRIPT, ...args]);
    createInterface({ input: this.child.stdout }).on("line", (line) => {
      try {
        this.events.push(JSON.parse(line) as Ev);
      } catch {
        this.events.push({ event: "junk", line });
      }
    });
    this.child.stderr.on("data", (d: Buffer) => process.stderr.write(`[eventmq_peer] ${d}`));
    this.exited = new Promise((resolve) => this.child.on("exit", (code) => resolve(code)));
  }

  of(event: string): Ev[] {
    return this.events.filter((e) => e.event === event);
  }

  async wait(event: string, n = 1, ms = 8000): Promise<Ev[]> {
    await until(() => this.of(event).length >= n || this.of("crash").length > 0, `${n} "${event}" from the Python peer`, ms);
    const crash = this.of("crash")[0];
    if (crash) throw new Error(`the Python peer would have crashed: ${String(crash.why)}`);
    return this.of(event);
  }

  signal(sig: NodeJS.Signals): void {
    this.child.kill(sig);
  }
}

type Test = Parameters<Parameters<typeof t.test>[0]>[0];

function test(name: string, fn: (t: Test) => Promise<void>): void {
  if (skip) t.test(name, { skip }, async () => {});
  else t.test(name, fn);
}

test("an EventMQ jobmanager runs our clients' jobs; results reach the client; SIGTERM's KBYE unregisters it", async (t) => {
  const b = await startBroker({ heartbeatInterval: 200 });
  t.teardown(() => b.stop());
  const jm = new PyPeer(["jobmanager", b.endpoints.backend!, '[[10, "default"]]', "2", "1"]);
  t.teardown(() => jm.signal("SIGKILL"));
  await jm.wait("ack");
  await jm.wait("ready");
  const c = new Peer(b.endpoints.frontend!);
  t.teardown(() => c.close());
  const id = await c.send("REQUEST", "default", "reply-requested", JSON.stringify(["run", { callable: "add", path: "jobs", args: [2, 3], kwargs: {}, class_args: [], class_kwargs: {} }]));
  const res = await c.next((m) => m.command === "REPLY" && m.body.length === 2 && m.body[0] === id, "the result");
  t.same(JSON.parse(res.body[1]!), { value: 5 }, "the Python worker's result reached our client");
  // Fire-and-forget: we still ask the worker for the outcome (reply-requested added), it complies.
  const ff = await c.send("REQUEST", "default", "guarantee", JOB("echo", ["x"]));
  const jobs = await jm.wait("job", 2);
  t.equal(jobs[1]!.headers, "reply-requested,guarantee");
  t.equal(jobs[1]!.msgid, ff);
  await until(() => b.counters.completed === 2, "the broker to see the fire-and-forget job finish");
  jm.signal("SIGTERM");
  await jm.wait("kbye");
  t.equal(await jm.exited, 0, "the jobmanager exited cleanly");
  await until(() => b.counters.dispatched === 2 && (b as unknown as { workers: Map<unknown, unknown> }).workers.size === 0, "the broker to drop the worker on KBYE");
  t.same(jm.of("crash"), [], "no frame from us would have crashed EventMQ");
});

test("an EventMQ client's fire-and-forget jobs run on an EventMQ jobmanager through our broker", async (t) => {
  const b = await startBroker({ heartbeatInterval: 200 });
  t.teardown(() => b.stop());
  const jm = new PyPeer(["jobmanager", b.endpoints.backend!, '[[10, "default"]]', "1", "1"]);
  t.teardown(() => jm.signal("SIGKILL"));
  await jm.wait("ready");
  const cl = new PyPeer(["client", b.endpoints.frontend!, "5", "default", "reply-requested,retry-count:2"]);
  t.teardown(() => cl.signal("SIGKILL"));
  const sent = (await cl.wait("sent"))[0]!.msgids as string[];
  const jobs = await jm.wait("job", 5);
  t.same(jobs.map((j) => j.msgid).sort(), [...sent].sort(), "every job ran once");
  t.same(jobs.map((j) => j.value).sort(), [1, 2, 3, 4, 5]);
  await cl.wait("done", 1, 15_000);
  const got = cl.of("received").map((e) => e.frames as string[]);
  const receipts = got.filter((f) => f[0] === "REPLY" && f.length === 3);
  const results = got.filter((f) => f[0] === "REPLY" && f.length === 4);
  t.equal(receipts.length, 5, "one receipt per job, decoded as UTF-8 by the Python client");
  t.equal(results.length, 5, "and the results it asked for, harmless to it");
  t.equal(await cl.exited, 0);
  t.same([...jm.of("crash"), ...cl.of("crash")], []);
});
