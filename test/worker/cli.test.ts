// emq-worker as users run it: the built dist/cli/emq-worker.js in a child process (npm test builds
// dist first) against a hand-written broker backend in this process: --help, usage errors, bad
// handler modules, and a real run (INFORM, READYs, a job, SIGTERM -> KBYE, drain, exit 0).

import { spawn, type ChildProcessByStdio } from "node:child_process";
import { existsSync } from "node:fs";
import type { Readable } from "node:stream";
import { fileURLToPath } from "node:url";
import t from "tap";
import { until, within } from "../socket/fake-peer.js";
import { FakeBroker } from "./fake-broker.js";

const CLI = fileURLToPath(new URL("../../dist/cli/emq-worker.js", import.meta.url));
const FIXTURES = fileURLToPath(new URL("./fixtures/", import.meta.url));
const CHILD_WAIT = 15_000;

interface Run {
  code: number | null;
  signal: NodeJS.Signals | null;
  stdout: string;
  stderr: string;
}

/** Starts the CLI without blocking this process's event loop (the fake broker lives in it). */
function start(args: string[], env: Record<string, string> = {}) {
  const child: ChildProcessByStdio<null, Readable, Readable> = spawn(process.execPath, [CLI, ...args], {
    env: { PATH: process.env.PATH ?? "", ...env },
    stdio: ["ignore", "pipe", "pipe"],
  });
  const out = { stdout: "", stderr: "" };
  child.stdout.setEncoding("utf8").on("data", (d: string) => (out.stdout += d));
  child.stderr.setEncoding("utf8").on("data", (d: string) => (out.stderr += d));
  const done = within(
    new Promise<Run>((resolve) => child.on("close", (code, signal) => resolve({ code, signal, ...out }))),
    CHILD_WAIT,
    `emq-worker ${args.join(" ")}`,
  ).finally(() => child.kill("SIGKILL"));
  return { child, out, done };
}

const run = (args: string[], env: Record<string, string> = {}) => start(args, env).done;

if (!existsSync(CLI)) {
  t.fail(`${CLI} is missing: build first (npm test does, or npm run build)`);
} else {
  t.test("--help lists the options and exits 0; --version prints it", async (t) => {
    const help = await run(["--help"]);
    t.equal(help.code, 0);
    for (const o of ["--handlers", "--address", "--queues", "--concurrency", "--timeout", "--log-level", "EVENTMQ_WORKER_ADDR", "EVENTMQ_CONCURRENT_JOBS"]) {
      t.match(help.stdout, o, `mentions ${o}`);
    }
    const v = await run(["--version"]);
    t.equal(v.code, 0);
    t.match(v.stdout, /^emq-worker \d+\.\d+\.\d+/);
  });

  t.test("usage errors exit 2 with one line and a pointer to --help", async (t) => {
    const cases: [string[], RegExp][] = [
      [["--bogus"], /unknown option --bogus/],
      [[], /--handlers FILE is required/],
      [["--handlers", `${FIXTURES}handlers.mjs`, "--concurrency", "0"], /--concurrency must be an integer >= 1/],
      [["--handlers", `${FIXTURES}handlers.mjs`, "--concurrency", "many"], /expected a number/],
      [["--handlers", `${FIXTURES}handlers.mjs`, "--queues", "[[10,"], /--queues: not valid JSON/],
      [["--handlers", `${FIXTURES}handlers.mjs`, "--log-level", "loud"], /--log-level must be one of/],
    ];
    for (const [args, msg] of cases) {
      const r = await run(args);
      t.equal(r.code, 2, `exit 2: ${args.join(" ")}`);
      t.match(r.stderr, msg);
      t.match(r.stderr, /Try 'emq-worker --help'/);
    }
  });

  t.test("bad handler modules exit 1 with the reason", async (t) => {
    const cases: [string, RegExp][] = [
      ["missing.mjs", /handlers module .*missing\.mjs not found/],
      ["no-handlers.mjs", /exports no functions/],
      ["broken.mjs", /this module is broken on purpose/],
    ];
    const major = Number(process.versions.node.split(".")[0]);
    const minor = Number(process.versions.node.split(".")[1]);
    if (major < 22 || (major === 22 && minor < 6)) {
      cases.push(["typed.ts", /cannot import TypeScript module .*typed\.ts.*Node >= 22\.6/]);
    } else {
      t.comment(`Node ${process.versions.node} can strip types: the .ts refusal is not checked here`);
    }
    for (const [file, msg] of cases) {
      const r = await run(["--handlers", `${FIXTURES}${file}`, "--address", "tcp://127.0.0.1:1"]);
      t.equal(r.code, 1, `exit 1: ${file}`);
      t.match(r.stderr, msg, file);
    }
  });

  t.test("a run: says where it connects, registers, completes a job; SIGTERM -> KBYE, drains, exit 0", async (t) => {
    const b = await FakeBroker.start();
    t.teardown(() => b.close());
    const w = start(["--handlers", `${FIXTURES}handlers.mjs`, "--queues", "jobs:20,default", "--log-level", "debug"], {
      EVENTMQ_WORKER_ADDR: b.address,
      EVENTMQ_CONCURRENT_JOBS: "2",
    });
    t.teardown(() => void w.child.kill("SIGKILL"));
    const inform = await b.take("INFORM", "INFORM from the CLI", CHILD_WAIT);
    t.same(inform.frames.slice(2), ["INFORM", inform.frames[3], '[[20, "jobs"], [10, "default"]]', "worker"]);
    await until(() => w.out.stdout.includes("connecting"), "the start line", CHILD_WAIT);
    t.match(w.out.stdout, `emq-worker connecting to ${b.address}: queues jobs(20), default(10), concurrency 2, handlers `);
    t.match(w.out.stdout, /handlers .*add/);
    await b.ack(inform);
    await b.take("READY");
    await b.take("READY");
    await until(() => w.out.stdout.includes("registered"), "the registered line");

    await b.request(inform.id, "j1", { callable: "add", args: [2, 3] });
    t.same((await b.take("REPLY")).frames.slice(4), ['{"value": 5}', "j1"]);
    await b.take("READY");
    await b.request(inform.id, "j2", { path: "jobs_demo", callable: "touch", args: ["x"] });
    t.same((await b.take("REPLY")).frames.slice(4), ['{"value": "touched x"}', "j2"]);
    await b.take("READY");

    // A job is running when SIGTERM comes: KBYE first, then its REPLY, then exit 0.
    await b.request(inform.id, "j3", { callable: "nap", args: [300] });
    await until(() => w.out.stderr.includes("job started msgid=j3"), "j3 to start");
    w.child.kill("SIGTERM");
    const kbye = await b.take("KBYE", "KBYE after SIGTERM");
    t.equal(kbye.id, inform.id);
    t.same((await b.take("REPLY")).frames.slice(4), ['{"value": "slept 300"}', "j3"], "the running job finished");
    const r = await w.done;
    t.equal(r.code, 0, "exit 0");
    t.equal(b.unread("READY").length, 0, "no READY after KBYE");
    t.match(r.stderr, /signal: finishing running jobs/);
  });
}
