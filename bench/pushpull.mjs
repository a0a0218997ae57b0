// PUSH -> PULL throughput: one sender process pushes N messages of one size as fast as `await send()`
// allows; one receiver process times from the first message to the last. emq: PUSH (connects) ->
// PULL (binds tcp://127.0.0.1:0). Baseline: one raw node:net connection with the length-prefix
// framing of bench/baseline.mjs, the same shape as throughput.mjs's baseline. PUSH never drops (it
// waits at the HWM), so every message sent is counted by the receiver.
//
// Imported by run.mjs for measurePushPull(). Run directly, it runs `run.mjs --only=pushpull` with the
// same arguments. The child roles are `--child recv|send ...`.

import { fileURLToPath } from "node:url";
import { Buffer } from "node:buffer";
import { performance } from "node:perf_hooks";
import { profileArgs, runChild, spawnChild } from "./common.mjs";

const SCRIPT = fileURLToPath(import.meta.url);

/**
 * One measurement in two fresh processes. Resolves to
 * { impl, size, count, seconds, msgsPerSec, mbPerSec, sendSeconds, recvCpuUsPerMsg, sendCpuUsPerMsg }
 * (CPU time of each process per message while timing). With `profileDir`, both
 * processes run under --cpu-prof and write pp-{recv,send}-<impl>-<size>B-<time>.cpuprofile there.
 */
export async function measurePushPull({ impl, size, count, timeoutMs = 20_000, profileDir }) {
  const tag = `${impl}-${size}B-${Date.now()}`;
  const recv = spawnChild(SCRIPT, ["--child", "recv", impl, String(size), String(count)], {
    execArgv: profileArgs(profileDir, `pp-recv-${tag}`),
    label: `${impl} pull ${size}B`,
  });
  let send;
  try {
    const { endpoint } = await recv.next("ready", 10_000);
    send = spawnChild(SCRIPT, ["--child", "send", impl, String(size), String(count), endpoint], {
      execArgv: profileArgs(profileDir, `pp-send-${tag}`),
      label: `${impl} push ${size}B`,
    });
    // A sender that fails (or dies) fails the measurement at once rather than at the timeout.
    const sentP = send.next("sent", timeoutMs);
    sentP.catch(() => {}); // handled below, or moot if the receiver fails first
    const result = await Promise.race([recv.next("result", timeoutMs), sentP.then(() => new Promise(() => {}))]);
    const sent = await sentP;
    return { impl, size, ...result, sendSeconds: sent?.seconds, sendCpuUsPerMsg: sent?.cpuUsPerMsg };
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
    let cpu0;
    let n = 0;
    let bad = 0;
    if (impl === "emq") {
      const { Pull } = await import("../dist/index.js");
      const sock = new Pull();
      onExit(() => sock.close());
      await sock.bind("tcp://127.0.0.1:0");
      send({ type: "ready", endpoint: sock.lastEndpoint });
      for await (const [body] of sock) {
        if (n === 0) {
          t0 = performance.now();
          cpu0 = process.cpuUsage();
        }
        if (body.length !== size) bad++;
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
      for await (const body of conn0) {
        if (n === 0) {
          t0 = performance.now();
          cpu0 = process.cpuUsage();
        }
        if (body.length !== size) bad++;
        if (++n === count) break;
      }
    }
    const seconds = (performance.now() - t0) / 1000;
    const cpu = process.cpuUsage(cpu0);
    if (bad) throw new Error(`${bad} messages had the wrong size`);
    const msgsPerSec = (count - 1) / seconds;
    const recvCpuUsPerMsg = (cpu.user + cpu.system) / count;
    send({ type: "result", count, seconds, msgsPerSec, mbPerSec: (msgsPerSec * size) / 1e6, recvCpuUsPerMsg });
  } else if (role === "send") {
    const msg = Buffer.alloc(size, 0x61);
    let t0;
    let cpu0;
    if (impl === "emq") {
      const { Push } = await import("../dist/index.js");
      const sock = new Push();
      onExit(() => sock.close());
      sock.connect(endpoint);
      t0 = performance.now();
      cpu0 = process.cpuUsage();
      for (let i = 0; i < count; i++) await sock.send(msg);
    } else {
      const { dial } = await import("./baseline.mjs");
      const conn = await dial(endpoint);
      onExit(() => conn.close());
      t0 = performance.now();
      cpu0 = process.cpuUsage();
      for (let i = 0; i < count; i++) await conn.send(msg);
    }
    const seconds = (performance.now() - t0) / 1000;
    const cpu = process.cpuUsage(cpu0);
    send({ type: "sent", seconds, cpuUsPerMsg: (cpu.user + cpu.system) / count });
  } else {
    throw new Error(`unknown role ${role}`);
  }
}

if (process.argv[1] === SCRIPT) {
  if (process.argv[2] === "--child") runChild(child);
  else {
    // No top-level await here: run.mjs imports this module, which must finish evaluating first.
    import("./run.mjs").then(({ main }) => main(["--only=pushpull", ...process.argv.slice(2)]));
  }
}
