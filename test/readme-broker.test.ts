// The README's job-broker quick start, run exactly as written: its `sh` blocks in order (the broker
// and the worker keep running, the last one must finish), with the files its `js` blocks name in
// their first line (`// handlers.mjs ...`) saved under those names in the package root, and the
// output the `// ->` comments announce. It uses EventMQ's default ports (47290, 47291, 47293), as
// the README does; if one is taken, the test fails saying which.

import t from "tap";
import { spawn, type ChildProcess } from "node:child_process";
import { existsSync, readFileSync, rmSync, writeFileSync } from "node:fs";
import * as net from "node:net";
import { join } from "node:path";
import { fileURLToPath } from "node:url";

const root = fileURLToPath(new URL("../", import.meta.url));
const readme = readFileSync(join(root, "README.md"), "utf8");
const start = readme.indexOf("## Job broker");
const section = readme.slice(start, readme.indexOf("\n## ", start + 1));

const blocks = [...section.matchAll(/^```(sh|js)\n([\s\S]*?)^```$/gm)].map((m) => ({ lang: m[1]!, code: m[2]! }));
const files = blocks.filter((b) => b.lang === "js" && /^\/\/ [\w.-]+\.mjs/.test(b.code)).map((b) => ({ name: /^\/\/ ([\w.-]+\.mjs)/.exec(b.code)![1]!, code: b.code }));
const commands = blocks.filter((b) => b.lang === "sh").map((b) => b.code.trim());

/** Signals a child's whole process group (npx does not pass signals on to the CLI it runs). */
function signalGroup(c: ChildProcess, sig: NodeJS.Signals): void {
  try {
    process.kill(-c.pid!, sig);
  } catch {
    // already gone
  }
}

function portFree(port: number): Promise<boolean> {
  return new Promise((resolve) => {
    const srv = net.createServer();
    srv.once("error", () => resolve(false));
    srv.listen(port, "127.0.0.1", () => srv.close(() => resolve(true)));
  });
}

function waitForOutput(child: ChildProcess, pattern: RegExp, what: string, ms = 30_000): Promise<string> {
  return new Promise((resolve, reject) => {
    let seen = "";
    const timer = setTimeout(() => reject(new Error(`timed out waiting for ${what}; output so far:\n${seen}`)), ms);
    const onData = (d: Buffer) => {
      seen += d.toString();
      if (pattern.test(seen)) {
        clearTimeout(timer);
        resolve(seen);
      }
    };
    child.stdout?.on("data", onData);
    child.stderr?.on("data", onData);
    child.on("exit", (code) => {
      clearTimeout(timer);
      if (!pattern.test(seen)) reject(new Error(`${what}: exited with ${code} first; output:\n${seen}`));
    });
  });
}

t.test("the README's quick start has its three steps and two files", async (t) => {
  t.same(files.map((f) => f.name), ["handlers.mjs", "submit.mjs"]);
  t.equal(commands.length, 3);
  t.match(commands[0], /npx emq-broker$/);
  t.equal(commands[1], "npx emq-worker --handlers handlers.mjs");
  t.equal(commands[2], "node submit.mjs");
});

t.test("the README's quick start runs as written", async (t) => {
  for (const port of [47290, 47291, 47293]) {
    if (!(await portFree(port))) return t.fail(`port ${port} on 127.0.0.1 is in use: the quick start needs EventMQ's default ports free`);
  }
  for (const f of files) {
    if (existsSync(join(root, f.name))) return t.fail(`${f.name} already exists in the package root; not overwriting it`);
  }
  for (const f of files) writeFileSync(join(root, f.name), f.code);
  const children: ChildProcess[] = [];
  t.teardown(() => {
    for (const c of children) if (c.exitCode === null) signalGroup(c, "SIGKILL");
    for (const f of files) rmSync(join(root, f.name), { force: true });
  });
  const env = { ...process.env, NO_UPDATE_NOTIFIER: "1" };
  // The first step also runs `npm ci`, which CI has done already: run what follows the &&.
  const brokerCmd = commands[0]!.replace(/^npm ci && /, "");
  const run = (cmd: string) => {
    // Its own process group, so a signal reaches npx and the CLI under it, as Ctrl-C does.
    const c = spawn("sh", ["-c", `exec ${cmd}`], { cwd: root, env, detached: true });
    children.push(c);
    return c;
  };
  const broker = run(brokerCmd);
  await waitForOutput(broker, /emq-broker listening/, "the broker to listen");
  const worker = run(commands[1]!);
  await waitForOutput(worker, /registered|ACK|ready/i, "the worker to register");
  const submit = run(commands[2]!);
  let out = "";
  submit.stdout!.on("data", (d: Buffer) => (out += d.toString()));
  let err = "";
  submit.stderr!.on("data", (d: Buffer) => (err += d.toString()));
  const code = await new Promise<number | null>((resolve) => submit.on("exit", resolve));
  t.equal(code, 0, `node submit.mjs exits 0 ${err}`);
  const expected = [...files[1]!.code.matchAll(/\/\/ -> (.*)$/gm)].map((m) => m[1]!.trim());
  t.same(out.trim().split("\n"), expected, "it prints what the README says");
  // Ctrl-C on each (the whole process group, as a terminal sends it): both stop cleanly. npx
  // itself dies of the signal, so the CLIs' own last log lines are what tell.
  const stopped = (c: ChildProcess, what: string) => waitForOutput(c, /stopped/, what, 10_000);
  const brokerDone = stopped(broker, "the broker to stop");
  const workerDone = stopped(worker, "the worker to stop");
  signalGroup(worker, "SIGTERM");
  t.match(await workerDone, /sent KBYE/, "the worker said KBYE and stopped");
  signalGroup(broker, "SIGINT");
  t.match(await brokerDone, /draining[\s\S]*stopped/, "the broker drained and stopped");
});
