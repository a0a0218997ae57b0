// Runs the benchmarks, alternating emq and the raw node:net baseline run by run (this 2-core machine
// drifts by 2x between runs, so only ratios measured side by side mean anything), then prints a
// table with the ratio emq / baseline against its target and writes .bench-out/results.json.
//
//   node bench/run.mjs [--quick] [--only=throughput,latency,pushpull,pubsub,broker,queue] [--reps=N] [--profile] [--strict] [--timeout=S]
//
//   --quick     fewer messages, one repetition: a smoke run (~15-30 s)
//   --only=X,Y  just these benchmarks (comma-separated): throughput (DEALER -> ROUTER), latency,
//               pushpull (PUSH -> PULL), pubsub (PUB -> 1 and 4 SUB), broker (eMQP jobs through
//               one Broker, 1 and 4 workers; not part of the default run), queue (queue API posts/s
//               and claim+delete/s against one QueueServer; not part of the default run either)
//   --reps=N    repetitions per case (default 5; the median is reported)
//   --profile   run every measuring process under `node --cpu-prof` (profiles in .bench-out/prof/,
//               named by test, role, implementation and size; summarize one or several with
//               `node bench/profile-summary.mjs .bench-out/prof/tput-send-emq-16B-*.cpuprofile`)
//   --strict    exit with status 1 if a target is missed (default: only errors fail the run)
//   --timeout=S overall watchdog in seconds (default 420, or 120 with --quick): past it, every child
//               is killed, what was measured so far is printed, and the exit status is 2

import { mkdirSync, writeFileSync, rmSync } from "node:fs";
import { execFileSync } from "node:child_process";
import { cpus, loadavg } from "node:os";
import { dirname, join } from "node:path";
import { fileURLToPath } from "node:url";
import { fmtInt, fmtNum, killAll, median, sizeLabel } from "./common.mjs";
import { measureThroughput } from "./throughput.mjs";
import { measureLatency } from "./latency.mjs";
import { measurePushPull } from "./pushpull.mjs";
import { measurePubSub } from "./pubsub.mjs";
import { CLIENTS, SLOTS, WINDOW, libAvailable, measureBroker, measureEcho } from "./broker.mjs";
import * as queueBench from "./queue.mjs";

const ROOT = join(dirname(fileURLToPath(import.meta.url)), "..");
const OUT_DIR = join(ROOT, ".bench-out");

/** Message counts are chosen so that one run takes ~1-1.5 s here (emq and baseline are close). */
const THROUGHPUT_CASES = [
  { size: 16, count: 3_000_000, quick: 1_000_000, target: 0.6 },
  { size: 256, count: 1_500_000, quick: 500_000, target: 0.6 },
  { size: 4096, count: 300_000, quick: 120_000, target: 0.8 },
  { size: 65536, count: 30_000, quick: 12_000, target: 0.9 },
];
const LATENCY_CASES = [
  { size: 16, count: 20_000, warmup: 2_000, quick: 5_000, quickWarmup: 1_000 },
  { size: 1024, count: 20_000, warmup: 2_000, quick: 5_000, quickWarmup: 1_000 },
];
/** emq's p50 round trip may be at most this many times the baseline's. */
const LATENCY_TARGET = 1.25;
/** PUSH -> PULL is the DEALER -> ROUTER code path (round robin out, fair queue in): same targets. */
const PUSHPULL_CASES = [
  { size: 16, count: 800_000, quick: 400_000, target: 0.6 },
  { size: 1024, count: 250_000, quick: 120_000, target: 0.7 },
];
/** PUB -> N SUB, paced so that nothing is dropped (see pubsub.mjs). No target yet: ratios reported. */
const PUBSUB_CASES = [
  { size: 16, subs: 1, count: 500_000, quick: 250_000, target: null },
  { size: 16, subs: 4, count: 200_000, quick: 100_000, target: null },
  { size: 1024, subs: 1, count: 250_000, quick: 120_000, target: null },
  { size: 1024, subs: 4, count: 80_000, quick: 40_000, target: null },
];
/** eMQP no-op jobs through one broker (bench/broker.mjs); counts are per client process. The target
 * is the absolute one (jobs/s on this 2-core machine); the ratio to the same-run DEALER ->
 * ROUTER echo (same clients and window) is the figure to compare across runs. */
const BROKER_CASES = [
  { variant: "raw", workers: 1, count: 30_000, warmup: 5_000, quick: 10_000, quickWarmup: 2_000, target: 50_000 },
  { variant: "raw", workers: 4, count: 30_000, warmup: 5_000, quick: 10_000, quickWarmup: 2_000, target: 50_000 },
  { variant: "lib", workers: 1, count: 30_000, warmup: 5_000, quick: 10_000, quickWarmup: 2_000, target: 50_000 },
  { variant: "lib", workers: 4, count: 30_000, warmup: 5_000, quick: 10_000, quickWarmup: 2_000, target: 50_000 },
];
const BROKER_ECHO = { count: 200_000, warmup: 20_000, quick: 50_000, quickWarmup: 5_000 };
/** Queue API through one QueueServer (bench/queue.mjs); counts are messages per client process (for
 * consume: each client's share of the untimed fill). No target (the issue asks for the figures);
 * ratios to the same-run echo of a post-sized message (same clients and window) are reported. */
const QUEUE_CASES = [
  { kind: "post", impl: "lib", mode: "memory", batch: 1, count: 30_000, warmup: 3_000, quick: 10_000, quickWarmup: 1_000 },
  { kind: "post", impl: "lib", mode: "durable", batch: 1, count: 30_000, warmup: 3_000, quick: 10_000, quickWarmup: 1_000 },
  { kind: "post", impl: "lib", mode: "nofsync", batch: 1, count: 30_000, warmup: 3_000, quick: 10_000, quickWarmup: 1_000 },
  { kind: "post", impl: "raw", mode: "memory", batch: 1, count: 30_000, warmup: 3_000, quick: 10_000, quickWarmup: 1_000 },
  { kind: "post", impl: "lib", mode: "memory", batch: 10, count: 100_000, warmup: 5_000, quick: 30_000, quickWarmup: 2_000 },
  { kind: "post", impl: "lib", mode: "durable", batch: 10, count: 100_000, warmup: 5_000, quick: 30_000, quickWarmup: 2_000 },
  { kind: "consume", impl: "lib", mode: "memory", batch: 1, count: 30_000, warmup: 2_000, quick: 10_000, quickWarmup: 1_000 },
  { kind: "consume", impl: "lib", mode: "durable", batch: 1, count: 30_000, warmup: 2_000, quick: 10_000, quickWarmup: 1_000 },
  { kind: "consume", impl: "raw", mode: "memory", batch: 1, count: 30_000, warmup: 2_000, quick: 10_000, quickWarmup: 1_000 },
];
const QUEUE_ECHO = { count: 200_000, warmup: 20_000, quick: 60_000, quickWarmup: 5_000 };
const BENCHES = ["throughput", "latency", "pushpull", "pubsub", "broker", "queue"];
/** Run when --only is not given (broker and queue are opt-in: they are a different kind of figure). */
const DEFAULT_BENCHES = ["throughput", "latency", "pushpull", "pubsub"];

function parseArgs(argv) {
  const o = { quick: false, only: undefined, reps: undefined, profile: false, strict: false, timeout: undefined };
  for (const a of argv) {
    if (a === "--quick") o.quick = true;
    else if (a === "--profile") o.profile = true;
    else if (a === "--strict") o.strict = true;
    else if (a.startsWith("--only=")) o.only = a.slice(7).split(",").filter(Boolean);
    else if (a.startsWith("--reps=")) o.reps = Number(a.slice(7));
    else if (a.startsWith("--timeout=")) o.timeout = Number(a.slice(10));
    else if (a === "--help" || a === "-h") {
      console.log(`usage: node bench/run.mjs [--quick] [--only=${BENCHES.join(",")}] [--reps=N] [--profile] [--strict] [--timeout=S]`);
      process.exit(0);
    } else throw new Error(`unknown argument ${a}`);
  }
  for (const b of o.only ?? []) if (!BENCHES.includes(b)) throw new Error(`--only takes a comma-separated list of ${BENCHES.join(", ")}`);
  if (o.only?.length === 0) throw new Error("--only needs at least one benchmark");
  o.reps ??= o.quick ? 1 : 5;
  if (!(o.reps >= 1)) throw new Error("--reps must be >= 1");
  o.timeout ??= o.quick ? 120 : 420;
  if (!(o.timeout > 0)) throw new Error("--timeout must be > 0");
  return o;
}

const log = (s) => process.stderr.write(s + "\n");

function gitInfo() {
  try {
    const commit = execFileSync("git", ["rev-parse", "--short", "HEAD"], { cwd: ROOT, encoding: "utf8" }).trim();
    const dirty = execFileSync("git", ["status", "--porcelain", "--", "src"], { cwd: ROOT, encoding: "utf8" }).trim() !== "";
    return { commit, srcDirty: dirty };
  } catch {
    return {};
  }
}

export async function main(argv = process.argv.slice(2)) {
  const opts = parseArgs(argv);
  const started = Date.now();
  const budgetMs = opts.timeout * 1000;
  const results = { throughput: [], latency: [], pushpull: [], pubsub: [], broker: [], brokerEcho: [], queue: [], queueEcho: [], errors: [] };
  const want = (bench) => (opts.only === undefined ? DEFAULT_BENCHES.includes(bench) : opts.only.includes(bench));
  const lib = want("broker") ? libAvailable() : { ok: false };
  if (want("broker") && !lib.ok) log(`broker: the lib variant (Client + Worker) is skipped: ${lib.reason}`);
  const queueEchoSize = want("queue") ? await queueBench.postRequestSize(1) : undefined;
  let finished = false;

  const report = () => printAndSave(opts, results, started);
  const watchdog = setTimeout(() => {
    log(`\nwatchdog: the run took longer than ${budgetMs / 1000} s; killing what is left`);
    killAll();
    results.errors.push(`watchdog fired after ${budgetMs} ms`);
    report();
    process.exit(2);
  }, budgetMs);
  watchdog.unref();
  const onSignal = (sig) => {
    log(`\n${sig}: stopping`);
    killAll();
    process.exit(130);
  };
  process.once("SIGINT", onSignal);
  process.once("SIGTERM", onSignal);
  process.once("exit", () => {
    if (!finished) killAll();
  });

  let profileDir;
  if (opts.profile) {
    profileDir = join(OUT_DIR, "prof");
    rmSync(profileDir, { recursive: true, force: true });
    mkdirSync(profileDir, { recursive: true });
    log(`profiling into ${profileDir} (numbers from a profiled run are not comparable)`);
  }
  // Alternate which implementation goes first, so neither always gets the warmer (or colder) slot.
  const orderFor = (rep) => (rep % 2 === 0 ? ["net", "emq"] : ["emq", "net"]);

  for (let rep = 0; rep < opts.reps; rep++) {
    if (want("throughput")) {
      for (const c of THROUGHPUT_CASES) {
        const count = opts.quick ? c.quick : c.count;
        for (const impl of orderFor(rep)) {
          try {
            const r = await measureThroughput({ impl, size: c.size, count, profileDir });
            results.throughput.push({ rep, ...r });
            log(
              `rep ${rep + 1}/${opts.reps} throughput ${sizeLabel(c.size).padStart(6)} ${impl.padEnd(3)} ` +
                `${fmtInt(r.msgsPerSec).padStart(10)} msg/s ${fmtNum(r.mbPerSec, 1).padStart(7)} MB/s (${fmtNum(r.seconds)} s)`,
            );
          } catch (err) {
            results.errors.push(`throughput ${impl} ${c.size}: ${err.message}`);
            log(`rep ${rep + 1} throughput ${c.size} ${impl}: ERROR ${err.message}`);
          }
        }
      }
    }
    if (want("latency")) {
      for (const c of LATENCY_CASES) {
        const count = opts.quick ? c.quick : c.count;
        const warmup = opts.quick ? c.quickWarmup : c.warmup;
        try {
          const r = await measureLatency({ size: c.size, count, warmup, profileDir });
          for (const impl of ["emq", "net"]) {
            results.latency.push({ rep, impl, size: c.size, ...r[impl], ...(impl === "emq" ? { blockRatio: r.ratio } : {}) });
            log(
              `rep ${rep + 1}/${opts.reps} latency    ${sizeLabel(c.size).padStart(6)} ${impl.padEnd(3)} ` +
                `p50 ${fmtNum(r[impl].p50, 1).padStart(6)} us  p99 ${fmtNum(r[impl].p99, 1).padStart(6)} us` +
                (impl === "net" ? `  (emq/net per block pair: ${fmtNum(r.ratio)})` : ""),
            );
          }
        } catch (err) {
          results.errors.push(`latency ${c.size}: ${err.message}`);
          log(`rep ${rep + 1} latency ${c.size}: ERROR ${err.message}`);
        }
      }
    }
    if (want("pushpull")) {
      for (const c of PUSHPULL_CASES) {
        const count = opts.quick ? c.quick : c.count;
        for (const impl of orderFor(rep)) {
          try {
            const r = await measurePushPull({ impl, size: c.size, count, profileDir });
            results.pushpull.push({ rep, ...r });
            log(
              `rep ${rep + 1}/${opts.reps} push/pull  ${sizeLabel(c.size).padStart(6)} ${impl.padEnd(3)} ` +
                `${fmtInt(r.msgsPerSec).padStart(10)} msg/s ${fmtNum(r.mbPerSec, 1).padStart(7)} MB/s (${fmtNum(r.seconds)} s)`,
            );
          } catch (err) {
            results.errors.push(`pushpull ${impl} ${c.size}: ${err.message}`);
            log(`rep ${rep + 1} pushpull ${c.size} ${impl}: ERROR ${err.message}`);
          }
        }
      }
    }
    if (want("broker")) {
      for (const impl of orderFor(rep)) {
        const count = opts.quick ? BROKER_ECHO.quick : BROKER_ECHO.count;
        const warmup = opts.quick ? BROKER_ECHO.quickWarmup : BROKER_ECHO.warmup;
        try {
          const r = await measureEcho({ impl, count, warmup, profileDir });
          results.brokerEcho.push({ rep, ...r });
          log(
            `rep ${rep + 1}/${opts.reps} broker echo ${impl.padEnd(3)} ${fmtInt(r.msgsPerSec).padStart(10)} msg/s ` +
              `p50 ${fmtNum(r.p50 / 1000)} ms p99 ${fmtNum(r.p99 / 1000)} ms server ${fmtNum(r.serverCpuUsPerMsg)} us/msg (${fmtNum(r.seconds)} s)`,
          );
        } catch (err) {
          results.errors.push(`broker echo ${impl}: ${err.message}`);
          log(`rep ${rep + 1} broker echo ${impl}: ERROR ${err.message}`);
        }
      }
      for (const c of BROKER_CASES) {
        if (c.variant === "lib" && !lib.ok) continue;
        const count = opts.quick ? c.quick : c.count;
        const warmup = opts.quick ? c.quickWarmup : c.warmup;
        const what = `broker ${c.variant} ${c.workers}w`;
        try {
          const r = await measureBroker({ variant: c.variant, workers: c.workers, count, warmup, profileDir });
          results.broker.push({ rep, ...r });
          log(
            `rep ${rep + 1}/${opts.reps} ${what.padEnd(13)} ${fmtInt(r.jobsPerSec).padStart(10)} jobs/s ` +
              `p50 ${fmtNum(r.p50 / 1000)} ms p99 ${fmtNum(r.p99 / 1000)} ms broker ${fmtNum(r.brokerCpuUsPerJob)} us/job (${fmtNum(r.seconds)} s)`,
          );
        } catch (err) {
          results.errors.push(`${what}: ${err.message}`);
          log(`rep ${rep + 1} ${what}: ERROR ${err.message}`);
        }
      }
    }
    if (want("queue")) await runQueue(opts, rep, orderFor(rep), queueEchoSize, profileDir, results);
    if (want("pubsub")) {
      for (const c of PUBSUB_CASES) {
        const count = opts.quick ? c.quick : c.count;
        for (const impl of orderFor(rep)) {
          const what = `pubsub ${impl} ${c.size} B x${c.subs}`;
          try {
            const r = await measurePubSub({ impl, size: c.size, subs: c.subs, count, profileDir });
            results.pubsub.push({ rep, ...r });
            // Pacing makes drops impossible by design; if some happen anyway, the run is not a result.
            if (r.drops > 0) results.errors.push(`${what}: ${r.drops} of ${r.published * c.subs} deliveries lost`);
            log(
              `rep ${rep + 1}/${opts.reps} pub/sub x${c.subs} ${sizeLabel(c.size).padStart(6)} ${impl.padEnd(3)} ` +
                `${fmtInt(r.msgsPerSec).padStart(10)} msg/s ${fmtInt(r.deliveriesPerSec).padStart(10)} deliveries/s ` +
                `pub ${fmtNum(r.pubCpuUsPerMsg)} us/msg (${fmtNum(r.seconds)} s)` +
                (r.drops > 0 ? `  DROPPED ${r.drops}` : ""),
            );
          } catch (err) {
            results.errors.push(`${what}: ${err.message}`);
            log(`rep ${rep + 1} ${what}: ERROR ${err.message}`);
          }
        }
      }
    }
  }
  finished = true;
  clearTimeout(watchdog);
  const summary = report();
  const missed = [summary.throughput, summary.latency, summary.pushpull, summary.pubsub, summary.broker, summary.queue].some((rows) => rows.some((r) => r.pass === false));
  process.exitCode = results.errors.length > 0 ? 1 : opts.strict && missed ? 1 : 0;
  return summary;
}

/**
 * One repetition of the queue API cases: the two echo baselines (in `order`), every case, and the
 * echoes again (in reverse order): the cases take ~20-40 s, over which the load of this shared
 * machine moves, so each case is compared with the mean of its repetition's two echoes.
 */
async function runQueue(opts, rep, order, size, profileDir, results) {
  const echo = async (impl, at) => {
    const count = opts.quick ? QUEUE_ECHO.quick : QUEUE_ECHO.count;
    const warmup = opts.quick ? QUEUE_ECHO.quickWarmup : QUEUE_ECHO.warmup;
    try {
      const r = await queueBench.measureQueueEcho({ impl, size, count, warmup, profileDir });
      results.queueEcho.push({ rep, at, ...r });
      log(
        `rep ${rep + 1}/${opts.reps} queue echo ${impl.padEnd(3)} ${sizeLabel(size)} ${fmtInt(r.msgsPerSec).padStart(10)} msg/s ` +
          `server ${fmtNum(r.serverCpuUsPerMsg)} us/msg (${fmtNum(r.seconds)} s)`,
      );
    } catch (err) {
      results.errors.push(`queue echo ${impl} (${at}): ${err.message}`);
      log(`rep ${rep + 1} queue echo ${impl}: ERROR ${err.message}`);
    }
  };
  for (const impl of order) await echo(impl, "before");
  for (const c of QUEUE_CASES) {
    const count = opts.quick ? c.quick : c.count;
    const warmup = opts.quick ? c.quickWarmup : c.warmup;
    const what = `queue ${c.kind} ${c.impl} ${c.mode} b${c.batch}`;
    try {
      const r = await queueBench.measureQueue({ kind: c.kind, impl: c.impl, mode: c.mode, batch: c.batch, count, warmup, profileDir });
      results.queue.push({ rep, ...r });
      log(
        `rep ${rep + 1}/${opts.reps} ${what.padEnd(29)} ${fmtInt(r.msgsPerSec).padStart(8)} msg/s ${fmtInt(r.reqPerSec).padStart(8)} req/s ` +
          `server ${fmtNum(r.serverCpuUsPerMsg)} us/msg (${fmtNum(r.seconds)} s)`,
      );
    } catch (err) {
      results.errors.push(`${what}: ${err.message}`);
      log(`rep ${rep + 1} ${what}: ERROR ${err.message}`);
    }
  }
  for (const impl of [...order].reverse()) await echo(impl, "after");
}

/** Ratio of each emq run to the baseline run next to it (same repetition), then the median of those. */
function pairedRatio(rows, size, key) {
  const ratios = [];
  for (const e of rows.filter((r) => r.impl === "emq" && r.size === size)) {
    const n = rows.find((r) => r.impl === "net" && r.size === size && r.rep === e.rep);
    if (n && n[key] > 0) ratios.push(e[key] / n[key]);
  }
  return { ratio: median(ratios), ratios };
}

function summarize(results) {
  const throughput = THROUGHPUT_CASES.map((c) => {
    const of = (impl) => results.throughput.filter((r) => r.impl === impl && r.size === c.size);
    const emq = of("emq");
    const net = of("net");
    const { ratio, ratios } = pairedRatio(results.throughput, c.size, "msgsPerSec");
    return {
      size: c.size,
      emqMsgsPerSec: median(emq.map((r) => r.msgsPerSec)),
      emqMBPerSec: median(emq.map((r) => r.mbPerSec)),
      netMsgsPerSec: median(net.map((r) => r.msgsPerSec)),
      netMBPerSec: median(net.map((r) => r.mbPerSec)),
      ratio,
      ratios,
      target: c.target,
      pass: Number.isFinite(ratio) ? ratio >= c.target : null,
    };
  });
  const latency = LATENCY_CASES.map((c) => {
    const of = (impl) => results.latency.filter((r) => r.impl === impl && r.size === c.size);
    const emq = of("emq");
    const net = of("net");
    const ratios = emq.map((r) => r.blockRatio);
    const ratio = median(ratios);
    return {
      size: c.size,
      emqP50: median(emq.map((r) => r.p50)),
      emqP99: median(emq.map((r) => r.p99)),
      netP50: median(net.map((r) => r.p50)),
      netP99: median(net.map((r) => r.p99)),
      ratio,
      ratios,
      target: LATENCY_TARGET,
      pass: Number.isFinite(ratio) ? ratio <= LATENCY_TARGET : null,
    };
  });
  const pushpull = PUSHPULL_CASES.map((c) => {
    const of = (impl) => results.pushpull.filter((r) => r.impl === impl && r.size === c.size);
    const { ratio, ratios } = pairedRatio(results.pushpull, c.size, "msgsPerSec");
    return {
      size: c.size,
      emqMsgsPerSec: median(of("emq").map((r) => r.msgsPerSec)),
      emqMBPerSec: median(of("emq").map((r) => r.mbPerSec)),
      netMsgsPerSec: median(of("net").map((r) => r.msgsPerSec)),
      netMBPerSec: median(of("net").map((r) => r.mbPerSec)),
      ratio,
      ratios,
      target: c.target,
      pass: Number.isFinite(ratio) ? ratio >= c.target : null,
    };
  });
  const pubsub = PUBSUB_CASES.map((c) => {
    // Runs with drops are not results (and are reported as errors).
    const rows = results.pubsub.filter((r) => r.subs === c.subs && r.drops === 0);
    const of = (impl) => rows.filter((r) => r.impl === impl && r.size === c.size);
    const med = (impl, key) => median(of(impl).map((r) => r[key]));
    const { ratio, ratios } = pairedRatio(rows, c.size, "msgsPerSec");
    return {
      size: c.size,
      subs: c.subs,
      emqMsgsPerSec: med("emq", "msgsPerSec"),
      emqDeliveriesPerSec: med("emq", "deliveriesPerSec"),
      emqPubCpuUsPerMsg: med("emq", "pubCpuUsPerMsg"),
      emqSubCpuUsPerDelivery: med("emq", "subCpuUsPerDelivery"),
      netMsgsPerSec: med("net", "msgsPerSec"),
      netDeliveriesPerSec: med("net", "deliveriesPerSec"),
      netPubCpuUsPerMsg: med("net", "pubCpuUsPerMsg"),
      netSubCpuUsPerDelivery: med("net", "subCpuUsPerDelivery"),
      drops: results.pubsub.filter((r) => r.subs === c.subs && r.size === c.size).reduce((a, r) => a + r.drops, 0),
      ratio,
      ratios,
      target: c.target,
      pass: Number.isFinite(ratio) && c.target !== null ? ratio >= c.target : null,
    };
  });
  const echoOf = (impl, rep) => results.brokerEcho.find((r) => r.impl === impl && r.rep === rep);
  const broker = BROKER_CASES.flatMap((c) => {
    const rows = results.broker.filter((r) => r.variant === c.variant && r.workers === c.workers);
    if (rows.length === 0) return [];
    const med = (key) => median(rows.map((r) => r[key]));
    // jobs/s over the emq echo's msg/s of the same repetition, median over repetitions.
    const ratios = rows.map((r) => r.jobsPerSec / (echoOf("emq", r.rep)?.msgsPerSec ?? NaN)).filter(Number.isFinite);
    const jobsPerSec = med("jobsPerSec");
    return [{
      variant: c.variant,
      workers: c.workers,
      jobsPerSec,
      p50: med("p50"),
      p99: med("p99"),
      brokerCpuUsPerJob: med("brokerCpuUsPerJob"),
      workerCpuUsPerJob: med("workerCpuUsPerJob"),
      clientCpuUsPerJob: med("clientCpuUsPerJob"),
      ratio: median(ratios),
      ratios,
      target: c.target,
      pass: Number.isFinite(jobsPerSec) ? jobsPerSec >= c.target : null,
    }];
  });
  const echoMed = (impl, key) => median(results.brokerEcho.filter((r) => r.impl === impl).map((r) => r[key]));
  const echoRatios = results.brokerEcho
    .filter((r) => r.impl === "emq")
    .map((e) => e.msgsPerSec / (echoOf("net", e.rep)?.msgsPerSec ?? NaN))
    .filter(Number.isFinite);
  const brokerEcho = {
    emqMsgsPerSec: echoMed("emq", "msgsPerSec"),
    emqP50: echoMed("emq", "p50"),
    emqP99: echoMed("emq", "p99"),
    emqServerCpuUsPerMsg: echoMed("emq", "serverCpuUsPerMsg"),
    netMsgsPerSec: echoMed("net", "msgsPerSec"),
    netP50: echoMed("net", "p50"),
    netP99: echoMed("net", "p99"),
    netServerCpuUsPerMsg: echoMed("net", "serverCpuUsPerMsg"),
    ratio: median(echoRatios),
    ratios: echoRatios,
  };
  // The mean of a repetition's echo runs (before and after its cases) of one implementation.
  const qEchoOf = (impl, rep) => {
    const runs = results.queueEcho.filter((r) => r.impl === impl && r.rep === rep);
    return runs.length === 0 ? undefined : { msgsPerSec: runs.reduce((a, r) => a + r.msgsPerSec, 0) / runs.length };
  };
  const queue = QUEUE_CASES.flatMap((c) => {
    const rows = results.queue.filter((r) => r.kind === c.kind && r.impl === c.impl && r.mode === c.mode && r.batch === c.batch);
    if (rows.length === 0) return [];
    const med = (key) => median(rows.map((r) => r[key]));
    // msg/s over the echo's msg/s of the same repetition, median over repetitions.
    const ratiosTo = (impl) => rows.map((r) => r.msgsPerSec / (qEchoOf(impl, r.rep)?.msgsPerSec ?? NaN)).filter(Number.isFinite);
    const netRatios = ratiosTo("net");
    const emqRatios = ratiosTo("emq");
    return [{
      kind: c.kind,
      impl: c.impl,
      mode: c.mode,
      batch: c.batch,
      msgsPerSec: med("msgsPerSec"),
      reqPerSec: med("reqPerSec"),
      serverCpuUsPerMsg: med("serverCpuUsPerMsg"),
      clientCpuUsPerMsg: med("clientCpuUsPerMsg"),
      netRatio: median(netRatios),
      netRatios,
      emqRatio: median(emqRatios),
      emqRatios,
      pass: null,
    }];
  });
  const qEchoMed = (impl, key) => median(results.queueEcho.filter((r) => r.impl === impl).map((r) => r[key]));
  const queueEcho = {
    size: results.queueEcho[0]?.size,
    emqMsgsPerSec: qEchoMed("emq", "msgsPerSec"),
    emqServerCpuUsPerMsg: qEchoMed("emq", "serverCpuUsPerMsg"),
    netMsgsPerSec: qEchoMed("net", "msgsPerSec"),
    netServerCpuUsPerMsg: qEchoMed("net", "serverCpuUsPerMsg"),
  };
  return { throughput, latency, pushpull, pubsub, broker, brokerEcho, queue, queueEcho };
}

function table(header, rows) {
  const widths = header.map((h, i) => Math.max(h.length, ...rows.map((r) => r[i].length)));
  const line = (cells) => cells.map((c, i) => (i === 0 ? c.padEnd(widths[i]) : c.padStart(widths[i]))).join("  ");
  return [line(header), widths.map((w) => "-".repeat(w)).join("  "), ...rows.map(line)].join("\n");
}

const verdict = (pass) => (pass === null ? "n/a" : pass ? "PASS" : "MISS");

function printAndSave(opts, results, started) {
  const summary = summarize(results);
  const out = [];
  const reps = `${opts.reps} rep${opts.reps > 1 ? "s" : ""}, median${opts.quick ? ", --quick" : ""}`;
  if (results.throughput.length > 0) {
    out.push(`\nThroughput: DEALER -> ROUTER over tcp loopback, sender and receiver in separate processes (${reps})`);
    out.push("ratio = emq msg/s / baseline msg/s, median over runs paired with the baseline run next to them\n");
    out.push(
      table(
        ["size", "emq msg/s", "emq MB/s", "net msg/s", "net MB/s", "ratio", "target", "result"],
        summary.throughput.map((r) => [
          sizeLabel(r.size),
          fmtInt(r.emqMsgsPerSec),
          fmtNum(r.emqMBPerSec, 1),
          fmtInt(r.netMsgsPerSec),
          fmtNum(r.netMBPerSec, 1),
          fmtNum(r.ratio),
          `>= ${r.target}`,
          verdict(r.pass),
        ]),
      ),
    );
  }
  if (results.latency.length > 0) {
    out.push(`\nLatency: round trip, one message in flight, DEALER -> ROUTER echo in another process (${reps})`);
    out.push("emq and baseline alternate in blocks of 250 within the same two processes; microseconds per round trip;");
    out.push("ratio = emq p50 / baseline p50 per pair of neighbouring blocks, median over blocks, then over reps\n");
    out.push(
      table(
        ["size", "emq p50", "emq p99", "net p50", "net p99", "ratio p50", "target", "result"],
        summary.latency.map((r) => [
          sizeLabel(r.size),
          fmtNum(r.emqP50, 1),
          fmtNum(r.emqP99, 1),
          fmtNum(r.netP50, 1),
          fmtNum(r.netP99, 1),
          fmtNum(r.ratio),
          `<= ${r.target}`,
          verdict(r.pass),
        ]),
      ),
    );
  }
  if (results.pushpull.length > 0) {
    out.push(`\nThroughput: PUSH -> PULL over tcp loopback, sender and receiver in separate processes (${reps})`);
    out.push("ratio = emq msg/s / baseline msg/s (one raw net connection), median over paired runs\n");
    out.push(
      table(
        ["size", "emq msg/s", "emq MB/s", "net msg/s", "net MB/s", "ratio", "target", "result"],
        summary.pushpull.map((r) => [
          sizeLabel(r.size),
          fmtInt(r.emqMsgsPerSec),
          fmtNum(r.emqMBPerSec, 1),
          fmtInt(r.netMsgsPerSec),
          fmtNum(r.netMBPerSec, 1),
          fmtNum(r.ratio),
          `>= ${r.target}`,
          verdict(r.pass),
        ]),
      ),
    );
  }
  if (results.pubsub.length > 0) {
    out.push(`\nThroughput: PUB -> N SUB over tcp loopback, publisher and the N subscribers in two processes (${reps})`);
    out.push("paced so nothing is dropped; msg/s = messages published and delivered to all N; deliv/s = N x msg/s;");
    out.push("pub us/msg = publisher process CPU time per published message (framing once, plus N copies and writes);");
    out.push("ratio = emq msg/s / baseline msg/s (raw server, one framed buffer per message shared by the N writes)\n");
    out.push(
      table(
        ["size", "subs", "emq msg/s", "emq deliv/s", "net msg/s", "net deliv/s", "ratio", "emq pub us/msg", "net pub us/msg", "drops"],
        summary.pubsub.map((r) => [
          sizeLabel(r.size),
          String(r.subs),
          fmtInt(r.emqMsgsPerSec),
          fmtInt(r.emqDeliveriesPerSec),
          fmtInt(r.netMsgsPerSec),
          fmtInt(r.netDeliveriesPerSec),
          fmtNum(r.ratio),
          fmtNum(r.emqPubCpuUsPerMsg),
          fmtNum(r.netPubCpuUsPerMsg),
          String(r.drops),
        ]),
      ),
    );
  }
  if (results.broker.length > 0 || results.brokerEcho.length > 0) {
    const e = summary.brokerEcho;
    out.push(`\nBroker: no-op eMQP jobs, ${CLIENTS} clients x ${WINDOW} in flight -> one Broker -> N workers (${SLOTS} slots each), one process per role (${reps})`);
    out.push("jobs/s and the job round trip client -> broker -> worker -> result -> client (p50/p99 in ms; with a window");
    out.push("they are ~ window / rate); broker us/job = broker process CPU per job; jobs/echo = jobs/s / emq echo msg/s of");
    out.push("the same repetition (the same clients and window bouncing the REQUEST frames off a ROUTER echo process)\n");
    out.push(
      table(
        ["variant", "workers", "jobs/s", "p50 ms", "p99 ms", "broker us/job", "jobs/echo", "target", "result"],
        summary.broker.map((r) => [
          r.variant,
          String(r.workers),
          fmtInt(r.jobsPerSec),
          fmtNum(r.p50 / 1000),
          fmtNum(r.p99 / 1000),
          fmtNum(r.brokerCpuUsPerJob),
          fmtNum(r.ratio, 3),
          `>= ${fmtInt(r.target)}`,
          verdict(r.pass),
        ]),
      ),
    );
    out.push(
      `\necho baseline: emq DEALER -> ROUTER ${fmtInt(e.emqMsgsPerSec)} msg/s (p50 ${fmtNum(e.emqP50 / 1000)} ms, server ${fmtNum(e.emqServerCpuUsPerMsg)} us/msg), ` +
        `raw net ${fmtInt(e.netMsgsPerSec)} msg/s (p50 ${fmtNum(e.netP50 / 1000)} ms, server ${fmtNum(e.netServerCpuUsPerMsg)} us/msg), emq/net ${fmtNum(e.ratio)}`,
    );
  }
  if (results.queue.length > 0 || results.queueEcho.length > 0) {
    const e = summary.queueEcho;
    const storage = { memory: "memory", durable: "durable fsync", nofsync: "durable no-fsync" };
    out.push(
      `\nQueue API: ${queueBench.BODY_CHARS}-character message bodies, ${queueBench.CLIENTS} clients x ${queueBench.WINDOW} requests in flight -> ` +
        `one QueueServer process (${reps})`,
    );
    out.push("post: msg/s = messages acknowledged per second (batch = messages per post request); claim+delete: the queue");
    out.push(`filled first (untimed), then claims (limit 20, ${queueBench.CLAIMS_IN_FLIGHT} in flight per client) and a delete per claimed message until`);
    out.push("it is empty, msg/s = messages deleted per second; lib = QueueClient, raw = bare Dealer with pre-encoded requests;");
    out.push("server us/msg = server process CPU per message (the steadiest figure here: msg/s follows the machine's load);");
    out.push("/net echo, /emq echo = msg/s / echo msg/s (the same clients and window echoing one message the size of an encoded");
    out.push("batch-1 post request; mean of the runs before and after the repetition's cases), median over repetitions\n");
    out.push(
      table(
        ["case", "client", "storage", "batch", "msg/s", "req/s", "server us/msg", "client us/msg", "/net echo", "/emq echo"],
        summary.queue.map((r) => [
          r.kind === "post" ? "post" : "claim+delete",
          r.impl,
          storage[r.mode] ?? r.mode,
          String(r.batch),
          fmtInt(r.msgsPerSec),
          fmtInt(r.reqPerSec),
          fmtNum(r.serverCpuUsPerMsg),
          fmtNum(r.clientCpuUsPerMsg),
          fmtNum(r.netRatio, 3),
          fmtNum(r.emqRatio, 3),
        ]),
      ),
    );
    out.push(
      `\necho baseline (${Number.isFinite(e.size) ? sizeLabel(e.size) : "-"}): emq DEALER -> ROUTER ${fmtInt(e.emqMsgsPerSec)} msg/s (server ${fmtNum(e.emqServerCpuUsPerMsg)} us/msg), ` +
        `raw net ${fmtInt(e.netMsgsPerSec)} msg/s (server ${fmtNum(e.netServerCpuUsPerMsg)} us/msg)`,
    );
  }
  if (results.errors.length > 0) out.push(`\nErrors:\n  ${results.errors.join("\n  ")}`);
  const elapsed = (Date.now() - started) / 1000;
  out.push(`\ntotal ${fmtNum(elapsed, 1)} s; results in .bench-out/results.json`);
  console.log(out.join("\n"));

  const json = {
    date: new Date().toISOString(),
    node: process.version,
    cpus: cpus().length,
    cpuModel: cpus()[0]?.model,
    loadavg: loadavg(),
    ...gitInfo(),
    options: opts,
    elapsedSeconds: elapsed,
    summary,
    runs: results,
  };
  mkdirSync(OUT_DIR, { recursive: true });
  writeFileSync(join(OUT_DIR, "results.json"), JSON.stringify(json, null, 2) + "\n");
  return summary;
}

if (process.argv[1] === fileURLToPath(import.meta.url)) {
  main().catch((err) => {
    console.error(err);
    killAll();
    process.exit(1);
  });
}
