#!/usr/bin/env node
// emq-worker: an eMQP worker (EventMQ's jobmanager). It connects to a broker's backend, registers
// for its queues, and runs each job with a handler from the --handlers module. SIGINT/SIGTERM:
// KBYE to the broker, finish the running jobs, exit 0.

import { DEFAULT_ADDRESSES } from "../emqp/index.js";
import { DEFAULT_CONCURRENCY, DEFAULT_JOB_TIMEOUT, Worker } from "../worker/worker.js";
import { loadHandlers } from "../worker/load-handlers.js";
import { CliError, type OptionSpec } from "./args.js";
import { parseQueuesOption } from "./queues.js";
import { LOG_OPTIONS, fail, loggerFrom, onStopSignal, parseCli } from "./run.js";

const NAME = "emq-worker";
/** ms the worker's DEALER keeps delivering after stop(). */
const LINGER_MS = 2000;

const OPTIONS: OptionSpec[] = [
  { name: "handlers", type: "string", description: "JS module whose exported functions (or exported `handlers` object) run the jobs (required)", env: ["EMQ_HANDLERS"], placeholder: "FILE" },
  { name: "address", type: "string", short: "B", description: "the broker's backend", env: ["EMQ_BACKEND", "EVENTMQ_WORKER_ADDR"], default: DEFAULT_ADDRESSES.backend, placeholder: "ADDR" },
  { name: "queues", type: "string", short: "Q", description: 'queues to take jobs from: [[10,"default"]] or name:weight,name2', env: ["EMQ_QUEUES", "EVENTMQ_QUEUES"], default: "default:10", placeholder: "QUEUES" },
  { name: "concurrency", type: "number", short: "J", description: "jobs run at once", env: ["EMQ_CONCURRENCY", "EVENTMQ_CONCURRENT_JOBS"], default: DEFAULT_CONCURRENCY, placeholder: "N" },
  { name: "timeout", type: "number", description: "seconds a job may run when its request sets no timeout", env: ["EMQ_JOB_TIMEOUT"], default: DEFAULT_JOB_TIMEOUT, placeholder: "S" },
  { name: "drain-timeout", type: "number", description: "ms to wait for running jobs on SIGINT/SIGTERM; 0 = until each job's own timeout", env: ["EMQ_DRAIN_TIMEOUT"], default: 0, placeholder: "MS" },
  { name: "heartbeat-interval", type: "number", description: "ms between HEARTBEATs to the broker", env: ["EMQ_HEARTBEAT_INTERVAL"], default: 3000, placeholder: "MS" },
  { name: "heartbeat-timeout", type: "number", description: "ms of one liveness window: 3 silent windows in a row and the worker reconnects", env: ["EMQ_HEARTBEAT_TIMEOUT"], default: 5000, placeholder: "MS" },
  ...LOG_OPTIONS,
];

const { values } = parseCli({
  name: NAME,
  usage: "emq-worker --handlers FILE [options]",
  summary: "Runs jobs from an eMQP broker (wire-compatible with EventMQ's jobmanager).",
  options: OPTIONS,
  footer: [
    "A job {path, callable} runs the handler named \"path.callable\", else \"path:callable\", else \"callable\".",
    "Handlers are called as fn(args, kwargs, { msgid, queue, headers, job, signal }) and may return a promise.",
    "--handlers takes JavaScript (.js/.mjs/.cjs); TypeScript works under Bun and Deno, and under Node >= 22.6 (type stripping).",
    "SIGINT/SIGTERM: KBYE to the broker, finish running jobs, exit 0; a second signal exits at once.",
  ].join("\n"),
});

async function main(): Promise<void> {
  const log = loggerFrom(values, "worker");
  const number = (name: string, min: number, integer: boolean): number => {
    const n = values[name] as number;
    if ((integer && !Number.isInteger(n)) || n < min) throw new CliError(`--${name} must be ${integer ? "an integer" : "a number"} >= ${min}`);
    return n;
  };
  const file = values.handlers;
  if (typeof file !== "string" || file === "") throw new CliError("--handlers FILE is required (a module exporting the job handlers)");
  const concurrency = number("concurrency", 1, true);
  const timeout = number("timeout", 0.001, false);
  const drainTimeout = number("drain-timeout", 0, false);
  const queues = parseQueuesOption(String(values.queues));
  const heartbeatInterval = number("heartbeat-interval", 10, false);
  const heartbeatTimeout = number("heartbeat-timeout", 10, false);

  const handlers = await loadHandlers(file);
  const worker = new Worker({
    address: String(values.address),
    queues,
    concurrency,
    timeout,
    heartbeatInterval,
    heartbeatTimeout,
    informInterval: heartbeatTimeout,
    linger: LINGER_MS,
    logger: log,
  });
  for (const [name, fn] of handlers) worker.handle(name, fn);

  const shownQueues = queues.map(([w, n]) => `${n}(${w})`).join(", ");
  process.stdout.write(
    `${NAME} connecting to ${worker.address}: queues ${shownQueues}, concurrency ${concurrency}, handlers ${[...handlers.keys()].join(", ")}\n`,
  );
  onStopSignal(async (sig) => {
    log.info("signal: finishing running jobs", { signal: sig, running: worker.counters.running });
    await worker.stop({ timeout: drainTimeout });
    // The DEALER lingers until the last REPLYs and the KBYE are written; the process then ends by
    // itself. A handle the handlers module keeps open must not hold it for ever, hence the deadline.
    process.exitCode = 0;
    setTimeout(() => process.exit(0), LINGER_MS + 500).unref();
  }, log);
  worker.start().then(
    () => process.stdout.write(`${NAME} registered with the broker (routing id ${worker.routingId})\n`),
    (err: Error & { code?: string }) => {
      if (err.code === "ECLOSED") return; // stopped before the broker answered
      fail(NAME, err);
    },
  );
}

main().catch((err: unknown) => fail(NAME, err));
