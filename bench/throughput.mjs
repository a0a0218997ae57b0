// Throughput: one sender process pushes N messages of one size as fast as `await send()` allows;
// one receiver process times from the first message to the last. emq: DEALER (connects) -> ROUTER
// (binds tcp://127.0.0.1:0). Baseline: the same shape over raw node:net (bench/baseline.mjs).
//
// Imported by run.mjs for measureThroughput(). Run directly, it runs `run.mjs --only=throughput`
// with the same arguments. The child roles are `--child recv|send ...`.

import { fileURLToPath } from "node:url";
import { Buffer } from "node:buffer";
import { performance } from "node:perf_hooks";
import { profileArgs, runChild, spawnChild } from "./common.mjs";

const SCRIPT = fileURLToPath(import.meta.url);

/**
 * One measurement in two fresh processes. Resolves to
 * { impl, size, count, seconds, msgsPerSec, mbPerSec, sendSeconds }. With `profileDir`, both
 * processes run under --cpu-prof and write tput-{recv,send}-<impl>-<size>B-<time>.cpuprofile there.
 */
export async function measureThroughput({ impl, size, count, timeoutMs = 20_000, profileDir }) {
  const tag = `${impl}-${size}B-${Date.now()}`;
  const recv = spawnChild(SCRIPT, ["--child", "recv", impl, String(size), String(count)], {
    execArgv: profileArgs(profileDir, `tput-recv-${tag}`),
    label: `${impl} recv ${size}B`,
  });
  let send;
  try {
    const { endpoint } = await recv.next("ready", 10_000);
    send = spawnChild(SCRIPT, ["--child", "send", impl, String(size), String(count), endpoint], {
      execArgv: profileArgs(profileDir, `tput-send-${tag}`),
      label: `${impl} send ${size}B`,
    });
    // A sender that fails (or dies) fails the measurement at once rather than at the timeout.
    const sentP = send.next("sent", timeoutMs);
    sentP.catch(() => {}); // handled below, or moot if the receiver fails first
    const result = await Promise.race([recv.next("result", timeoutMs), sentP.then(() => new Promise(() => {}))]);
    const sent = await sentP;
    return { impl, size, ...result, sendSeconds: sent?.seconds };
  } finally {
    await Promise.all([send?.stop(), recv.stop()]);
  }
}

// ---- child processes ------------------------------------------------------------------------------

async function child(role, args, send, onExit) {
  const [impl, sizeArg, countArg, endpoint] = args;
  const size = Number(sizeArg);
  const count = Number(countArg);
  if (role === "recv") {
    let t0 = 0;
    let n = 0;
    let bad = 0;
    if (impl === "emq") {
      const { Router } = await import("../dist/index.js");
      const sock = new Router();
      onExit(() => sock.close());
      await sock.bind("tcp://127.0.0.1:0");
      send({ type: "ready", endpoint: sock.lastEndpoint });
      for await (const msg of sock) {
        if (n === 0) t0 = performance.now();
        if (msg[1].length !== size) bad++;
        if (++n === count) break;
      }
    } else {
      const { listen } = await import("./baseline.mjs");
      let resolveConn;
      const connP = new Promise((r) => (resolveConn = r));
      const srv = await listen(0, resolveConn);
      onExit(() => void srv.close());
      send({ type: "ready", endpoint: srv.address });
      const conn0 = await connP;
      onExit(() => {
        conn0.destroy();
        void srv.close();
      });
      for await (const msg of conn0) {
        if (n === 0) t0 = performance.now();
        if (msg.length !== size) bad++;
        if (++n === count) break;
      }
    }
    const seconds = (performance.now() - t0) / 1000;
    if (bad) throw new Error(`${bad} messages had the wrong size`);
    const msgsPerSec = (count - 1) / seconds;
    send({ type: "result", count, seconds, msgsPerSec, mbPerSec: (msgsPerSec * size) / 1e6 });
  } else if (role === "send") {
    const msg = Buffer.alloc(size, 0x61);
    let t0;
    if (impl === "emq") {
      const { Dealer } = await import("../dist/index.js");
      const sock = new Dealer();
      onExit(() => sock.close());
      sock.connect(endpoint);
      t0 = performance.now();
      for (let i = 0; i < count; i++) await sock.send(msg);
    } else {
      const { dial } = await import("./baseline.mjs");
      const conn = await dial(endpoint);
      onExit(() => conn.close());
      t0 = performance.now();
      for (let i = 0; i < count; i++) await conn.send(msg);
    }
    send({ type: "sent", seconds: (performance.now() - t0) / 1000 });
  } else {
    throw new Error(`unknown role ${role}`);
  }
}

if (process.argv[1] === SCRIPT) {
  if (process.argv[2] === "--child") runChild(child);
  else {
    // No top-level await here: run.mjs imports this module, which must finish evaluating first.
    import("./run.mjs").then(({ main }) => main(["--only=throughput", ...process.argv.slice(2)]));
  }
}
