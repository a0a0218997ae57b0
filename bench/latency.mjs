// Round-trip latency: a client process sends one message and waits for it to come back before
// sending the next (one in flight); an echo process sends every message back. emq: DEALER client
// -> ROUTER echo (binds tcp://127.0.0.1:0). Baseline: the same over raw node:net (bench/baseline.mjs).
//
// On this 2-vCPU VM the round trip is bimodal: ~20-25 us while the two processes share a CPU, and
// ~120-150 us when each wakes the other across vCPUs (measured by pinning them with taskset), and
// the scheduler flips between the two from run to run and within a run. Measuring emq and the
// baseline in separate process pairs therefore compares luck, not code. So one echo process serves
// both (an emq ROUTER echo and a raw net echo), one client process holds both connections, and the
// client alternates blocks of round trips (emq block, net block, net block, emq block, ...): both see
// the same scheduling. The ratio is taken per pair of neighbouring blocks, then the median of those.
// Warm-up round trips (both kinds) are not timed; then every round trip is timed with hrtime.
//
// Imported by run.mjs for measureLatency(). Run directly, it runs `run.mjs --only=latency`
// with the same arguments. The child roles are `--child echo|client ...`.

import { fileURLToPath } from "node:url";
import { Buffer } from "node:buffer";
import { hrtime } from "node:process";
import { median, percentile, profileArgs, runChild, spawnChild } from "./common.mjs";

const SCRIPT = fileURLToPath(import.meta.url);

/** Round trips per block before switching to the other implementation. */
const BLOCK = 250;

/**
 * One measurement in two fresh processes, `count` timed round trips for each implementation.
 * Resolves to { emq: stats, net: stats, ratio }, stats = { count, p50, p99, mean, min, max } in
 * microseconds per round trip over all timed round trips; ratio = the median over block pairs of
 * (emq block p50 / net block p50), which stays meaningful when the round trip flips between its
 * two modes during the run (a p50 over all samples of a bimodal mix does not). With `profileDir`,
 * both processes run under --cpu-prof and write lat-{echo,client}-<size>B-<time>.cpuprofile there
 * (each holds both implementations).
 */
export async function measureLatency({ size, count, warmup, timeoutMs = 30_000, profileDir }) {
  const tag = `${size}B-${Date.now()}`;
  const echo = spawnChild(SCRIPT, ["--child", "echo", String(size)], {
    execArgv: profileArgs(profileDir, `lat-echo-${tag}`),
    label: `echo ${size}B`,
  });
  let client;
  try {
    const { emq, net } = await echo.next("ready", 10_000);
    client = spawnChild(SCRIPT, ["--child", "client", String(size), String(count), String(warmup), emq, net], {
      execArgv: profileArgs(profileDir, `lat-client-${tag}`),
      label: `client ${size}B`,
    });
    const { type, ...result } = await client.next("result", timeoutMs);
    return result;
  } finally {
    await Promise.all([client?.stop(), echo.stop()]);
  }
}

// ---- child processes ------------------------------------------------------------------------------

async function child(role, args, send, onExit) {
  const { Router, Dealer } = await import("../dist/index.js");
  const { echoServer, dial } = await import("./baseline.mjs");
  const size = Number(args[0]);
  if (role === "echo") {
    const router = new Router();
    const srv = await echoServer(0);
    onExit(() => {
      router.close();
      void srv.close();
    });
    await router.bind("tcp://127.0.0.1:0");
    send({ type: "ready", emq: router.lastEndpoint, net: srv.address });
    for await (const msg of router) await router.send(msg);
    return; // runs until the parent says exit
  }
  if (role !== "client") throw new Error(`unknown role ${role}`);
  const [, countArg, warmupArg, emqEndpoint, netEndpoint] = args;
  const count = Number(countArg);
  const warmup = Number(warmupArg);
  const msg = Buffer.alloc(size, 0x62);

  const dealer = new Dealer();
  dealer.connect(emqEndpoint);
  const conn = await dial(netEndpoint);
  onExit(() => {
    dealer.close();
    conn.destroy();
  });
  const emqRoundTrip = async () => {
    await dealer.send(msg);
    const reply = await dealer.receive();
    if (reply[0].length !== size) throw new Error("bad echo");
  };
  const netRoundTrip = async () => {
    await conn.send(msg);
    const reply = await conn.receive();
    if (reply.length !== size) throw new Error("bad echo");
  };

  for (let i = 0; i < warmup; i++) {
    await emqRoundTrip();
    await netRoundTrip();
  }
  const samples = { emq: new Float64Array(count), net: new Float64Array(count) };
  const blockRatios = [];
  for (let done = 0, b = 0; done < count; done += BLOCK, b++) {
    const n = Math.min(BLOCK, count - done);
    // Alternate which goes first in each pair of blocks.
    const order = b % 2 === 0 ? ["emq", "net"] : ["net", "emq"];
    for (const impl of order) {
      const rt = impl === "emq" ? emqRoundTrip : netRoundTrip;
      const out = samples[impl];
      for (let i = done; i < done + n; i++) {
        const t0 = hrtime.bigint();
        await rt();
        out[i] = Number(hrtime.bigint() - t0) / 1000;
      }
    }
    const blockP50 = (impl) => percentile(samples[impl].slice(done, done + n).sort(), 50);
    blockRatios.push(blockP50("emq") / blockP50("net"));
  }
  const stats = (s) => {
    s.sort();
    let sum = 0;
    for (const x of s) sum += x;
    return { count, p50: percentile(s, 50), p99: percentile(s, 99), mean: sum / s.length, min: s[0], max: s[s.length - 1] };
  };
  send({ type: "result", emq: stats(samples.emq), net: stats(samples.net), ratio: median(blockRatios) });
}

if (process.argv[1] === SCRIPT) {
  if (process.argv[2] === "--child") runChild(child);
  else {
    // No top-level await here: run.mjs imports this module, which must finish evaluating first.
    import("./run.mjs").then(({ main }) => main(["--only=latency", ...process.argv.slice(2)]));
  }
}
