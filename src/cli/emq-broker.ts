#!/usr/bin/env node
// emq-broker: the eMQP broker. With no arguments it listens on EventMQ's loopback defaults
// (frontend 47291 for clients and schedulers, backend 47290 for workers, admin 47293).

import { Broker } from "../broker/broker.js";
import { PubSub } from "../pubsub/index.js";
import { DEFAULT_QUEUE_API_ADDRESS, QueueServer, parseTokenList } from "../queue-api/index.js";
import { DEFAULT_ADDRESSES } from "../emqp/index.js";
import { CliError, type OptionSpec } from "./args.js";
import { parseQueuesOption } from "./queues.js";
import { LOG_OPTIONS, fail, loggerFrom, onStopSignal, parseCli } from "./run.js";

const OPTIONS: OptionSpec[] = [
  { name: "frontend", type: "string", description: "where clients and schedulers connect", env: ["EMQ_FRONTEND", "EVENTMQ_FRONTEND_ADDR"], default: DEFAULT_ADDRESSES.frontend, placeholder: "ADDR" },
  { name: "backend", type: "string", description: "where workers connect", env: ["EMQ_BACKEND", "EVENTMQ_BACKEND_ADDR"], default: DEFAULT_ADDRESSES.backend, placeholder: "ADDR" },
  { name: "admin", type: "string", description: 'where admin tools (emq status) connect; "off" disables it', env: ["EMQ_ADMIN", "EVENTMQ_ADMINISTRATIVE_ADDR"], default: DEFAULT_ADDRESSES.admin, placeholder: "ADDR" },
  { name: "queues", type: "string", description: 'queues for workers whose INFORM names none: [[10,"default"]] or name:weight,...', env: ["EMQ_QUEUES", "EVENTMQ_QUEUES"], default: "default:10", placeholder: "QUEUES" },
  { name: "max-buffered", type: "number", description: "jobs buffered per queue when no worker is free; more are refused with EQUEUEFULL", env: ["EMQ_MAX_BUFFERED", "EVENTMQ_HWM"], default: 10000, placeholder: "N" },
  { name: "heartbeat-interval", type: "number", description: "ms between HEARTBEATs to workers and schedulers", env: ["EMQ_HEARTBEAT_INTERVAL"], default: 3000, placeholder: "MS" },
  { name: "heartbeat-timeout", type: "number", description: "ms of silence after which a worker or scheduler is dropped", env: ["EMQ_HEARTBEAT_TIMEOUT"], default: 5000, placeholder: "MS" },
  { name: "drain-timeout", type: "number", description: "ms to finish held jobs on SIGTERM/SIGINT or DISCONNECT before stopping", env: ["EMQ_DRAIN_TIMEOUT"], default: 30000, placeholder: "MS" },
  { name: "pubsub", type: "boolean", description: "also host the pub/sub forwarder (what emq-pubsub runs) in this process", env: ["EMQ_PUBSUB"] },
  { name: "pubsub-incoming", type: "string", description: "with --pubsub: where publishers connect", env: ["EMQ_PUBSUB_IN", "EVENTMQ_PUBLISHER_INCOMING_ADDR"], default: DEFAULT_ADDRESSES.publisherIncoming, placeholder: "ADDR" },
  { name: "pubsub-outgoing", type: "string", description: "with --pubsub: where subscribers connect", env: ["EMQ_PUBSUB_OUT", "EVENTMQ_PUBLISHER_OUTGOING_ADDR"], default: DEFAULT_ADDRESSES.publisherOutgoing, placeholder: "ADDR" },
  { name: "queue-api", type: "string", description: 'where the Marconi-style queue API (QueueClient) connects; "off" disables it', env: ["EMQ_QUEUE_API"], default: DEFAULT_QUEUE_API_ADDRESS, placeholder: "ADDR" },
  { name: "data-dir", type: "string", description: "keep queue API messages durable in this directory (an append-only journal); default: in memory only", env: ["EMQ_DATA_DIR"], placeholder: "DIR" },
  { name: "fsync", type: "boolean", description: "with --data-dir: fsync each batch of journal writes (--no-fsync trusts the OS page cache: survives a process crash, not a power cut)", env: ["EMQ_FSYNC"], default: true },
  { name: "compact-bytes", type: "number", description: "with --data-dir: compact the journal once it is this big and mostly superseded records", env: ["EMQ_COMPACT_BYTES"], default: 64 * 1024 * 1024, placeholder: "N" },
  { name: "auth-tokens", type: "string", description: "queue API tokens accepted in X-Auth-Token, comma-separated (prefer the variable: arguments show in ps); none = the API is open to anyone who can connect", env: ["EMQ_AUTH_TOKENS"], placeholder: "TOKENS" },
  { name: "queue-max-messages", type: "number", description: "messages one queue may hold; posts beyond it get 503", env: ["EMQ_QUEUE_MAX_MESSAGES"], default: 1_000_000, placeholder: "N" },
  { name: "queue-max-bytes", type: "number", description: "bytes of message bodies held in all queues together; posts beyond it get 503", env: ["EMQ_QUEUE_MAX_BYTES"], default: 512 * 1024 * 1024, placeholder: "N" },
  { name: "queue-max-queues", type: "number", description: "queues in all projects together; creating more gets 503", env: ["EMQ_QUEUE_MAX_QUEUES"], default: 100_000, placeholder: "N" },
  ...LOG_OPTIONS,
];

const { values } = parseCli({
  name: "emq-broker",
  usage: "emq-broker [options]",
  summary: "Runs the eMQP job broker (wire-compatible with EventMQ's router) and the Marconi-style queue API.",
  options: OPTIONS,
  footer: "SIGINT/SIGTERM (or `emq shutdown`) stop taking jobs, finish the ones held, then exit; a second signal exits at once.",
});

async function main(): Promise<void> {
  const log = loggerFrom(values, "broker");
  const positive = (name: string, min = 1): number => {
    const n = values[name] as number;
    if (!Number.isInteger(n) || n < min) throw new CliError(`--${name} must be an integer >= ${min}`);
    return n;
  };
  const admin = String(values.admin);
  const broker = new Broker({
    frontend: String(values.frontend),
    backend: String(values.backend),
    admin: admin === "off" || admin === "none" ? "" : admin,
    defaultQueues: parseQueuesOption(String(values.queues)),
    maxBuffered: positive("max-buffered"),
    heartbeatInterval: positive("heartbeat-interval", 10),
    heartbeatTimeout: positive("heartbeat-timeout", 10),
    drainTimeout: positive("drain-timeout", 0),
    logger: log,
  });
  const queueApiAddress = String(values["queue-api"]);
  const queues =
    queueApiAddress === "off" || queueApiAddress === "none" || queueApiAddress === ""
      ? undefined
      : new QueueServer({
          endpoint: queueApiAddress,
          dataDir: values["data-dir"] === undefined ? undefined : String(values["data-dir"]),
          fsync: values.fsync !== false,
          compactBytes: positive("compact-bytes"),
          authTokens: values["auth-tokens"] === undefined ? undefined : parseTokenList(String(values["auth-tokens"])),
          maxMessagesPerQueue: positive("queue-max-messages"),
          maxTotalBytes: positive("queue-max-bytes"),
          maxQueues: positive("queue-max-queues"),
          logger: log.child("queue-api"),
        });
  // The queue API first: its journal (a lock held, a corrupt file) and its port are what most
  // often stops a start, and nothing else should have said "listening" by then.
  if (queues) {
    try {
      await queues.start();
    } catch (err) {
      if (err instanceof Error) err.message = `queue API: ${err.message}`;
      throw err;
    }
  }
  try {
    await broker.start();
  } catch (err) {
    await queues?.stop();
    throw err;
  }
  const e = broker.endpoints;
  let pubsub: PubSub | undefined;
  if (values.pubsub === true) {
    pubsub = new PubSub({ incoming: String(values["pubsub-incoming"]), outgoing: String(values["pubsub-outgoing"]), logger: log.child("pubsub") });
    try {
      await pubsub.start();
    } catch (err) {
      await broker.stop();
      await queues?.stop();
      throw err;
    }
  }
  if (queues && !queues.authenticated) {
    log.warn("queue API is open: no --auth-tokens configured, so anyone who can connect can read and write every queue", { address: queues.endpoint });
  }
  const p = pubsub?.endpoints;
  process.stdout.write(
    `emq-broker listening: frontend ${e.frontend} (clients, schedulers), backend ${e.backend} (workers), admin ${e.admin ?? "off"}` +
      (p ? `, pubsub in ${p.incoming} out ${p.outgoing}` : "") +
      (queues
        ? `, queue API ${queues.endpoint} (${queues.durable ? `durable in ${String(values["data-dir"])}` : "in memory"}, ${queues.authenticated ? "token auth" : "open: no auth tokens"})`
        : ", queue API off") +
      "\n",
  );
  onStopSignal((sig) => {
    log.info("signal: draining", { signal: sig });
    return broker.stop({ drain: true });
  }, log);
  await broker.stopped;
  await queues?.stop();
  await pubsub?.stop();
  // Not process.exit(): the last KBYEs are still being written. The closed sockets let the
  // process end by itself once they are out; this only bounds the wait.
  process.exitCode = 0;
  setTimeout(() => process.exit(0), 3000).unref();
}

main().catch((err) => fail("emq-broker", err));
