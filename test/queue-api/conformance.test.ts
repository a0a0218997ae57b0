// Queue API conformance over real sockets: every case in conformance-cases.ts (the reference's
// §4.1-§4.4 ported to the envelope, plus wire, expiry, echo, project, limit, paging and FIFO
// cases) against a QueueServer on tcp://127.0.0.1:0, once with msgpack requests and replies and
// once with JSON requests and `Accept: application/json`. One server per mode, with an injected
// clock that the expiry cases move forward; each case uses fresh queue names.

import t from "tap";
import { QueueServer } from "../../src/queue-api/server.js";
import { CASES, MODES, Session, type Env } from "./conformance-cases.js";
import { Wire } from "./wire.js";

// A fixed, whole-second start so ages and `created` timestamps are exact.
const START = Date.UTC(2024, 0, 1, 0, 0, 0);

for (const mode of MODES) {
  t.test(`queue API conformance, ${mode.name} requests`, async (t) => {
    const clock = { now: START };
    const server = new QueueServer({ endpoint: "tcp://127.0.0.1:0", now: () => clock.now });
    await server.start();
    const env: Env = { mode, server, wire: Wire.open(server.endpoint), clock, replies: { checked: 0, wrong: [] }, extraWires: [] };
    t.teardown(async () => {
      env.wire.close();
      for (const w of env.extraWires) w.close();
      await server.stop();
    });
    for (const c of CASES) {
      await t.test(c.name, async (t) => {
        await c.run(new Session(t, env, c.global ? null : undefined));
      });
    }
    t.ok(env.replies.checked > 1000, `replies checked for their codec: ${env.replies.checked}`);
    t.strictSame(env.replies.wrong, [], `every reply was in the expected codec (${mode.name === "json" ? "JSON, first byte {, Content-Type application/json" : "msgpack"}, except where a case asked otherwise)`);
    t.equal(server.counters.unsent, 0, "the server sent every reply");
  });
}
