#!/usr/bin/env node
// `emq`: asks a running broker (ours or EventMQ's) through its administrative socket what it is
// doing, or tells it to stop. One subcommand per run; readable text by default, the broker's JSON
// with --json; exit 1 with one line on stderr when the broker does not answer, 2 for usage errors.

import { Admin } from "../client/admin.js";
import { formatSchedulers, formatStatus, formatWorkers } from "../client/report-text.js";
import { DEFAULT_ADDRESSES } from "../emqp/index.js";
import { SocketError } from "../socket/errors.js";
import { CliError, type OptionSpec } from "./args.js";
import { fail, LOG_OPTIONS, loggerFrom, parseCli, type CliSpec } from "./run.js";

const NAME = "emq";

type Subcommand = "status" | "workers" | "schedulers" | "shutdown";

const SUBCOMMANDS: Record<Subcommand, string> = {
  status: "jobs waiting, in flight and processed, per queue (STATUS)",
  workers: "connected workers, their free slots and queues (ROUTER_SHOW_WORKERS)",
  schedulers: "connected schedulers (ROUTER_SHOW_SCHEDULERS)",
  shutdown: "ask the broker to drain and stop (DISCONNECT); waits for its ACK",
};

/** emq-cli's names for the same commands. */
const ALIASES: Record<string, Subcommand> = { show_workers: "workers", show_schedulers: "schedulers" };

const OPTIONS: OptionSpec[] = [
  {
    name: "address",
    short: "a",
    type: "string",
    description: "the broker's administrative socket",
    env: ["EMQ_ADMIN", "EVENTMQ_ADMINISTRATIVE_ADDR"],
    default: DEFAULT_ADDRESSES.admin,
    placeholder: "ADDR",
  },
  { name: "json", type: "boolean", description: "print the broker's answer as JSON" },
  { name: "timeout", short: "t", type: "number", description: "ms to wait for the broker's answer", default: 5000, placeholder: "MS" },
  // Reconnects and dropped messages are worth a line only when something goes wrong.
  ...LOG_OPTIONS.map((o) => (o.name === "log-level" ? { ...o, default: "warn" } : o)),
];

const SPEC: CliSpec = {
  name: NAME,
  usage: `${NAME} <${Object.keys(SUBCOMMANDS).join("|")}> [options]`,
  summary: "Query or stop an eMQP broker through its administrative socket.",
  options: OPTIONS,
  footer:
    "Subcommands:\n" +
    Object.entries(SUBCOMMANDS)
      .map(([name, what]) => `  ${name.padEnd(12)}${what}`)
      .join("\n"),
};

function subcommand(positionals: string[]): Subcommand {
  const [name, ...rest] = positionals;
  if (name === undefined) throw new CliError(`missing subcommand: one of ${Object.keys(SUBCOMMANDS).join(", ")}`);
  const cmd = Object.hasOwn(SUBCOMMANDS, name) ? (name as Subcommand) : ALIASES[name];
  if (!cmd) throw new CliError(`unknown subcommand ${JSON.stringify(name)}: one of ${Object.keys(SUBCOMMANDS).join(", ")}`);
  if (rest.length > 0) throw new CliError(`unexpected argument ${JSON.stringify(rest[0])}`);
  return cmd;
}

async function run(admin: Admin, cmd: Subcommand, json: boolean): Promise<string> {
  const show = (v: unknown) => JSON.stringify(v, null, 2) + "\n";
  switch (cmd) {
    case "status": {
      const r = await admin.status();
      return json ? show(r) : formatStatus(r);
    }
    case "workers": {
      const r = await admin.workers();
      return json ? show(r) : formatWorkers(r);
    }
    case "schedulers": {
      const r = await admin.schedulers();
      return json ? show(r) : formatSchedulers(r);
    }
    case "shutdown":
      await admin.shutdown();
      return json ? show({ acknowledged: true, address: admin.address }) : `the broker at ${admin.address} is shutting down\n`;
  }
}

async function main(): Promise<void> {
  const { values, positionals } = parseCli(SPEC);
  let admin: Admin;
  let cmd: Subcommand;
  try {
    cmd = subcommand(positionals);
    const timeout = values.timeout as number;
    if (!(timeout > 0 && timeout < 2 ** 31)) throw new CliError("--timeout must be a number of ms > 0");
    const logger = loggerFrom(values, NAME);
    try {
      admin = new Admin({ address: String(values.address), timeout, logger });
    } catch (err) {
      if (err instanceof SocketError && err.code === "EINVAL") throw new CliError(`--address: ${err.message}`);
      throw err;
    }
  } catch (err) {
    fail(NAME, err);
  }
  try {
    process.stdout.write(await run(admin, cmd, values.json === true));
  } finally {
    admin.close();
  }
}

main().catch((err: unknown) => fail(NAME, err));
