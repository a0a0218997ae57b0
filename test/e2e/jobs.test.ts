// End to end over tcp://127.0.0.1 with the real roles: Client -> Broker -> Worker -> result ->
// Client. A worker process killed with SIGKILL mid-job (guarantee), retry-count, timeout, a broker
// restart that clients and workers ride out, and 10 000 jobs over 4 workers with none lost or
// duplicated.

import t from "tap";
import { spawn } from "node:child_process";
import * as net from "node:net";
import { createInterface } from "node:readline";
import { fileURLToPath } from "node:url";
import { Broker } from "../../src/broker/broker.js";
import { Client, EmqJobError } from "../../src/client/index.js";
import { Worker } from "../../src/worker/index.js";
import { silentLogger } from "../../src/log/logger.js";
import { startBroker } from "../broker/peers.js";
import { until, within } from "../socket/fake-peer.js";

const WORKER_CLI = fileURLToPath(new URL("../../dist/cli/emq-worker.js", import.meta.url));
const HANDLERS = fileURLToPath(new URL("./fixtures/handlers.mjs", import.meta.url));
const job = (callable: string, args: unknown[] = []) => ({ callable, path: "e2e", args });

type Test = Parameters<Parameters<typeof t.test>[0]>[0];

function roles(t: Test) {
  const stops: Array<() => unknown> = [];
  t.teardown(async () => {
    for (const s of stops.reverse()) await s();
  });
  return {
    async broker(opts: ConstructorParameters<typeof Broker>[0] = {}) {
      const b = await startBroker(opts);
      stops.push(() => b.stop());
      return b;
    },
    async worker(b: Broker | string, handlers: Record<string, (...a: never[]) => unknown>, opts: ConstructorParameters<typeof Worker>[0] = {}) {
      const w = new Worker({ address: typeof b === "string" ? b : b.endpoints.backend!, logger: silentLogger, ...opts });
      for (const [name, fn] of Object.entries(handlers)) w.handle(name, fn as never);
      stops.push(() => w.stop({ timeout: 100 }));
      await within(w.start(), 5000, "the worker to register");
      return w;
    },
    client(b: Broker | string, opts: ConstructorParameters<typeof Client>[0] = {}) {
      const c = new Client({ address: typeof b === "string" ? b : b.endpoints.frontend!, logger: silentLogger, ...opts });
      stops.push(() => c.close());
      return c;
    },
  };
}

/** White-box: the broker's registered workers. */
const brokerWorkers = (b: Broker) => (b as unknown as { workers: Map<string, { slots: number; running: Map<string, unknown> }> }).workers;

async function freePort(): Promise<number> {
  const srv = net.createServer();
  await new Promise<void>((r) => srv.listen(0, "127.0.0.1", r));
  const port = (srv.address() as net.AddressInfo).port;
  await new Promise((r) => srv.close(r));
  return port;
}

t.test("a job's result comes back to the client through the real roles", async (t) => {
  const r = roles(t);
  const b = await r.broker();
  await r.worker(b, { add: (args: number[]) => args.reduce((a, x) => a + x, 0) });
  const c = r.client(b);
  t.equal(await c.request("default", job("add", [1, 2, 3])), 6);
  const err = await c.request("default", job("nope")).catch((e: unknown) => e);
  t.ok(err instanceof EmqJobError, "an unknown handler rejects with EmqJobError");
  t.equal((err as EmqJobError).code, "ENOHANDLER");
});

t.test("SIGKILL a worker process mid-job: with guarantee the job completes on another worker, once", async (t) => {
  const r = roles(t);
  const b = await r.broker();
  const child = spawn(process.execPath, [WORKER_CLI, "--address", b.endpoints.backend!, "--handlers", HANDLERS, "--concurrency", "1", "--log-level", "warn"], {
    stdio: ["ignore", "pipe", "inherit"],
  });
  t.teardown(() => void child.kill("SIGKILL"));
  const started: string[] = [];
  createInterface({ input: child.stdout! }).on("line", (l) => l.startsWith("STARTED") && started.push(l));
  await until(() => [...brokerWorkers(b).values()].some((w) => w.slots > 0), "the worker process to register", 10_000);
  const c = r.client(b);
  const result = c.request("default", job("slow", [60_000]), { guarantee: true });
  await until(() => started.length === 1, "the job to start in the worker process", 5000);
  t.match(started[0], `pid=${child.pid}`);
  let heirRuns = 0;
  await r.worker(b, { slow: () => (heirRuns++, "done by the heir") });
  child.kill("SIGKILL");
  t.equal(await within(result, 10_000, "the guaranteed job's result"), "done by the heir");
  t.equal(heirRuns, 1, "the heir ran it once");
  await new Promise((res) => setTimeout(res, 200));
  t.equal(b.counters.requeued, 1, "re-queued once, when the worker's connection dropped");
  t.equal(b.counters.completed, 1, "one result, so the client observed it exactly once");
});

t.test("retry-count re-runs a failing job; timeout:N fails one that runs too long", async (t) => {
  const r = roles(t);
  const b = await r.broker({ timeoutGrace: 500 });
  let calls = 0;
  await r.worker(b, {
    flaky: () => {
      if (++calls < 3) throw new Error(`failure ${calls}`);
      return "third time lucky";
    },
    sleepy: (_a: unknown, _k: unknown, ctx: { signal: AbortSignal }) =>
      new Promise((res) => {
        const tm = setTimeout(res, 10_000);
        ctx.signal.addEventListener("abort", () => clearTimeout(tm));
      }),
  });
  const c = r.client(b);
  t.equal(await c.request("default", job("flaky"), { retryCount: 2 }), "third time lucky");
  t.equal(calls, 3);
  calls = 0;
  const failed = await c.request("default", job("flaky"), { retryCount: 1 }).catch((e: EmqJobError) => e);
  t.equal((failed as EmqJobError).code, "EJOBFAILED");
  t.match((failed as EmqJobError).message, /failure 2/, "the last failure is the one delivered");
  const t0 = Date.now();
  const late = await c.request("default", job("sleepy"), { timeout: 1 }).catch((e: EmqJobError) => e);
  t.equal((late as EmqJobError).code, "ETIMEDOUT");
  t.ok(Date.now() - t0 >= 1000 && Date.now() - t0 < 5000, `timed out after ${Date.now() - t0} ms`);
});

t.test("broker restart: workers and clients reconnect and work resumes within 2 s", async (t) => {
  const r = roles(t);
  const [fp, bp] = [await freePort(), await freePort()];
  const addrs = { frontend: `tcp://127.0.0.1:${fp}`, backend: `tcp://127.0.0.1:${bp}`, admin: "" };
  let b1: Broker | undefined = await startBroker(addrs);
  t.teardown(() => b1?.stop());
  await r.worker(addrs.backend, { add: (args: number[]) => args.reduce((a, x) => a + x, 0) });
  const c = r.client(addrs.frontend);
  t.equal(await c.request("default", job("add", [1, 1])), 2);
  await b1.stop();
  b1 = undefined;
  // A request made while no broker runs waits and is sent again on the new connection.
  const during = c.request("default", job("add", [2, 2]));
  await new Promise((res) => setTimeout(res, 300));
  const b2 = await r.broker(addrs);
  const t0 = Date.now();
  t.equal(await within(c.request("default", job("add", [3, 3])), 2000, "a request within 2 s of the restart"), 6);
  t.equal(await within(during, 2000, "the request made while the broker was down"), 4);
  t.ok(Date.now() - t0 < 2000, `work resumed ${Date.now() - t0} ms after the restart`);
  t.equal(brokerWorkers(b2).size, 1, "the worker registered with the new broker");
});

t.test("10 000 jobs across 4 workers: none lost, none duplicated", async (t) => {
  const r = roles(t);
  const b = await r.broker({ maxBuffered: 20_000 });
  const ran = new Map<number, number>();
  const perWorker: number[] = [];
  for (let i = 0; i < 4; i++) {
    perWorker.push(0);
    await r.worker(b, { id: (args: number[]) => (ran.set(args[0]!, (ran.get(args[0]!) ?? 0) + 1), perWorker[i]!++, args[0]) }, { concurrency: 32 });
  }
  const c = r.client(b);
  const N = 10_000;
  const results = await within(Promise.all(Array.from({ length: N }, (_, i) => c.request("default", job("id", [i])))), 60_000, "10 000 results");
  t.equal(results.length, N);
  t.ok(results.every((v, i) => v === i), "every request got its own job's result");
  t.equal(ran.size, N, "every job ran");
  t.ok([...ran.values()].every((n) => n === 1), "no job ran twice");
  t.ok(perWorker.every((n) => n > 0), `all 4 workers took jobs (${perWorker.join(", ")})`);
  t.equal(b.counters.dispatched, N);
  t.equal(b.counters.completed, N);
});

t.test("a worker stopped mid-job (KBYE first, as EventMQ's) finishes it: no re-run, no EWORKERLOST", async (t) => {
  const r = roles(t);
  const b = await r.broker();
  let runs = 0;
  let release!: () => void;
  const gate = new Promise<void>((res) => (release = res));
  const w = await r.worker(b, { hold: async () => (runs++, await gate, "finished while stopping") });
  const c = r.client(b);
  const guaranteed = c.request("default", job("hold"), { guarantee: true });
  const plain = c.request("default", job("hold"));
  await until(() => runs === 2, "both jobs to start");
  const stopping = w.stop();
  await until(() => brokerWorkers(b).size === 1 && [...brokerWorkers(b).values()][0]!.slots === 0, "the broker to hear the KBYE");
  // A new job must not go to the leaving worker.
  const after = c.send("default", job("hold"));
  await new Promise((res) => setTimeout(res, 300));
  release();
  t.equal(await within(guaranteed, 5000, "the guaranteed job"), "finished while stopping");
  t.equal(await within(plain, 5000, "the plain job"), "finished while stopping");
  await within(stopping, 5000, "the worker to stop");
  t.equal(runs, 2, "nothing ran twice, and the leaving worker took no new job");
  t.equal(b.counters.requeued, 0);
  await until(() => brokerWorkers(b).size === 0, "the worker to be removed after its last job");
  const heir = await r.worker(b, { hold: () => "the heir" });
  t.type(await within(after, 5000, "the receipt of the job sent while the worker was leaving"), "string", "that job was accepted");
  await until(() => b.counters.completed === 3, "the third job to complete on the heir");
  t.ok(heir);
});
