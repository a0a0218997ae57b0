// eMQP broker throughput and job round trip: no-op jobs from pipelined clients through ONE Broker
// process to 1 or 4 workers and back (client -> broker -> worker -> result -> client), every role
// in its own process as in production: one broker, one process per worker, one per client.
//
// Variants:
//   raw  clients and workers are bare Dealers speaking the eMQP frames themselves, so the figure is
//        the broker's (plus the socket layer's) and not the client/worker libraries'. A worker
//        INFORMs [[10, "default"]], waits for the ACK, sends one READY per slot (SLOTS), and answers
//        every REQUEST with REPLY ['{"value": null}', job_msgid] then READY. A client keeps WINDOW
//        requests outstanding ('' eMQP/1.0 REQUEST msgid default reply-requested job) and counts a
//        job done when the 2-frame REPLY [msgid, result] comes back (the 1-frame receipt is ignored).
//   lib  the same jobs through src/client (Client.request, WINDOW calls in flight) and src/worker
//        (Worker, concurrency SLOTS, a handler returning null). Only when dist/ has both.
//
// Baselines, in the same run and with the same clients x window:
//   echo emq  the client's REQUEST frames bounced by a ROUTER echo process (DEALER -> ROUTER -> DEALER):
//             what our sockets do for one round trip with no broker logic; jobs/s / echo msg/s is the
//             ratio to compare across runs (a job costs the broker 6 messages: REQUEST in, receipt
//             out, REQUEST out, REPLY in, READY in, result out; the echo server 2).
//   echo net  the same over bench/baseline.mjs (raw node:net, one buffer of the same total size),
//             the figure every other benchmark is compared with.
//
// Clocks: each client times from the parent's "go" (after its own warm-up) to its last result; the
// aggregate rate is all timed jobs / (latest end - earliest start) on the shared wall clock.
// Latency per job is send -> result in the client, so with W outstanding it is about W / rate
// (Little's law) plus queueing noise: p50/p99 say how even the flow is, not the idle round trip.
// CPU time per job of the broker, the workers (summed) and the clients (summed) over the timed part
// are in the JSON; broker us/job says what the broker could do with a core to itself.
//
// Imported by run.mjs for measureBroker() and measureEcho(). Run directly, it runs
// `run.mjs --only=broker` with the same arguments. The child roles are `--child <role> ...`.

import { existsSync } from "node:fs";
import { fileURLToPath } from "node:url";
import { Buffer } from "node:buffer";
import { randomUUID } from "node:crypto";
import { performance } from "node:perf_hooks";
import { all, controls, now, percentile, profileArgs, runChild, serveCpu, serveEcho, spawnChild } from "./common.mjs";

const SCRIPT = fileURLToPath(import.meta.url);
const DIST = new URL("../dist/", import.meta.url);

/** READYs (concurrent jobs) per worker. */
export const SLOTS = 100;
/** Requests each client keeps outstanding. */
export const WINDOW = 256;
/** Client processes. */
export const CLIENTS = 2;

/** Whether dist/ has the Worker and Client classes (the "lib" variant needs both). */
export function libAvailable() {
  const missing = ["worker/worker.js", "client/client.js"].filter((f) => !existsSync(new URL(f, DIST)));
  return missing.length === 0 ? { ok: true } : { ok: false, reason: `dist/ has no ${missing.join(" or ")} (npm run build after they exist)` };
}

function latencyStats(parts) {
  let n = 0;
  for (const p of parts) n += p.length;
  const s = new Float64Array(n);
  let o = 0;
  for (const p of parts) for (const x of p) s[o++] = x;
  s.sort();
  return { p50: percentile(s, 50), p99: percentile(s, 99), max: s[n - 1] };
}

/** Warmed-up clients all start on one "go"; resolves to the aggregate figures. */
async function runClients(clients, timeoutMs) {
  const results = await all(clients, "result", timeoutMs, { type: "go" });
  const t0 = Math.min(...results.map((r) => r.t0));
  const t1 = Math.max(...results.map((r) => r.t1));
  const count = results.reduce((a, r) => a + r.count, 0);
  const seconds = (t1 - t0) / 1000;
  return {
    count,
    seconds,
    rate: count / seconds,
    ...latencyStats(results.map((r) => r.lat)),
    clientCpuUs: results.reduce((a, r) => a + r.cpuUs, 0),
  };
}

/**
 * Jobs through one broker in fresh processes: broker, `workers` workers, `clients` clients with
 * `window` requests each in flight, `count` timed jobs per client after `warmup` untimed ones.
 * Resolves to { variant, workers, clients, window, count, seconds, jobsPerSec, p50, p99, max (us),
 * brokerCpuUsPerJob, workerCpuUsPerJob, clientCpuUsPerJob, broker: counters }.
 */
export async function measureBroker({ variant, workers, clients = CLIENTS, window = WINDOW, count, warmup, timeoutMs = 30_000, profileDir }) {
  const tag = `${variant}-${workers}w-${Date.now()}`;
  const kids = [];
  const spawn = (args, name, label) => {
    const h = spawnChild(SCRIPT, ["--child", ...args], { execArgv: profileArgs(profileDir, name), label });
    kids.push(h);
    return h;
  };
  try {
    const broker = spawn(["broker"], `broker-broker-${tag}`, `broker (${variant} ${workers}w)`);
    const { frontend, backend } = await broker.next("ready", 10_000);
    const ws = [];
    for (let i = 0; i < workers; i++) ws.push(spawn([`worker-${variant}`, backend, String(SLOTS)], `broker-worker${i}-${tag}`, `${variant} worker ${i}`));
    await all(ws, "ready", 10_000);
    const cs = [];
    for (let i = 0; i < clients; i++) {
      cs.push(spawn([`client-${variant}`, frontend, String(window), String(warmup), String(count)], `broker-client${i}-${tag}`, `${variant} client ${i}`));
    }
    // Everything that is not a client marks its CPU clock when the clients start, reads it after.
    const others = [broker, ...ws];
    await all(cs, "warm", timeoutMs);
    await all(others, "marked", 5000, { type: "mark" });
    const r = await runClients(cs, timeoutMs);
    const [b, ...wr] = await all(others, "cpu", 5000, { type: "report" });
    return {
      variant,
      workers,
      clients,
      window,
      count: r.count,
      seconds: r.seconds,
      jobsPerSec: r.rate,
      p50: r.p50,
      p99: r.p99,
      max: r.max,
      brokerCpuUsPerJob: b.cpuUs / r.count,
      workerCpuUsPerJob: wr.reduce((a, w) => a + w.cpuUs, 0) / r.count,
      clientCpuUsPerJob: r.clientCpuUs / r.count,
      broker: b.counters,
    };
  } finally {
    await Promise.all(kids.map((k) => k.stop()));
  }
}

/**
 * The echo baseline: `clients` client processes with `window` messages each in flight to one echo
 * process. impl "emq": DEALER -> ROUTER echo of the same 7 REQUEST frames; "net": one raw buffer of
 * the same size. Resolves to { impl, clients, window, count, seconds, msgsPerSec, p50, p99, max,
 * serverCpuUsPerMsg, clientCpuUsPerMsg }.
 */
export async function measureEcho({ impl, clients = CLIENTS, window = WINDOW, count, warmup, timeoutMs = 30_000, profileDir }) {
  const tag = `${impl}-${Date.now()}`;
  const kids = [];
  const spawn = (args, name, label) => {
    const h = spawnChild(SCRIPT, ["--child", ...args], { execArgv: profileArgs(profileDir, name), label });
    kids.push(h);
    return h;
  };
  try {
    const server = spawn([`echo-${impl}`], `broker-echo-${tag}`, `${impl} echo`);
    const { endpoint } = await server.next("ready", 10_000);
    const cs = [];
    for (let i = 0; i < clients; i++) {
      cs.push(spawn([`echoclient-${impl}`, endpoint, String(window), String(warmup), String(count)], `broker-echoclient${i}-${tag}`, `${impl} echo client ${i}`));
    }
    await all(cs, "warm", timeoutMs);
    await all([server], "marked", 5000, { type: "mark" });
    const r = await runClients(cs, timeoutMs);
    const [s] = await all([server], "cpu", 5000, { type: "report" });
    return {
      impl,
      clients,
      window,
      count: r.count,
      seconds: r.seconds,
      msgsPerSec: r.rate,
      p50: r.p50,
      p99: r.p99,
      max: r.max,
      serverCpuUsPerMsg: s.cpuUs / r.count,
      clientCpuUsPerMsg: r.clientCpuUs / r.count,
    };
  } finally {
    await Promise.all(kids.map((k) => k.stop()));
  }
}

// ---- child processes ------------------------------------------------------------------------------

const VERSION = Buffer.from("eMQP/1.0");
const EMPTY = Buffer.alloc(0);
const C = {
  REQUEST: Buffer.from("REQUEST"),
  REPLY: Buffer.from("REPLY"),
  READY: Buffer.from("READY"),
  INFORM: Buffer.from("INFORM"),
  ACK: Buffer.from("ACK"),
  HEARTBEAT: Buffer.from("HEARTBEAT"),
  KBYE: Buffer.from("KBYE"),
};
const QUEUE = Buffer.from("default");
const HEADERS = Buffer.from("reply-requested");
// A no-op job, spelled as EventMQ's client spells it (formatJob).
const JOB_JSON = '["run", {"callable": "noop", "path": "bench", "args": [], "kwargs": {}, "class_args": [], "class_kwargs": {}}]';
const JOB = Buffer.from(JOB_JSON);
const RESULT = Buffer.from('{"value": null}');
/**
 * Client msgids: 8 random hex digits per client process, "-", the job's index padded to 27 digits:
 * a uuid4's 36 characters (the size real ones have). Unique across clients, as uuid4s are: the
 * broker tracks a worker's running jobs by msgid alone, so two clients' equal msgids on one worker
 * would collide.
 */
const MSGID_LEN = 36;
const PREFIX = randomUUID().slice(0, 8) + "-";
const msgidOf = (i) => PREFIX + String(i).padStart(MSGID_LEN - PREFIX.length, "0");
const indexOf = (buf) => Number(buf.toString("latin1", PREFIX.length));

/**
 * A window of `window` jobs in flight: `launch(i)` starts job i, the receive side calls
 * `complete(i)` when its answer is in. `run(from, n)` resolves with the n round trips in us.
 */
function windowed(window, launch) {
  let base = 0;
  let end = 0;
  let next = 0;
  let finished = 0;
  let t0s;
  let lat;
  let resolve;
  const start = () => {
    const i = next++;
    t0s[i - base] = performance.now();
    launch(i);
  };
  return {
    run(from, n) {
      base = from;
      end = from + n;
      next = from;
      finished = 0;
      t0s = new Float64Array(n);
      lat = new Float64Array(n);
      return new Promise((r) => {
        resolve = r;
        while (next < end && next - base < window) start();
      });
    },
    complete(i) {
      const k = i - base;
      if (!(k >= 0 && k < next - base) || lat[k] !== 0) throw new Error(`unexpected or repeated answer for job ${i}`);
      lat[k] = (performance.now() - t0s[k]) * 1000 || 1e-3;
      finished++;
      if (next < end) start();
      else if (finished === end - base) resolve(lat);
    },
  };
}

/** The client side of every variant: warm-up, "warm", wait for "go", timed run, "result". */
async function clientPhases(runner, warmup, count, send, waitFor) {
  if (warmup > 0) await runner.run(0, warmup);
  send({ type: "warm" });
  await waitFor("go");
  const cpu0 = process.cpuUsage();
  const t0 = now();
  const lat = await runner.run(warmup, count);
  const t1 = now();
  const cpu = process.cpuUsage(cpu0);
  send({ type: "result", t0, t1, count, lat: Array.from(lat, (x) => Math.round(x * 10) / 10), cpuUs: cpu.user + cpu.system });
}

/** Reads a Dealer forever, handing each message to `handle`; stops quietly when it is closed. */
function pump(sock, handle, fail) {
  void (async () => {
    for (;;) {
      let m;
      try {
        m = await sock.receive();
      } catch {
        return;
      }
      try {
        handle(m);
      } catch (err) {
        fail(err);
        return;
      }
    }
  })();
}

async function child(role, args, send, onExit) {
  const waitFor = controls();
  const fail = (err) => {
    send({ type: "error", message: err?.stack ?? String(err) });
    setImmediate(() => process.exit(1));
  };

  if (role === "broker") {
    const { Broker } = await import("../dist/broker/broker.js");
    const { silentLogger } = await import("../dist/log/logger.js");
    const broker = new Broker({ frontend: "tcp://127.0.0.1:0", backend: "tcp://127.0.0.1:0", admin: "", logger: silentLogger });
    onExit(() => void broker.stop());
    await broker.start();
    serveCpu(waitFor, send, () => ({ counters: { ...broker.counters } }));
    send({ type: "ready", frontend: broker.endpoints.frontend, backend: broker.endpoints.backend });
    return;
  }

  if (role === "worker-raw") {
    const [backend, slotsArg] = args;
    const slots = Number(slotsArg);
    const { Dealer } = await import("../dist/index.js");
    const sock = new Dealer({ routingId: randomUUID(), linger: 0 });
    onExit(() => sock.close());
    let seq = 0;
    const mid = () => Buffer.from(`w${++seq}`);
    const out = (cmd, ...body) => sock.send([EMPTY, VERSION, cmd, mid(), ...body]).catch(fail);
    let acked;
    const ack = new Promise((r) => (acked = r));
    pump(
      sock,
      (m) => {
        const cmd = m[2];
        if (cmd.equals(C.REQUEST)) {
          // [ '', eMQP/1.0, REQUEST, job msgid, queue, headers, job ]: no-op, answer at once.
          out(C.REPLY, RESULT, m[3]);
          out(C.READY);
        } else if (cmd.equals(C.ACK)) acked();
        else if (cmd.equals(C.KBYE)) fail(new Error("the broker sent KBYE (it no longer knows this worker)"));
        // HEARTBEAT: nothing to do (our own heartbeats below keep us registered).
      },
      fail,
    );
    sock.connect(backend);
    out(C.INFORM, Buffer.from('[[10, "default"]]'), Buffer.from("worker"));
    await ack;
    for (let i = 0; i < slots; i++) out(C.READY);
    setInterval(() => out(C.HEARTBEAT, Buffer.from(String(Date.now() / 1000))), 3000).unref();
    serveCpu(waitFor, send);
    send({ type: "ready" });
    return;
  }

  if (role === "worker-lib") {
    const [backend, slotsArg] = args;
    const { Worker } = await import("../dist/worker/worker.js");
    const { silentLogger } = await import("../dist/log/logger.js");
    const worker = new Worker({ address: backend, queues: [[10, "default"]], concurrency: Number(slotsArg), logger: silentLogger });
    worker.handle("bench.noop", () => null);
    onExit(() => void worker.stop().catch(() => {}));
    await worker.start();
    serveCpu(waitFor, send);
    send({ type: "ready" });
    return;
  }

  const [endpoint, windowArg, warmupArg, countArg] = args;
  const window = Number(windowArg);
  const warmup = Number(warmupArg);
  const count = Number(countArg);

  if (role === "client-raw" || role === "echoclient-emq") {
    const echo = role === "echoclient-emq";
    const { Dealer } = await import("../dist/index.js");
    const sock = new Dealer({ routingId: randomUUID(), linger: 0 });
    onExit(() => sock.close());
    const runner = windowed(window, (i) => {
      sock.send([EMPTY, VERSION, C.REQUEST, Buffer.from(msgidOf(i), "latin1"), QUEUE, HEADERS, JOB]).catch(fail);
    });
    pump(
      sock,
      (m) => {
        if (echo) return runner.complete(indexOf(m[3]));
        // [ '', eMQP/1.0, REPLY, broker msgid, request msgid (, result) ]: the receipt has no result.
        if (m.length === 6 && m[2].equals(C.REPLY)) {
          if (m[5].toString() !== '{"value": null}') throw new Error(`job ${m[4]} failed: ${m[5]}`);
          runner.complete(indexOf(m[4]));
        } else if (m.length !== 5) throw new Error(`unexpected message from the broker: ${m.map(String).join(" | ")}`);
      },
      fail,
    );
    sock.connect(endpoint);
    return clientPhases(runner, warmup, count, send, waitFor);
  }

  if (role === "echoclient-net") {
    const { dial } = await import("./baseline.mjs");
    const conn = await dial(endpoint);
    onExit(() => conn.destroy());
    // The same bytes as the emq REQUEST's frames, as one buffer, the index in front.
    const size = MSGID_LEN + VERSION.length + C.REQUEST.length + QUEUE.length + HEADERS.length + JOB.length;
    const template = Buffer.alloc(size, 0x20);
    const runner = windowed(window, (i) => {
      const b = Buffer.allocUnsafe(size);
      template.copy(b);
      b.write(msgidOf(i), 0, "latin1");
      conn.send(b).catch(fail);
    });
    void (async () => {
      try {
        for await (const m of conn) runner.complete(Number(m.toString("latin1", PREFIX.length, MSGID_LEN)));
      } catch (err) {
        fail(err);
      }
    })();
    return clientPhases(runner, warmup, count, send, waitFor);
  }

  if (role === "client-lib") {
    const { Client } = await import("../dist/client/client.js");
    const client = new Client({ address: endpoint });
    onExit(() => client.close());
    const job = { callable: "noop", path: "bench" };
    const runner = windowed(window, (i) => {
      client.request("default", job).then((v) => {
        if (v !== null) throw new Error(`job returned ${JSON.stringify(v)}`);
        runner.complete(i);
      }).catch(fail);
    });
    return clientPhases(runner, warmup, count, send, waitFor);
  }

  if (await serveEcho(role, waitFor, send, onExit)) return;

  throw new Error(`unknown role ${role}`);
}

if (process.argv[1] === SCRIPT) {
  if (process.argv[2] === "--child") runChild(child);
  else {
    // No top-level await here: run.mjs imports this module, which must finish evaluating first.
    import("./run.mjs").then(({ main }) => main(["--only=broker", ...process.argv.slice(2)]));
  }
}
