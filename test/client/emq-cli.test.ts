// The `emq` admin CLI as users run it: the built dist/cli/emq.js in a child process (npm test
// builds dist first), against a fake admin socket in this process, and against a closed port.

import { spawn } from "node:child_process";
import { existsSync } from "node:fs";
import { fileURLToPath } from "node:url";
import t from "tap";
import { closedPort, scope, within } from "../socket/fake-peer.js";
import { FakeBroker } from "./fake-broker.js";

const CLI = fileURLToPath(new URL("../../dist/cli/emq.js", import.meta.url));

interface Run {
  code: number | null;
  stdout: string;
  stderr: string;
}

/** Runs the CLI without blocking this process's event loop (the fake broker lives in it). */
function emq(args: string[], env: Record<string, string> = {}): Promise<Run> {
  const child = spawn(process.execPath, [CLI, ...args], {
    env: { PATH: process.env.PATH ?? "", ...env },
    stdio: ["ignore", "pipe", "pipe"],
  });
  let stdout = "";
  let stderr = "";
  child.stdout.setEncoding("utf8").on("data", (d: string) => (stdout += d));
  child.stderr.setEncoding("utf8").on("data", (d: string) => (stderr += d));
  return within(
    new Promise<Run>((resolve) => child.on("close", (code) => resolve({ code, stdout, stderr }))),
    15_000,
    `emq ${args.join(" ")}`,
  ).finally(() => child.kill());
}

/** Answers the next admin command the way `shape` says; returns the command name. */
async function answer(broker: FakeBroker, body: unknown, shape: "ours" | "eventmq" = "ours"): Promise<string> {
  const m = await broker.next(10_000);
  const msgid = m.frames[3]!;
  if (m.frames[2] === "DISCONNECT") await broker.send(m.id, "ACK", msgid);
  else if (shape === "ours") await broker.reply(m.id, JSON.stringify(body), msgid);
  else await broker.reply(m.id, JSON.stringify(body));
  return m.frames[2]!;
}

const STATUS = {
  inflight_messages_by_queue: { default: 2 },
  latency_messages_by_queue: { default: 15 },
  max_latency_messages_by_queue: { default: 40 },
  waiting_messages_by_queue: { default: 7, mail: 1 },
  processed_messages_by_queue: { default: 1234 },
  processed_messages_by_worker: { "3f1e-w": 1234 },
};

if (!existsSync(CLI)) {
  t.fail(`${CLI} is missing: build first (npm test does, or npm run build)`);
} else {
  t.test("--help lists the subcommands; usage errors exit 2", async (t) => {
    const help = await emq(["--help"]);
    t.equal(help.code, 0);
    for (const sub of ["status", "workers", "schedulers", "shutdown"]) t.match(help.stdout, new RegExp(`^  ${sub}\\s`, "m"), `lists ${sub}`);
    t.match(help.stdout, /--address ADDR/);
    t.match(help.stdout, /EMQ_ADMIN, EVENTMQ_ADMINISTRATIVE_ADDR/);
    t.match(help.stdout, /--timeout MS/);
    t.match(help.stdout, /--json/);

    const bad = await emq(["frobnicate"]);
    t.equal(bad.code, 2, "unknown subcommand: exit 2");
    t.match(bad.stderr, /^emq: unknown subcommand "frobnicate"/);
    t.equal(bad.stdout, "");
    const none = await emq([]);
    t.equal(none.code, 2, "no subcommand: exit 2");
    t.match(none.stderr, /missing subcommand/);
    const opt = await emq(["status", "--timeout", "soon"]);
    t.equal(opt.code, 2, "bad option value: exit 2");
    const addr = await emq(["status", "--address", "carrier-pigeon://x"]);
    t.equal(addr.code, 2, "bad address: exit 2");
    t.match(addr.stderr, /--address/);
  });

  t.test("status --json and text against a fake admin socket", async (t) => {
    const s = scope(t);
    const broker = await FakeBroker.start(s);

    const run = emq(["status", "--json", "--address", broker.address]);
    t.equal(await answer(broker, STATUS), "STATUS");
    const r = await run;
    t.equal(r.code, 0, "exit 0");
    t.same(JSON.parse(r.stdout), STATUS, "the broker's JSON");
    t.equal(r.stderr, "");

    // Text by default; the address from EMQ_ADMIN; EventMQ's answer shape.
    const run2 = emq(["status"], { EMQ_ADMIN: broker.address });
    await answer(broker, STATUS, "eventmq");
    const r2 = await run2;
    t.equal(r2.code, 0);
    t.match(r2.stdout, /^QUEUE\s+WAITING\s+IN FLIGHT\s+PROCESSED\s+LATENCY MS\s+MAX LATENCY MS$/m);
    t.match(r2.stdout, /^default\s+7\s+2\s+1234\s+15\s+40$/m);
    t.match(r2.stdout, /^mail\s+1\s+-\s+-\s+-\s+-$/m);
    t.match(r2.stdout, /^3f1e-w\s+1234$/m);

    // EventMQ's own variable, and its command names.
    const run3 = emq(["show_workers"], { EVENTMQ_ADMINISTRATIVE_ADDR: broker.address });
    t.equal(await answer(broker, { connected_workers: { "w-9": { queues: [[10, "default"], [5, "mail"]], hb: 1.5, available_slots: 4 } }, connected_queues: { default: [[10, "w-9"]] } }), "ROUTER_SHOW_WORKERS");
    const r3 = await run3;
    t.equal(r3.code, 0);
    t.match(r3.stdout, /^1 worker connected$/m);
    t.match(r3.stdout, /^w-9\s+4\s+default \(10\), mail \(5\)$/m);

    const run4 = emq(["schedulers", "--address", broker.address]);
    t.equal(await answer(broker, { connected_schedulers: {} }), "ROUTER_SHOW_SCHEDULERS");
    const r4 = await run4;
    t.equal(r4.stdout, "0 schedulers connected\n");

    const run5 = emq(["shutdown", "--address", broker.address]);
    t.equal(await answer(broker, null), "DISCONNECT");
    const r5 = await run5;
    t.equal(r5.code, 0);
    t.match(r5.stdout, /is shutting down/);
  });

  t.test("no broker: exit 1 with one clear line", async (t) => {
    const port = await closedPort();
    const started = Date.now();
    const r = await emq(["status", "--address", `tcp://127.0.0.1:${port}`, "--timeout", "300"]);
    t.equal(r.code, 1, "exit 1");
    t.equal(r.stdout, "");
    t.equal(r.stderr.trimEnd().split("\n").length, 1, "one line");
    t.match(r.stderr, new RegExp(`^emq: no answer to STATUS from the broker at tcp://127\\.0\\.0\\.1:${port} within 300 ms \\(could not connect\\) \\(ETIMEDOUT\\)\\n$`));
    t.ok(Date.now() - started < 10_000, "exits soon after the timeout");

    // A broker that accepts but never answers.
    const s = scope(t);
    const mute = await FakeBroker.start(s);
    const r2 = await emq(["workers", "--address", mute.address, "--timeout", "300"]);
    t.equal(r2.code, 1);
    t.match(r2.stderr, /^emq: no answer to ROUTER_SHOW_WORKERS from the broker at .* within 300 ms \(ETIMEDOUT\)\n$/);
  });
}
