// Runs the benchmarks, alternating emq and the raw node:net baseline run by run (this 2-core machine
// drifts by 2x between runs, so only ratios measured side by side mean anything), then prints a
// table with the ratio emq / baseline against its target and writes .bench-out/results.json.
//
//   node bench/run.mjs [--quick] [--only=throughput|latency] [--reps=N] [--profile] [--strict] [--timeout=S]
//
//   --quick     fewer messages, one repetition: a smoke run (~30 s)
//   --only=X    just throughput or just latency
//   --reps=N    repetitions per case (default 5; the median is reported)
//   --profile   run every measuring process under `node --cpu-prof` (profiles in .bench-out/prof/,
//               named by test, role, implementation and size; summarize one or several with
//               `node bench/profile-summary.mjs .bench-out/prof/tput-send-emq-16B-*.cpuprofile`)
//   --strict    exit with status 1 if a target is missed (default: only errors fail the run)
//   --timeout=S overall watchdog in seconds (default 300, or 90 with --quick): past it, every child
//               is killed, what was measured so far is printed, and the exit status is 2

import { mkdirSync, writeFileSync, rmSync } from "node:fs";
import { execFileSync } from "node:child_process";
import { cpus, loadavg } from "node:os";
import { dirname, join } from "node:path";
import { fileURLToPath } from "node:url";
import { fmtInt, fmtNum, killAll, median, sizeLabel } from "./common.mjs";
import { measureThroughput } from "./throughput.mjs";
import { measureLatency } from "./latency.mjs";

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

function parseArgs(argv) {
  const o = { quick: false, only: undefined, reps: undefined, profile: false, strict: false, timeout: undefined };
  for (const a of argv) {
    if (a === "--quick") o.quick = true;
    else if (a === "--profile") o.profile = true;
    else if (a === "--strict") o.strict = true;
    else if (a.startsWith("--only=")) o.only = a.slice(7);
    else if (a.startsWith("--reps=")) o.reps = Number(a.slice(7));
    else if (a.startsWith("--timeout=")) o.timeout = Number(a.slice(10));
    else if (a === "--help" || a === "-h") {
      console.log("usage: node bench/run.mjs [--quick] [--only=throughput|latency] [--reps=N] [--profile] [--strict] [--timeout=S]");
      process.exit(0);
    } else throw new Error(`unknown argument ${a}`);
  }
  if (o.only !== undefined && o.only !== "throughput" && o.only !== "latency") throw new Error(`--only must be throughput or latency`);
  o.reps ??= o.quick ? 1 : 5;
  if (!(o.reps >= 1)) throw new Error("--reps must be >= 1");
  o.timeout ??= o.quick ? 90 : 300;
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
  const results = { throughput: [], latency: [], errors: [] };
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
    if (opts.only !== "latency") {
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
    if (opts.only !== "throughput") {
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
  }
  finished = true;
  clearTimeout(watchdog);
  const summary = report();
  const missed = summary.throughput.some((r) => r.pass === false) || summary.latency.some((r) => r.pass === false);
  process.exitCode = results.errors.length > 0 ? 1 : opts.strict && missed ? 1 : 0;
  return summary;
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
  return { throughput, latency };
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
