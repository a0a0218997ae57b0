// The emq-pubsub CLI as a user runs it: --help, --version, usage errors (exit 2), a taken port
// (exit 1, one line), EMQ_PUBSUB_* and EventMQ's EVENTMQ_PUBLISHER_* variables, and a run that
// forwards a publisher's events to a subscriber, logs a garbage message, and stops on SIGTERM.

import t from "tap";
import { spawn, spawnSync, type ChildProcess } from "node:child_process";
import * as net from "node:net";
import { fileURLToPath } from "node:url";
import { EventPublisher } from "../../src/pubsub/index.js";
import { Dealer } from "../../src/index.js";
import { within } from "../socket/fake-peer.js";
import { Collector, sync } from "./helpers.js";
import type { PubSub } from "../../src/pubsub/index.js";

const CLI = fileURLToPath(new URL("../../dist/cli/emq-pubsub.js", import.meta.url));
const LOCAL = { EMQ_PUBSUB_IN: "tcp://127.0.0.1:0", EMQ_PUBSUB_OUT: "tcp://127.0.0.1:0" };

const run = (args: string[], env: Record<string, string> = {}) =>
  spawnSync(process.execPath, [CLI, ...args], { encoding: "utf8", timeout: 20_000, env: { ...process.env, ...env } });

function start(args: string[], env: Record<string, string> = {}): { child: ChildProcess; out: () => string; err: () => string; exit: Promise<number | null> } {
  const child = spawn(process.execPath, [CLI, ...args], { env: { ...process.env, ...env } });
  let out = "";
  let err = "";
  child.stdout!.on("data", (d: Buffer) => (out += d.toString()));
  child.stderr!.on("data", (d: Buffer) => (err += d.toString()));
  const exit = new Promise<number | null>((r) => child.once("exit", (code) => r(code)));
  return { child, out: () => out, err: () => err, exit };
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

const LISTENING = /incoming (tcp:\/\/127\.0\.0\.1:\d+) .*outgoing (tcp:\/\/127\.0\.0\.1:\d+)/;

t.test("--help, --version and usage errors", async (t) => {
  const help = run(["--help"]);
  t.equal(help.status, 0);
  for (const s of ["--incoming", "--outgoing", "--hwm", "--log-level", "--log-format", "EMQ_PUBSUB_IN", "EMQ_PUBSUB_OUT", "EVENTMQ_PUBLISHER_INCOMING_ADDR", "EVENTMQ_PUBLISHER_OUTGOING_ADDR", "47298", "47299"]) {
    t.match(help.stdout, s, `--help mentions ${s}`);
  }
  const version = run(["--version"]);
  t.equal(version.status, 0);
  t.match(version.stdout, /^emq-pubsub \d+\.\d+\.\d+/);
  for (const [args, re] of [
    [["--bogus"], /unknown option --bogus/],
    [["--hwm", "0"], /--hwm must be an integer >= 1/],
    [["--hwm", "many"], /expected a number/],
    [["--log-format", "xml"], /--log-format must be text or json/],
    [["--incoming"], /needs a value/],
  ] as const) {
    const r = run([...args], LOCAL);
    t.equal(r.status, 2, `${args.join(" ")}: exit 2`);
    t.match(r.stderr, re);
    t.match(r.stderr, /Try 'emq-pubsub --help'/);
  }
});

t.test("a taken port: exit 1 with one clear line", async (t) => {
  const srv = net.createServer();
  await new Promise<void>((r) => srv.listen(0, "127.0.0.1", r));
  t.teardown(() => srv.close());
  const port = (srv.address() as net.AddressInfo).port;
  const r = run([], { ...LOCAL, EMQ_PUBSUB_OUT: `tcp://127.0.0.1:${port}` });
  t.equal(r.status, 1);
  t.match(r.stderr, /emq-pubsub: .*(in use|EADDRINUSE)/i);
  t.equal(r.stderr.trim().split("\n").length, 1, "one line");
});

for (const [label, env, signal] of [
  ["EMQ_PUBSUB_IN/OUT", LOCAL, "SIGTERM"],
  ["EventMQ's EVENTMQ_PUBLISHER_*_ADDR", { EVENTMQ_PUBLISHER_INCOMING_ADDR: "tcp://127.0.0.1:0", EVENTMQ_PUBLISHER_OUTGOING_ADDR: "tcp://127.0.0.1:0" }, "SIGINT"],
] as const) {
  t.test(`${label}: forwards, logs garbage in JSON, stops on ${signal}`, async (t) => {
    const p = start(["--log-format", "json"], env);
    t.teardown(() => void p.child.kill("SIGKILL"));
    const m = await waitFor(p.out, LISTENING, "the listening line");
    const [incoming, outgoing] = [m[1]!, m[2]!];
    t.notMatch(incoming, /:0$/, "the real ports are printed");
    // Collector and sync only need the endpoints.
    const fake = { endpoints: { incoming, outgoing } } as unknown as PubSub;
    const pub = new EventPublisher({ address: incoming, linger: 0 });
    t.teardown(() => pub.close());
    const c = new Collector(t, fake, ["job."]);
    await sync(pub, [c]);
    await pub.publish("job.done", { id: 7 });
    await pub.publish("other", "x");
    await sync(pub, [c]);
    t.same(c.real().map(([tp, msg]) => [Buffer.from(tp, "hex").toString(), Buffer.from(msg, "hex").toString()]), [["job.done", '{"id": 7}']]);
    const garbage = new Dealer({ linger: 0 });
    t.teardown(() => garbage.close());
    garbage.connect(incoming);
    await garbage.send([Buffer.alloc(0), Buffer.from("eMQP/1.0"), Buffer.from("PUBLISH"), Buffer.from("m")]);
    const w = await waitFor(p.err, /^\{.*"level":"warn".*\}$/m, "the warning line");
    const line = JSON.parse(w[0]) as Record<string, unknown>;
    t.equal(line.reason, "too-few-frames");
    t.equal(line.component, "pubsub");
    const t0 = Date.now();
    p.child.kill(signal);
    t.equal(await within(p.exit, 5000, `exit after ${signal}`), 0, "exit 0");
    t.comment(`exited ${Date.now() - t0} ms after ${signal}, with a subscriber and publishers still connected`);
    t.match(p.err(), /"msg":"signal: stopping"/, "the stop is logged");
  });
}
