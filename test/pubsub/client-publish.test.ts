// Client.publish(): the job client also publishes, through the pub/sub forwarder.

import t from "tap";
import { Client, EventSubscriber, PubSub, silentLogger } from "../../src/index.js";

t.test("Client.publish reaches subscribers through the forwarder", async (t) => {
  const pubsub = new PubSub({ incoming: "tcp://127.0.0.1:0", outgoing: "tcp://127.0.0.1:0", logger: silentLogger });
  await pubsub.start();
  t.teardown(() => pubsub.stop());
  const sub = new EventSubscriber({ address: pubsub.endpoints.outgoing!, topics: ["alerts"] });
  t.teardown(() => sub.close());
  const client = new Client({ address: "tcp://127.0.0.1:1", pubsubAddress: pubsub.endpoints.incoming!, logger: silentLogger });
  t.teardown(() => client.close());
  const timer = setInterval(() => void client.publish("alerts.disk", { used: 0.93 }), 50);
  const got = await Promise.race([sub.receive(), new Promise<never>((_, rej) => setTimeout(() => rej(new Error("nothing arrived")), 5000))]).finally(() => clearInterval(timer));
  t.equal(got.topicText, "alerts.disk");
  t.equal(got.text(), '{"used": 0.93}', "JSON as EventMQ writes it");
  client.close();
  await t.rejects(client.publish("x", "y"), { code: "ECLOSED" });
});
