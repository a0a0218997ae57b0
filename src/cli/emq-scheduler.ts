#!/usr/bin/env node
// emq-scheduler: an eMQP scheduler. It connects to a broker's FRONTEND, registers as a scheduler,
// and fires the jobs clients schedule (SCHEDULE/UNSCHEDULE through the broker) on their interval
// or cron expression. A separate process rather than a mode of emq-broker, as in EventMQ: it can
// run on another host, restart on its own, and several can share one broker. Schedules are kept in
// <data dir>/schedules.json and survive a restart. SIGINT/SIGTERM: KBYE to the broker, exit 0.

import { DEFAULT_ADDRESSES } from "../emqp/index.js";
import { Scheduler } from "../scheduler/scheduler.js";
import { defaultDataDir } from "../scheduler/store.js";
import { CliError, type OptionSpec } from "./args.js";
import { LOG_OPTIONS, fail, loggerFrom, onStopSignal, parseCli } from "./run.js";

const NAME = "emq-scheduler";
const LINGER_MS = 1000;

const OPTIONS: OptionSpec[] = [
  { name: "address", type: "string", short: "F", description: "the broker's frontend", env: ["EMQ_FRONTEND", "EVENTMQ_SCHEDULER_ADDR"], default: DEFAULT_ADDRESSES.frontend, placeholder: "ADDR" },
  { name: "data-dir", type: "string", short: "d", description: "where schedules.json is kept", env: ["EMQ_SCHEDULER_DATA_DIR"], default: defaultDataDir(), placeholder: "DIR" },
  { name: "timezone", type: "string", description: 'zone of cron expressions: "local" (this process\'s TZ) or "UTC"', env: ["EMQ_SCHEDULER_TIMEZONE"], default: "local", placeholder: "ZONE" },
  { name: "heartbeat-interval", type: "number", description: "ms between HEARTBEATs to the broker", env: ["EMQ_HEARTBEAT_INTERVAL"], default: 3000, placeholder: "MS" },
  { name: "heartbeat-timeout", type: "number", description: "ms of one liveness window: 3 silent windows in a row and the scheduler reconnects", env: ["EMQ_HEARTBEAT_TIMEOUT"], default: 5000, placeholder: "MS" },
  ...LOG_OPTIONS,
];

const { values } = parseCli({
  name: NAME,
  usage: "emq-scheduler [options]",
  summary: "Runs scheduled jobs through an eMQP broker (wire-compatible with EventMQ's scheduler).",
  options: OPTIONS,
  footer: [
    "Clients schedule with SCHEDULE (every N seconds, or a 5-field cron expression: ranges, steps, lists,",
    "JAN-DEC, SUN-SAT, @daily...); UNSCHEDULE removes interval and cron schedules alike.",
    "Headers: nohaste (no immediate first run), run_count:N (at most N runs in all).",
    "Schedules survive a restart; a run missed while the scheduler was down runs once at start.",
    "SIGINT/SIGTERM: KBYE to the broker, exit 0; a second signal exits at once.",
  ].join("\n"),
});

async function main(): Promise<void> {
  const log = loggerFrom(values, "scheduler");
  const zone = String(values.timezone);
  const timeZone = zone.toUpperCase() === "UTC" ? "UTC" : zone.toLowerCase() === "local" ? "local" : undefined;
  if (!timeZone) throw new CliError('--timezone must be "local" or "UTC"');
  const number = (name: string): number => {
    const n = values[name] as number;
    if (!(n >= 10)) throw new CliError(`--${name} must be a number of ms >= 10`);
    return n;
  };
  const heartbeatInterval = number("heartbeat-interval");
  const heartbeatTimeout = number("heartbeat-timeout");
  const dataDir = String(values["data-dir"]);
  if (dataDir === "") throw new CliError("--data-dir must not be empty");

  const scheduler = new Scheduler({
    address: String(values.address),
    dataDir,
    timeZone,
    heartbeatInterval,
    heartbeatTimeout,
    informInterval: heartbeatTimeout,
    linger: LINGER_MS,
    logger: log,
  });
  process.stdout.write(`${NAME} connecting to ${scheduler.address}: data dir ${dataDir}, cron time zone ${timeZone}\n`);
  onStopSignal(async (sig) => {
    log.info("signal: stopping", { signal: sig });
    await scheduler.stop();
    process.exitCode = 0;
    setTimeout(() => process.exit(0), LINGER_MS + 500).unref();
  }, log);
  scheduler.start().then(
    () => process.stdout.write(`${NAME} registered with the broker (routing id ${scheduler.routingId}, ${scheduler.schedules.length} schedule(s) loaded)\n`),
    (err: Error & { code?: string }) => {
      if (err.code === "ECLOSED") return;
      fail(NAME, err);
    },
  );
}

main().catch((err: unknown) => fail(NAME, err));
