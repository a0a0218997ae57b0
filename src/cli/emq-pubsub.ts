#!/usr/bin/env node
// emq-pubsub: the eMQP pub/sub forwarder. With no arguments it listens on EventMQ's loopback
// defaults: publishers send PUBLISH to 47298, subscribers (SUB) connect to 47299.

import { DEFAULT_ADDRESSES } from "../emqp/index.js";
import { PubSub } from "../pubsub/forwarder.js";
import { CliError, type OptionSpec } from "./args.js";
import { LOG_OPTIONS, fail, loggerFrom, onStopSignal, parseCli } from "./run.js";

const OPTIONS: OptionSpec[] = [
  { name: "incoming", type: "string", description: "where publishers connect and send PUBLISH", env: ["EMQ_PUBSUB_IN", "EVENTMQ_PUBLISHER_INCOMING_ADDR"], default: DEFAULT_ADDRESSES.publisherIncoming, placeholder: "ADDR" },
  { name: "outgoing", type: "string", description: "where subscribers (SUB sockets) connect", env: ["EMQ_PUBSUB_OUT", "EVENTMQ_PUBLISHER_OUTGOING_ADDR"], default: DEFAULT_ADDRESSES.publisherOutgoing, placeholder: "ADDR" },
  { name: "hwm", type: "number", description: "messages queued per subscriber; a slower subscriber misses messages beyond it", env: ["EMQ_PUBSUB_HWM"], default: 1000, placeholder: "N" },
  ...LOG_OPTIONS,
];

const { values } = parseCli({
  name: "emq-pubsub",
  usage: "emq-pubsub [options]",
  summary: "Forwards eMQP PUBLISH messages to subscribers as [topic, message] (wire-compatible with EventMQ's emq-pubsub).",
  options: OPTIONS,
  footer: "SIGINT/SIGTERM stop it (messages already queued to subscribers get a second to go out); a second signal exits at once.",
});

async function main(): Promise<void> {
  const log = loggerFrom(values, "pubsub");
  const hwm = values.hwm as number;
  if (!Number.isInteger(hwm) || hwm < 1) throw new CliError("--hwm must be an integer >= 1");
  const pubsub = new PubSub({ incoming: String(values.incoming), outgoing: String(values.outgoing), sendHighWaterMark: hwm, logger: log });
  await pubsub.start();
  const e = pubsub.endpoints;
  process.stdout.write(`emq-pubsub listening: incoming ${e.incoming} (publishers), outgoing ${e.outgoing} (subscribers)\n`);
  onStopSignal((sig) => {
    log.info("signal: stopping", { signal: sig });
    return pubsub.stop();
  }, log);
  await pubsub.stopped;
  // Let lingering deliveries end the process by themselves; this only bounds the wait.
  process.exitCode = 0;
  setTimeout(() => process.exit(0), 2000).unref();
}

main().catch((err) => fail("emq-pubsub", err));
