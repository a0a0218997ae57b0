// Our Worker against a libzmq stand-in for EventMQ's router backend (fixtures/eventmq_router.py:
// strict UTF-8 decoding of every frame, json.loads of INFORM queues and REPLY results, ACK,
// HEARTBEAT, slots from READY). Needs /usr/bin/python3 with pyzmq; without it the tests skip with
// the reason printed (and fail under CI=true).

import t, { type Test } from "tap";
import { spawn, type ChildProcessWithoutNullStreams } from "node:child_process";
import { createInterface } from "node:readline";
import { fileURLToPath } from "node:url";
import { PYTHON, requirePyzmq } from "../interop/peer.js";
import { until, within } from "../socket/fake-peer.js";
import { Worker } from "../../src/worker/index.js";

const SCRIPT = fileURLToPath(new URL("./fixtures/eventmq_router.py", import.meta.url));
const skip = requirePyzmq(t);
const WAIT = 8000;

type Ev = Record<string, unknown> & { event: string };

class PyRouter {
  readonly events: Ev[] = [];
  readonly exited: Promise<number | null>;
  private readonly child: ChildProcessWithoutNullStreams;

  constructor(port: number, heartbeatSeconds: number) {
    this.child = spawn(PYTHON, [SCRIPT, String(port), String(heartbeatSeconds)]);
    createInterface({ input: this.child.stdout }).on("line", (line) => {
      try {
        this.events.push(JSON.parse(line) as Ev);
      } catch {
        this.events.push({ event: "junk", line });
      }
    });
    this.child.stderr.on("data", (d: Buffer) => process.stderr.write(`[eventmq_router] ${d}`));
    this.exited = new Promise((resolve) => this.child.on("exit", (code) => resolve(code)));
  }

  of(event: string, worker?: string): Ev[] {
    return this.events.filter((e) => e.event === event && (worker === undefined || e.worker === worker));
  }

  async wait(event: string, n = 1, worker?: string, ms = WAIT): Promise<Ev[]> {
    await until(() => this.of(event, worker).length >= n || this.of("crash").length > 0, `${n} "${event}" from the Python router`, ms);
    const c = this.of("crash")[0];
    if (c) throw new Error(`EventMQ's router would have crashed: ${String(c.why)}`);
    return this.of(event, worker);
  }

  async port(): Promise<number> {
    return Number((await this.wait("bound"))[0]!.port);
  }

  request(msgid: string, job: unknown, headers = "reply-requested", queue = "default"): void {
    const body = JSON.stringify(["run", job]);
    this.child.stdin.write(JSON.stringify({ op: "request", msgid, queue, headers, body }) + "\n");
  }

  kill(): Promise<number | null> {
    this.child.kill("SIGKILL");
    return this.exited;
  }
}

function router(t: Test, port = 0, hb = 0.2): PyRouter {
  const r = new PyRouter(port, hb);
  t.teardown(() => r.kill());
  return r;
}

function test(name: string, fn: (t: Test) => Promise<void>): void {
  if (skip) t.test(name, { skip }, async () => {});
  else t.test(name, fn);
}

test("EventMQ's router registers our worker, runs its jobs, reads its REPLYs and HEARTBEATs, and sees its KBYE", async (t) => {
  const r = router(t);
  const port = await r.port();
  const w = new Worker({
    address: `tcp://127.0.0.1:${port}`,
    queues: [[20, "heavy"], [10, "default"]],
    concurrency: 2,
    heartbeatInterval: 100,
    handlers: { "jobs.add": (args) => (args as number[]).reduce((a, b) => a + b, 0), fail: () => Promise.reject(new Error("kaboom")) },
  });
  t.teardown(() => w.stop({ timeout: 50 }));
  await within(w.start(), WAIT, "start()");
  const [inform] = await r.wait("inform");
  t.equal(inform!.worker, w.routingId, "the routing id decodes as UTF-8 and is the worker's");
  t.same(inform!.body, ['[[20, "heavy"], [10, "default"]]', "worker"]);
  await r.wait("ready", 2);
  await r.wait("heartbeat", 2, w.routingId);

  r.request("job-1", { callable: "add", path: "jobs", args: [1, 2, 3], kwargs: {}, class_args: [], class_kwargs: {} });
  const [res] = await r.wait("result");
  t.same(res!.result, { value: 6 });
  t.equal(res!.job, "job-1", "REPLY is [result, job msgid], as EventMQ reads it");
  await r.wait("ready", 3);

  r.request("job-2", { callable: "fail" });
  const results = await r.wait("result", 2);
  t.same(results[1]!.result, { error: { code: "EJOBFAILED", message: "kaboom", name: "Error" } });
  await r.wait("ready", 4);

  r.request("job-3", { callable: "add", path: "jobs", args: [1] }, "");
  await r.wait("ready", 5);
  t.equal(r.of("result").length, 2, "no REPLY without reply-requested");

  await within(w.stop(), WAIT, "stop()");
  await r.wait("kbye");
  t.equal(r.of("unknown_worker").length, 0, "nothing from an unregistered worker");
});

test("EventMQ's router restarts on the same port: the worker re-INFORMs at once and offers its slots", async (t) => {
  const r1 = router(t);
  const port = await r1.port();
  const w = new Worker({ address: `tcp://127.0.0.1:${port}`, concurrency: 3, handlers: { f: () => "ok" } });
  t.teardown(() => w.stop({ timeout: 50 }));
  await within(w.start(), WAIT, "start()");
  await r1.wait("ready", 3);
  await r1.kill();
  await until(() => !w.registered, "the worker sees the connection go");

  const r2 = router(t, port);
  await r2.port();
  const [inform] = await r2.wait("inform");
  t.equal(inform!.worker, w.routingId, "same routing id");
  await r2.wait("ready", 3);
  r2.request("after-restart", { callable: "f" });
  const [res] = await r2.wait("result");
  t.same(res!.result, { value: "ok" });
  t.equal(r2.of("unknown_worker").length, 0, "no message reached the new router before the INFORM");
});
