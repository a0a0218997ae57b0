// The queue API as emq-broker hosts it, from the command line (issue 6): --help lists its
// options, the start-up line says where it listens, how it stores and whether it checks tokens (an
// open API also logs a warning), EMQ_AUTH_TOKENS / --auth-tokens turn on token checks, `off`
// binds nothing, a taken port is one clear error line and exit 1, the capacity flags answer 503
// with Retry-After, and bad values for the new flags are usage errors (exit 2).

import t, { type Test } from "tap";
import { mkdtemp, readdir, readFile, readlink, rm } from "node:fs/promises";
import * as net from "node:net";
import * as os from "node:os";
import * as path from "node:path";
import { QueueClient } from "../../src/queue-api/client.js";
import { LOCAL, QUEUE_API_LINE, runCli, spawnBroker, startBroker, waitFor, type BrokerProcess } from "./broker-process.js";
import { within } from "../socket/fake-peer.js";

async function stop(t: Test, b: BrokerProcess): Promise<void> {
  b.child.kill("SIGTERM");
  t.equal(await within(b.exited, 10_000, "the broker to stop"), 0, "SIGTERM: exit 0");
}

/** The TCP ports a process listens on (Linux: its socket inodes matched against /proc/net/tcp*). */
async function listeningPorts(pid: number): Promise<number[]> {
  const inodes = new Set<string>();
  for (const fd of await readdir(`/proc/${pid}/fd`)) {
    const link = await readlink(`/proc/${pid}/fd/${fd}`).catch(() => "");
    const m = /^socket:\[(\d+)\]$/.exec(link);
    if (m) inodes.add(m[1]!);
  }
  const ports: number[] = [];
  for (const file of ["/proc/net/tcp", "/proc/net/tcp6"]) {
    const text = await readFile(file, "utf8").catch(() => "");
    for (const line of text.split("\n").slice(1)) {
      const cols = line.trim().split(/\s+/);
      // sl local_address rem_address st ... inode (column 10); st 0A = LISTEN
      if (cols.length > 9 && cols[3] === "0A" && inodes.has(cols[9]!)) ports.push(parseInt(cols[1]!.split(":")[1]!, 16));
    }
  }
  return ports.sort((a, b) => a - b);
}

const portOf = (address: string): number => Number(/:(\d+)$/.exec(address)![1]);
const LINE = /frontend (tcp:\/\/127\.0\.0\.1:\d+) .*backend (tcp:\/\/127\.0\.0\.1:\d+)/;

t.test("--help lists the queue API options", async (t) => {
  const help = runCli(["--help"]);
  t.equal(help.status, 0);
  for (const opt of [
    "--queue-api ADDR",
    "tcp://127.0.0.1:47295",
    "EMQ_QUEUE_API",
    "--data-dir DIR",
    "EMQ_DATA_DIR",
    "--fsync",
    "--no-fsync",
    "--compact-bytes",
    "--auth-tokens TOKENS",
    "EMQ_AUTH_TOKENS",
    "--queue-max-messages N",
    "--queue-max-bytes N",
    "--queue-max-queues N",
  ]) {
    t.match(help.stdout, opt, `--help mentions ${opt}`);
  }
});

t.test("bad values for the queue API flags are usage errors", async (t) => {
  for (const [args, re] of [
    [["--queue-max-messages", "0"], /--queue-max-messages must be an integer >= 1/],
    [["--queue-max-bytes", "lots"], /expected a number/],
    [["--queue-max-queues", "1.5"], /--queue-max-queues must be an integer >= 1/],
    [["--compact-bytes", "-1"], /--compact-bytes must be an integer >= 1/],
    [["--data-dir"], /needs a value/],
  ] as const) {
    const r = runCli([...args], LOCAL);
    t.equal(r.status, 2, `${args.join(" ")}: exit 2`);
    t.match(r.stderr, re, `${args.join(" ")}: says what is wrong`);
    t.match(r.stderr, /Try 'emq-broker --help'/);
    t.equal(r.stdout, "", "and never starts");
  }
});

t.test("default: in memory and open, with a warning; QueueClient works", async (t) => {
  const b = await startBroker([]);
  t.teardown(() => void b.child.kill("SIGKILL"));
  t.equal(b.mode, "in memory, open: no auth tokens", "the start-up line says in memory and open");
  t.match(b.out(), /^emq-broker listening: frontend .*, queue API tcp:\/\/127\.0\.0\.1:\d+ \(in memory, open: no auth tokens\)\n$/, "one start-up line");
  await waitFor(b, b.err, /WARN .*queue API is open: no --auth-tokens configured/, "the open-API warning");
  t.match(b.err(), new RegExp(`queue API is open.*address=${b.address.replace(/\./g, "\\.")}`), "the warning names the address");
  const c = new QueueClient({ address: b.address, timeout: 5000 });
  t.teardown(() => c.close());
  t.equal(await c.health(), true);
  t.equal(await c.createQueue("cli"), true);
  const [id] = await c.post("cli", { body: { hello: "cli" } });
  t.same((await c.get("cli", id!))?.body, { hello: "cli" }, "post and get through the CLI's queue API");
  const m = LINE.exec(b.out())!;
  if (process.platform === "linux") {
    t.same(await listeningPorts(b.child.pid!), [portOf(m[1]!), portOf(m[2]!), portOf(b.address)].sort((x, y) => x - y), "it listens on frontend, backend and queue API");
  } else {
    t.comment(`not on Linux (${process.platform}): cannot list the process's listening ports`);
  }
  c.close();
  await stop(t, b);
});

t.test("the open-API warning as a JSON log line", async (t) => {
  const b = await startBroker(["--log-format", "json"]);
  t.teardown(() => void b.child.kill("SIGKILL"));
  const m = await waitFor(b, b.err, /^.*queue API is open.*$/m, "the warning");
  t.match(JSON.parse(m[0]), { level: "warn", component: "broker", address: b.address }, "a JSON warning with the address");
  await stop(t, b);
});

t.test("EMQ_AUTH_TOKENS / --auth-tokens: token auth, 401 without the token", async (t) => {
  const dir = await mkdtemp(path.join(os.tmpdir(), "emq-cli-"));
  t.teardown(() => rm(dir, { recursive: true, force: true }));
  for (const [what, args, env, token] of [
    ["EMQ_AUTH_TOKENS (and EMQ_DATA_DIR)", [], { ...LOCAL, EMQ_AUTH_TOKENS: "alpha, beta", EMQ_DATA_DIR: dir }, "beta"],
    ["--auth-tokens", ["--auth-tokens", "gamma"], LOCAL, "gamma"],
  ] as const) {
    await t.test(what, async (t) => {
      const b = await startBroker([...args], env);
      t.teardown(() => void b.child.kill("SIGKILL"));
      const durable = "EMQ_DATA_DIR" in env;
      t.equal(b.mode, `${durable ? `durable in ${dir}` : "in memory"}, token auth`, `the start-up line says ${durable ? "durable and " : ""}token auth`);
      const anon = new QueueClient({ address: b.address, timeout: 5000 });
      t.teardown(() => anon.close());
      const r = await anon.request("PUT", "/v1/queues/secure");
      t.equal(r.status, 401, "no token: 401");
      t.match(r.body, { title: String, description: /X-Auth-Token/ }, "with a body that says what is needed");
      const wrong = new QueueClient({ address: b.address, authToken: "delta", timeout: 5000 });
      t.teardown(() => wrong.close());
      t.equal((await wrong.request("PUT", "/v1/queues/secure")).status, 401, "a wrong token: 401");
      const ok = new QueueClient({ address: b.address, authToken: token, timeout: 5000 });
      t.teardown(() => ok.close());
      t.equal(await ok.createQueue("secure"), true, "the right token: created");
      t.notMatch(b.err(), /queue API is open/, "no open-API warning");
      await stop(t, b);
    });
  }
});

t.test("--queue-api off / EMQ_QUEUE_API=off: no queue API, nothing bound for it", async (t) => {
  for (const [what, args, env] of [
    ["--queue-api off", ["--queue-api", "off"], LOCAL],
    ["EMQ_QUEUE_API=off", [], { ...LOCAL, EMQ_QUEUE_API: "off" }],
  ] as const) {
    await t.test(what, async (t) => {
      const b = spawnBroker([...args], env);
      t.teardown(() => void b.child.kill("SIGKILL"));
      const m = await waitFor(b, b.out, /emq-broker listening: .*\n/, "the start-up line");
      t.match(m[0], /, queue API off\n$/, "the start-up line says queue API off");
      t.notMatch(b.out(), QUEUE_API_LINE);
      t.notMatch(b.err(), /queue-api|queue API is open/, "no queue API log, no open-API warning");
      const l = LINE.exec(m[0])!;
      if (process.platform === "linux") {
        t.same(await listeningPorts(b.child.pid!), [portOf(l[1]!), portOf(l[2]!)].sort((x, y) => x - y), "it listens on frontend and backend only");
      } else {
        t.comment(`not on Linux (${process.platform}): cannot list the process's listening ports`);
      }
      await stop(t, b);
    });
  }
});

t.test("a taken queue API port: exit 1 with one clear line", async (t) => {
  const srv = net.createServer();
  await new Promise<void>((r) => srv.listen(0, "127.0.0.1", r));
  t.teardown(() => srv.close());
  const port = (srv.address() as net.AddressInfo).port;
  for (const level of ["info", "warn"]) {
    const r = runCli(["--log-level", level], { ...LOCAL, EMQ_QUEUE_API: `tcp://127.0.0.1:${port}` });
    t.equal(r.status, 1, `--log-level ${level}: exit 1`);
    const lines = r.stderr.trim().split("\n");
    const errors = lines.filter((l) => l.startsWith("emq-broker: "));
    t.equal(errors.length, 1, `--log-level ${level}: one error line`);
    t.match(errors[0], new RegExp(`^emq-broker: queue API: .*tcp://127\\.0\\.0\\.1:${port}.*(in use|EADDRINUSE)`), "it names the queue API, the address, and says it is in use");
    // The queue API starts first, so the job broker never logged that it listened.
    t.equal(lines.length, 1, `--log-level ${level}: it is the only line`);
    t.equal(r.stdout, "", "no start-up line: it never said it was listening");
  }
});

t.test("capacity flags: the limit answers 503 with Retry-After", async (t) => {
  const b = await startBroker(["--queue-max-messages", "3", "--queue-max-queues", "2", "--queue-max-bytes", "2000"]);
  t.teardown(() => void b.child.kill("SIGKILL"));
  const c = new QueueClient({ address: b.address, timeout: 5000 });
  t.teardown(() => c.close());
  t.equal(await c.createQueue("cap"), true);
  const ids: string[] = [];
  for (let i = 0; i < 3; i++) ids.push(...(await c.post("cap", { body: i })));
  const full = await c.request("POST", "/v1/queues/cap/messages", [{ ttl: 60, body: 3 }]);
  t.equal(full.status, 503, "the 4th post: 503");
  t.equal(full.headers["Retry-After"], "30", "with Retry-After");
  t.match(full.body, { title: "Service temporarily unavailable", description: /--queue-max-messages/ }, "the body names the flag");
  t.equal((await c.stats("cap")).total, 3, "nothing was added");
  await c.delete("cap", ids[0]!);
  const two = await c.request("POST", "/v1/queues/cap/messages", [{ ttl: 60, body: "a" }, { ttl: 60, body: "b" }]);
  t.equal(two.status, 503, "a batch of 2 with room for 1: 503, all or nothing");
  t.equal((await c.post("cap", { body: "fits" })).length, 1, "a single post fits again");

  t.equal(await c.createQueue("cap2"), true, "a second queue");
  const q3 = await c.request("PUT", "/v1/queues/cap3");
  t.equal(q3.status, 503, "a third queue: 503 (--queue-max-queues 2)");
  t.equal(q3.headers["Retry-After"], "30");
  t.match(q3.body, { description: /--queue-max-queues/ });
  t.equal(await c.queueExists("cap3"), false, "and it was not created");

  const big = await c.request("POST", "/v1/queues/cap2/messages", [{ ttl: 60, body: "x".repeat(2500) }]);
  t.equal(big.status, 503, "2500 bytes with --queue-max-bytes 2000: 503");
  t.equal(big.headers["Retry-After"], "30");
  t.match(big.body, { description: /--queue-max-bytes/ });
  t.equal((await c.post("cap2", { body: "small" })).length, 1, "a small post still fits");
  c.close();
  await stop(t, b);
});
