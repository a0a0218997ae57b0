// Shared plumbing for the benchmarks: forking measurement processes, talking to them over IPC with
// timeouts, making sure none outlives the run, and small statistics helpers.

import { fork } from "node:child_process";
import { performance } from "node:perf_hooks";

/** Every child forked by this process, so a watchdog or signal can kill whatever is left. */
const live = new Set();

/**
 * Forks `script` with `args`. The returned handle reads typed IPC messages ({ type, ... }) in order:
 * `next(type, ms)` resolves with the next message of that type, and rejects if the child sends
 * { type: "error" }, exits first, or `ms` pass.
 */
export function spawnChild(script, args, { execArgv = [], label = args.join(" ") } = {}) {
  const child = fork(script, args, {
    execArgv,
    stdio: ["ignore", "inherit", "inherit", "ipc"],
  });
  live.add(child);
  const inbox = [];
  let waiter = null;
  let exited = null;
  const wake = () => {
    if (!waiter) return;
    const i = inbox.findIndex((m) => m.type === waiter.type || m.type === "error");
    if (i >= 0) {
      const [m] = inbox.splice(i, 1);
      const w = waiter;
      waiter = null;
      clearTimeout(w.timer);
      if (m.type === "error" && w.type !== "error") w.reject(new Error(`${label}: ${m.message}`));
      else w.resolve(m);
    } else if (exited) {
      const w = waiter;
      waiter = null;
      clearTimeout(w.timer);
      w.reject(new Error(`${label}: exited (${exited}) before sending "${w.type}"`));
    }
  };
  child.on("message", (m) => {
    inbox.push(m);
    wake();
  });
  const exitPromise = new Promise((resolve) => {
    child.on("exit", (code, signal) => {
      live.delete(child);
      exited = signal ?? `code ${code}`;
      wake();
      resolve(exited);
    });
  });
  child.on("error", () => {});
  return {
    child,
    label,
    next(type, ms) {
      return new Promise((resolve, reject) => {
        const timer = setTimeout(() => {
          waiter = null;
          reject(new Error(`${label}: no "${type}" within ${ms} ms`));
        }, ms);
        waiter = { type, resolve, reject, timer };
        wake();
      });
    },
    send(msg) {
      if (child.connected) child.send(msg);
    },
    /** Asks the child to exit (it closes its sockets), and kills it if it has not within `ms`. */
    async stop(ms = 3000) {
      if (exited) return exited;
      this.send({ type: "exit" });
      const timer = setTimeout(() => child.kill("SIGKILL"), ms);
      const r = await exitPromise;
      clearTimeout(timer);
      return r;
    },
    exited: exitPromise,
  };
}

/** node flags to write a CPU profile named `name`.cpuprofile into `dir` (none without a dir). */
export function profileArgs(dir, name) {
  return dir ? ["--cpu-prof", `--cpu-prof-dir=${dir}`, `--cpu-prof-name=${name}.cpuprofile`] : [];
}

/** Kills every child still alive (watchdog, signals, errors). */
export function killAll() {
  for (const c of live) {
    try {
      c.kill("SIGKILL");
    } catch {}
  }
}

/**
 * For a child process: runs `main(role, args, send)`, reports uncaught errors to the parent, and
 * exits when the parent says { type: "exit" }, when the IPC channel closes (parent died), or after
 * `maxMs` as a last resort. `onExit` closes the child's sockets first.
 */
export function runChild(main, { maxMs = 120_000 } = {}) {
  const send = (m) => {
    if (process.connected) process.send(m);
  };
  let onExit = () => {};
  const exit = (code) => {
    try {
      onExit();
    } catch {}
    // Let close()/end() reach the kernel, then go (a --cpu-prof profile is written on exit).
    setImmediate(() => process.exit(code));
  };
  process.on("message", (m) => {
    if (m && m.type === "exit") exit(0);
  });
  process.on("disconnect", () => exit(0));
  const fail = (err) => {
    send({ type: "error", message: err?.stack ?? String(err) });
    exit(1);
  };
  process.on("uncaughtException", fail);
  process.on("unhandledRejection", fail);
  setTimeout(() => fail(new Error(`child ran longer than ${maxMs} ms`)), maxMs).unref();
  const [role, ...args] = process.argv.slice(3);
  Promise.resolve()
    .then(() =>
      main(role, args, send, (fn) => {
        onExit = fn;
      }),
    )
    .catch(fail);
}

export function median(xs) {
  const s = xs.filter((x) => Number.isFinite(x)).sort((a, b) => a - b);
  if (s.length === 0) return NaN;
  const m = s.length >> 1;
  return s.length % 2 ? s[m] : (s[m - 1] + s[m]) / 2;
}

/** Percentile (0-100) of an already-sorted array, nearest-rank. */
export function percentile(sorted, p) {
  if (sorted.length === 0) return NaN;
  const i = Math.min(sorted.length - 1, Math.max(0, Math.ceil((p / 100) * sorted.length) - 1));
  return sorted[i];
}

export const fmtInt = (n) => (Number.isFinite(n) ? Math.round(n).toLocaleString("en-US") : "-");
export const fmtNum = (n, d = 2) => (Number.isFinite(n) ? n.toFixed(d) : "-");

export function sizeLabel(n) {
  if (n >= 1024 && n % 1024 === 0) return `${n / 1024} KiB`;
  return `${n} B`;
}

// ---- shared by the multi-process benchmarks (broker.mjs, queue.mjs) ----

export const now = () => performance.timeOrigin + performance.now();

/** Sends `msg` to every handle and collects one reply of `type` from each. */
export const all = (handles, type, ms, msg) => {
  if (msg) for (const h of handles) h.send(msg);
  return Promise.all(handles.map((h) => h.next(type, ms)));
};

/** Parent -> child control messages other than "exit" (which runChild handles). */
export function controls() {
  const inbox = [];
  let waiter = null;
  process.on("message", (m) => {
    if (!m || m.type === "exit") return;
    if (waiter && waiter.type === m.type) {
      const w = waiter;
      waiter = null;
      w.resolve(m);
    } else inbox.push(m);
  });
  return (type) => {
    const i = inbox.findIndex((m) => m.type === type);
    if (i >= 0) return Promise.resolve(inbox.splice(i, 1)[0]);
    return new Promise((resolve) => (waiter = { type, resolve }));
  };
}

/** For non-client roles: CPU time between the parent's "mark" and "report". */
export function serveCpu(waitFor, send, extra = () => ({})) {
  void (async () => {
    await waitFor("mark");
    const cpu0 = process.cpuUsage();
    send({ type: "marked" });
    await waitFor("report");
    const cpu = process.cpuUsage(cpu0);
    send({ type: "cpu", cpuUs: cpu.user + cpu.system, ...extra() });
  })();
}

/**
 * The echo baselines' server side, for a child process: "echo-emq" bounces every message on a
 * ROUTER, "echo-net" runs bench/baseline.mjs's raw node:net echo. Resolves true (once the server
 * is closed, for echo-emq) when `role` was one of them, false otherwise.
 */
export async function serveEcho(role, waitFor, send, onExit) {
  if (role === "echo-emq") {
    const { Router } = await import("../dist/index.js");
    const router = new Router({ linger: 0 });
    onExit(() => router.close());
    await router.bind("tcp://127.0.0.1:0");
    serveCpu(waitFor, send);
    send({ type: "ready", endpoint: router.lastEndpoint });
    for await (const msg of router) await router.send(msg);
    return true;
  }
  if (role === "echo-net") {
    const { echoServer } = await import("./baseline.mjs");
    const srv = await echoServer(0);
    onExit(() => void srv.close());
    serveCpu(waitFor, send);
    send({ type: "ready", endpoint: srv.address });
    return true;
  }
  return false;
}
