// The real emq-broker CLI (dist/) as a child process, for the queue API tests that need a process
// to kill or a command line to check: start it on free loopback ports, wait for its start-up line,
// read the queue API address from it, and collect its output.

import { spawn, spawnSync, type ChildProcess, type SpawnSyncReturns } from "node:child_process";
import { fileURLToPath } from "node:url";

/** EMQ_TEST_BROKER_CLI points the tests at another build (e.g. a deliberately broken copy, to see them fail). */
export const CLI = process.env.EMQ_TEST_BROKER_CLI ?? fileURLToPath(new URL("../../dist/cli/emq-broker.js", import.meta.url));

/** Every socket on a free loopback port, admin off: nothing a test run can collide with. */
export const LOCAL: Record<string, string> = {
  EMQ_FRONTEND: "tcp://127.0.0.1:0",
  EMQ_BACKEND: "tcp://127.0.0.1:0",
  EMQ_ADMIN: "off",
  EMQ_QUEUE_API: "tcp://127.0.0.1:0",
};

/** The environment without any EMQ_/EVENTMQ_ setting of the caller's, plus `env`. */
function cleanEnv(env: Record<string, string>): NodeJS.ProcessEnv {
  const out: NodeJS.ProcessEnv = {};
  for (const [k, v] of Object.entries(process.env)) if (!/^(EMQ|EVENTMQ)_/.test(k)) out[k] = v;
  return { ...out, ...env };
}

export const runCli = (args: string[], env: Record<string, string> = {}): SpawnSyncReturns<string> =>
  spawnSync(process.execPath, [CLI, ...args], { encoding: "utf8", timeout: 20_000, env: cleanEnv(env) });

export interface BrokerProcess {
  child: ChildProcess;
  out(): string;
  err(): string;
  /** Resolves with the exit code (or the signal's name) once the process is gone and reaped. */
  exited: Promise<number | string>;
}

export function spawnBroker(args: string[], env: Record<string, string> = LOCAL): BrokerProcess {
  const child = spawn(process.execPath, [CLI, ...args], { env: cleanEnv(env) });
  let out = "";
  let err = "";
  child.stdout!.on("data", (d: Buffer) => (out += d.toString()));
  child.stderr!.on("data", (d: Buffer) => (err += d.toString()));
  const exited = new Promise<number | string>((resolve) => child.on("exit", (code, signal) => resolve(code ?? signal ?? -1)));
  return { child, out: () => out, err: () => err, exited };
}

/** Polls `get()` until `re` matches; throws with the output so far (and the exit, if any) otherwise. */
export async function waitFor(b: BrokerProcess, get: () => string, re: RegExp, what: string, ms = 10_000): Promise<RegExpExecArray> {
  let exit: number | string | undefined;
  void b.exited.then((c) => (exit = c));
  const end = Date.now() + ms;
  for (;;) {
    const m = re.exec(get());
    if (m) return m;
    if (exit !== undefined || Date.now() > end) {
      throw new Error(`${exit !== undefined ? `broker exited (${exit})` : "timed out"} waiting for ${what}; stdout:\n${b.out()}\nstderr:\n${b.err()}`);
    }
    await new Promise((r) => setTimeout(r, 10));
  }
}

export const QUEUE_API_LINE = /queue API (tcp:\/\/127\.0\.0\.1:\d+) \(([^)]*)\)/;

/** Starts the broker and resolves with it and its queue API address once it says it listens. */
export async function startBroker(args: string[], env: Record<string, string> = LOCAL): Promise<BrokerProcess & { address: string; mode: string }> {
  const b = spawnBroker(args, env);
  try {
    const m = await waitFor(b, b.out, QUEUE_API_LINE, "the queue API address");
    return { ...b, address: m[1]!, mode: m[2]! };
  } catch (e) {
    b.child.kill("SIGKILL");
    throw e;
  }
}
