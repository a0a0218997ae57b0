// The emq-broker CLI as a user runs it: --help, --version, usage errors (exit 2), EventMQ's
// environment variable names, JSON log lines, a taken port (exit 1, one clear line), and a
// graceful stop on SIGTERM that still finishes a buffered job.

import t from "tap";
import { spawn, spawnSync, type ChildProcess } from "node:child_process";
import * as net from "node:net";
import { fileURLToPath } from "node:url";
import { JOB, Peer, worker } from "./peers.js";

const CLI = fileURLToPath(new URL("../../dist/cli/emq-broker.js", import.meta.url));
const LOCAL = { EMQ_FRONTEND: "tcp://127.0.0.1:0", EMQ_BACKEND: "tcp://127.0.0.1:0", EMQ_ADMIN: "off", EMQ_QUEUE_API: "tcp://127.0.0.1:0" };

const run = (args: string[], env: Record<string, string> = {}) =>
  spawnSync(process.execPath, [CLI, ...args], { encoding: "utf8", timeout: 20_000, env: { ...process.env, ...env } });

function start(args: string[], env: Record<string, string> = {}): { child: ChildProcess; out: () => string; err: () => string } {
  const child = spawn(process.execPath, [CLI, ...args], { env: { ...process.env, ...env } });
  let out = "";
  let err = "";
  child.stdout!.on("data", (d: Buffer) => (out += d.toString()));
  child.stderr!.on("data", (d: Buffer) => (err += d.toString()));
  return { child, out: () => out, err: () => err };
}

async function waitFor(get: () => string, re: RegExp, what: string, ms = 10_000): Promise<RegExpExecArray> {
  const end = Date.now() + ms;
  for (;;) {
    const m = re.exec(get());
    if (m) return m;
    if (Date.now() > end) throw new Error(`timed out waiting for ${what}; got:\n${get()}`);
    await new Promise((r) => setTimeout(r, 20));
  }
}

t.test("--help, --version and usage errors", async (t) => {
  const help = run(["--help"]);
  t.equal(help.status, 0);
  for (const opt of ["--frontend", "--backend", "--admin", "--queues", "--max-buffered", "--heartbeat-interval", "--drain-timeout", "--log-level", "EVENTMQ_FRONTEND_ADDR"]) {
    t.match(help.stdout, opt, `--help mentions ${opt}`);
  }
  const version = run(["--version"]);
  t.equal(version.status, 0);
  t.match(version.stdout, /^emq-broker \d+\.\d+\.\d+/);
  for (const [args, re] of [
    [["--bogus"], /unknown option --bogus/],
    [["--max-buffered", "lots"], /expected a number/],
    [["--max-buffered", "0"], /--max-buffered must be an integer >= 1/],
    [["--queues", "[[1]]"], /--queues/],
    [["--log-level", "loud"], /--log-level must be one of/],
    [["--frontend"], /needs a value/],
  ] as const) {
    const r = run([...args], LOCAL);
    t.equal(r.status, 2, `${args.join(" ")}: exit 2`);
    t.match(r.stderr, re);
    t.match(r.stderr, /Try 'emq-broker --help'/);
  }
});

t.test("a taken port: exit 1 with one clear line", async (t) => {
  const srv = net.createServer();
  await new Promise<void>((r) => srv.listen(0, "127.0.0.1", r));
  t.teardown(() => srv.close());
  const port = (srv.address() as net.AddressInfo).port;
  const r = run([], { ...LOCAL, EMQ_FRONTEND: `tcp://127.0.0.1:${port}` });
  t.equal(r.status, 1);
  t.match(r.stderr, /emq-broker: .*(in use|EADDRINUSE)/i);
  t.equal(r.stderr.trim().split("\n").length, 1, "one line");
});

t.test("EventMQ's variable names, JSON logs, and SIGTERM draining a buffered job", async (t) => {
  const b = start(["--log-format", "json", "--log-level", "info"], {
    EVENTMQ_FRONTEND_ADDR: "tcp://127.0.0.1:0",
    EVENTMQ_BACKEND_ADDR: "tcp://127.0.0.1:0",
    EVENTMQ_ADMINISTRATIVE_ADDR: "tcp://127.0.0.1:0",
    EMQ_QUEUE_API: "off",
  });
  t.teardown(() => void b.child.kill("SIGKILL"));
  const m = await waitFor(b.out, /frontend (tcp:\/\/127\.0\.0\.1:\d+) .*backend (tcp:\/\/127\.0\.0\.1:\d+) .*admin (tcp:\/\/127\.0\.0\.1:\d+)/, "the listening line");
  const [frontend, backend] = [m[1]!, m[2]!];
  t.notMatch(frontend, /:0$/, "the real port is printed");
  const lines = b.err().trim().split("\n");
  for (const l of lines) t.doesNotThrow(() => JSON.parse(l), `a JSON log line: ${l.slice(0, 60)}`);
  t.match(JSON.parse(lines[0]!), { level: "info", component: "broker", msg: "listening" });
  const c = new Peer(frontend);
  t.teardown(() => c.close());
  const id = await c.send("REQUEST", "default", "reply-requested", JOB());
  await c.next((x) => x.command === "REPLY" && x.body.length === 1, "the receipt");
  b.child.kill("SIGTERM");
  await waitFor(b.err, /"msg":"draining"/, "the drain to start");
  const refused = await c.send("REQUEST", "default", "reply-requested", JOB());
  const no = await c.next((x) => x.command === "REPLY" && x.body[0] === refused, "the refusal");
  t.match(JSON.parse(no.body[1]!), { error: { code: "ESHUTDOWN" } });
  const w = await worker(backend, "", 1);
  t.teardown(() => w.close());
  const req = await w.nextCommand("REQUEST");
  t.equal(req.msgid, id, "the buffered job still goes to a worker while draining");
  await w.send("REPLY", '{"value": "last"}', id);
  const res = await c.next((x) => x.command === "REPLY" && x.body[0] === id && x.body.length === 2, "the result");
  t.same(JSON.parse(res.body[1]!), { value: "last" });
  await w.nextCommand("KBYE");
  const code = await new Promise((r) => b.child.on("exit", r));
  t.equal(code, 0, "exit 0 after the drain");
});

t.test("--pubsub hosts the pub/sub forwarder in the broker process", async (t) => {
  const { EventPublisher, EventSubscriber } = await import("../../src/pubsub/index.js");
  const b = start(["--pubsub", "--pubsub-incoming", "tcp://127.0.0.1:0", "--pubsub-outgoing", "tcp://127.0.0.1:0"], LOCAL);
  t.teardown(() => void b.child.kill("SIGKILL"));
  const m = await waitFor(b.out, /pubsub in (tcp:\/\/127\.0\.0\.1:\d+) out (tcp:\/\/127\.0\.0\.1:\d+)/, "the pubsub endpoints");
  const sub = new EventSubscriber({ address: m[2]!, topics: ["news"] });
  t.teardown(() => sub.close());
  const pub = new EventPublisher({ address: m[1]! });
  t.teardown(() => pub.close());
  // A SUB only gets what is published after its subscription reached the PUB: publish until it arrives.
  const got = sub.receive();
  let n = 0;
  const timer = setInterval(() => void pub.publish("news.sport", { n: ++n }), 50);
  const ev = await Promise.race([got, new Promise<never>((_, rej) => setTimeout(() => rej(new Error("nothing arrived")), 5000))]).finally(() => clearInterval(timer));
  t.equal(ev.topicText, "news.sport");
  t.type((ev.json() as { n: number }).n, "number");
  b.child.kill("SIGTERM");
  t.equal(await new Promise((r) => b.child.on("exit", r)), 0);
});
