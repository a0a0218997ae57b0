// The queue API with libzmq as the client (pyzmq REQ and DEALER sockets, test/interop/queue_api_peer.py):
// JSON requests over REQ (envelope with the empty delimiter), 50 pipelined requests over DEALER
// answered in order, a msgpack request and reply passed through as bytes, and garbage answered with
// a 400 on a connection that keeps working.

import t from "tap";
import { Buffer } from "node:buffer";
import { spawn } from "node:child_process";
import { fileURLToPath } from "node:url";
import { QueueServer } from "../../src/queue-api/index.js";
import { decodeFrame, encodeValue } from "../../src/queue-api/codec.js";
import { silentLogger } from "../../src/log/logger.js";
import { PYTHON, requirePyzmq } from "./peer.js";

const SCRIPT = fileURLToPath(new URL("./queue_api_peer.py", import.meta.url));
const skip = requirePyzmq(t);

type Reply = { status: number; headers: Record<string, string>; body: any };

function runPeer(args: string[]): Promise<{ code: number | null; steps: Map<string, any>; stderr: string }> {
  return new Promise((resolve, reject) => {
    const c = spawn(PYTHON, [SCRIPT, ...args], { stdio: ["ignore", "pipe", "pipe"] });
    let out = "";
    let err = "";
    const timer = setTimeout(() => {
      c.kill("SIGKILL");
      reject(new Error(`the Python peer did not finish in 30 s:\n${out}\n${err}`));
    }, 30_000);
    c.stdout.on("data", (d: Buffer) => (out += d.toString()));
    c.stderr.on("data", (d: Buffer) => (err += d.toString()));
    c.on("exit", (code) => {
      clearTimeout(timer);
      const steps = new Map<string, any>();
      for (const line of out.split("\n").filter(Boolean)) {
        const { step, value } = JSON.parse(line) as { step: string; value: unknown };
        steps.set(step, value);
      }
      resolve({ code, steps, stderr: err });
    });
  });
}

t.test("a libzmq client speaks the queue API", { skip }, async (t) => {
  const server = new QueueServer({ endpoint: "tcp://127.0.0.1:0", logger: silentLogger });
  await server.start();
  t.teardown(() => server.stop());
  const request = encodeValue(
    {
      href: "/v1/queues/jobs/messages?echo=true&include_claimed=true&limit=20",
      action: "GET",
      headers: { "Client-ID": "3381af92-2b9e-11e3-b191-71861300734c", "X-Project-ID": "interop", "X-Request-ID": "mp" },
    },
    "msgpack",
  );
  const { code, steps, stderr } = await runPeer([server.endpoint, Buffer.from(request).toString("hex")]);
  t.equal(code, 0, `the peer finished ${stderr}`);

  const put = steps.get("req PUT /v1/queues/jobs") as Reply;
  t.equal(put.status, 201);
  t.equal(put.headers.Location, "/v1/queues/jobs");
  t.equal(put.headers["Content-Type"], "application/json");
  const post = steps.get("req POST /v1/queues/jobs/messages") as Reply;
  t.equal(post.status, 201);
  t.equal(post.body.resources.length, 3);
  const claim = steps.get("req POST /v1/queues/jobs/claims?limit=2") as Reply;
  t.equal(claim.status, 201);
  t.same(claim.body.map((m: { body: unknown }) => m.body), [{ n: 0 }, { n: 1 }], "the two oldest are claimed");
  t.match(claim.body[0].href, /\?claim_id=/);
  const stats = steps.get("req GET /v1/queues/jobs/stats") as Reply;
  t.same([stats.body.messages.claimed, stats.body.messages.free, stats.body.messages.total], [2, 1, 3]);

  t.same(steps.get("dealer order"), Array.from({ length: 50 }, (_, i) => `r${i}`), "50 pipelined replies in request order");

  const mp = decodeFrame(Buffer.from(steps.get("msgpack") as string, "hex"));
  t.equal(mp.format, "msgpack", "a msgpack request gets a msgpack reply");
  const listed = mp.value as Reply;
  t.equal(listed.status, 200);
  t.equal(listed.headers["X-Request-ID"], "mp");
  t.equal(listed.body.messages.length, 20, "a full page of 20");
  t.same(listed.body.messages.slice(0, 3).map((m: { body: unknown }) => m.body), [{ n: 0 }, { n: 1 }, { n: 2 }]);

  const garbage = decodeFrame(Buffer.from(steps.get("garbage") as string, "hex")).value as Reply;
  t.equal(garbage.status, 400, "garbage gets a 400");
  t.type(garbage.body.title, "string");
  t.type(garbage.body.description, "string");
  t.equal((steps.get("after garbage") as Reply).status, 204, "and the connection still works");
  t.equal(server.store.counters.messages, 53, "3 + 50 messages held");
});
