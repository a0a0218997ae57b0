// emq-scheduler as users run it: the built dist/cli/emq-scheduler.js in a child process (npm test
// builds dist first) against a hand-written broker frontend in this process: --help, usage
// errors, and a real run (INFORM, ACK, a SCHEDULE that fires, SIGTERM -> KBYE, exit 0, the
// schedule kept in --data-dir).

import { spawn } from "node:child_process";
import { existsSync, mkdtempSync, readFileSync, rmSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { fileURLToPath } from "node:url";
import t from "tap";
import { pyJson } from "../../src/emqp/index.js";
import { FakeBroker } from "../worker/fake-broker.js";
import { until, within } from "../socket/fake-peer.js";

const CLI = fileURLToPath(new URL("../../dist/cli/emq-scheduler.js", import.meta.url));
const CHILD_WAIT = 15_000;

function start(args: string[]) {
  const child = spawn(process.execPath, [CLI, ...args], { env: { PATH: process.env.PATH ?? "" }, stdio: ["ignore", "pipe", "pipe"] });
  const out = { stdout: "", stderr: "" };
  child.stdout.setEncoding("utf8").on("data", (d: string) => (out.stdout += d));
  child.stderr.setEncoding("utf8").on("data", (d: string) => (out.stderr += d));
  const done = within(
    new Promise<{ code: number | null }>((resolve) => child.on("close", (code) => resolve({ code }))),
    CHILD_WAIT,
    `emq-scheduler ${args.join(" ")}`,
  ).finally(() => child.kill("SIGKILL"));
  return { child, out, done };
}

if (!existsSync(CLI)) {
  t.fail(`${CLI} is missing: build first (npm test does, or npm run build)`);
} else {
  t.test("--help lists the options; usage errors exit 2", async (t) => {
    const h = start(["--help"]);
    t.equal((await h.done).code, 0);
    for (const o of ["--address", "--data-dir", "--timezone", "--log-level", "EVENTMQ_SCHEDULER_ADDR", "nohaste", "run_count"]) t.match(h.out.stdout, o, `mentions ${o}`);
    const bad = start(["--timezone", "Mars/Olympus"]);
    t.equal((await bad.done).code, 2);
    t.match(bad.out.stderr, /--timezone must be "local" or "UTC"/);
  });

  t.test("a run: INFORM, a SCHEDULE fires, SIGTERM sends KBYE and exits 0, the schedule stays on disk", async (t) => {
    const broker = await FakeBroker.start();
    t.teardown(() => broker.close());
    const dir = mkdtempSync(join(tmpdir(), "emq-scheduler-cli-"));
    t.teardown(() => rmSync(dir, { recursive: true, force: true }));
    const run = start(["--address", broker.address, "--data-dir", dir, "--timezone", "UTC", "--log-level", "warn"]);
    const inform = await broker.take("INFORM", "INFORM", CHILD_WAIT);
    t.same(inform.frames.slice(4), ["", "scheduler"]);
    await broker.ack(inform);
    await until(() => run.out.stdout.includes("registered with the broker"), "the registered line", CHILD_WAIT);
    const job = pyJson(["run", { callable: "f", path: "cli", args: [], kwargs: {}, class_args: [], class_kwargs: {} }]);
    await broker.raw(inform.id, ["", "eMQP/1.0", "SCHEDULE", "c1", "q", "guarantee", "3600", job, ""]);
    const r = await broker.take("REQUEST", "the haste run");
    t.same(r.frames.slice(4), ["q", "reply-requested", job]);
    run.child.kill("SIGTERM");
    await broker.take("KBYE", "KBYE on SIGTERM");
    t.equal((await run.done).code, 0, "exit 0");
    const file = JSON.parse(readFileSync(join(dir, "schedules.json"), "utf8")) as { schedules: unknown[] };
    t.equal(file.schedules.length, 1, "the schedule is kept for the next start");
  });
}
