// What every emq CLI shares: --help/--version handling, the logger built from --log-level /
// --log-format, one-line errors (exit 2 for usage, 1 for failures), and a graceful stop on
// SIGINT/SIGTERM (a second signal exits at once).

import { readFileSync } from "node:fs";
import { createLogger, isLogLevel, LOG_LEVELS, type Logger } from "../log/logger.js";
import { CliError, formatHelp, parseArgs, type OptionSpec, type Parsed } from "./args.js";

export const LOG_OPTIONS: OptionSpec[] = [
  { name: "log-level", type: "string", description: `lowest level logged: ${LOG_LEVELS.join(", ")}`, env: ["EMQ_LOG_LEVEL"], default: "info", placeholder: "LEVEL" },
  { name: "log-format", type: "string", description: "text or json (one object per line)", env: ["EMQ_LOG_FORMAT"], default: "text", placeholder: "FORMAT" },
];

export function packageVersion(): string {
  try {
    const pkg = JSON.parse(readFileSync(new URL("../../package.json", import.meta.url), "utf8")) as { version?: string };
    return pkg.version ?? "unknown";
  } catch {
    return "unknown";
  }
}

export interface CliSpec {
  name: string;
  usage: string;
  summary: string;
  options: OptionSpec[];
  footer?: string;
}

export function loggerFrom(values: Parsed["values"], component: string): Logger {
  const level = String(values["log-level"] ?? "info");
  const format = String(values["log-format"] ?? "text");
  if (!isLogLevel(level)) throw new CliError(`--log-level must be one of ${LOG_LEVELS.join(", ")}`);
  if (format !== "text" && format !== "json") throw new CliError("--log-format must be text or json");
  return createLogger({ level, format, component });
}

/** Parses argv; prints help or version and exits when asked; returns the parsed options. */
export function parseCli(spec: CliSpec, argv = process.argv.slice(2)): Parsed {
  let parsed: Parsed;
  try {
    parsed = parseArgs(argv, spec.options);
  } catch (err) {
    fail(spec.name, err);
  }
  if (parsed.help) {
    process.stdout.write(formatHelp(spec.usage, spec.summary, spec.options, spec.footer));
    process.exit(0);
  }
  if (parsed.version) {
    process.stdout.write(`${spec.name} ${packageVersion()}\n`);
    process.exit(0);
  }
  return parsed;
}

/** Prints one line for an error and exits: 2 for usage errors, 1 otherwise. */
export function fail(name: string, err: unknown): never {
  const usage = err instanceof CliError;
  const msg = err instanceof Error ? err.message : String(err);
  const code = (err as { code?: unknown })?.code;
  process.stderr.write(`${name}: ${msg}${code && !usage ? ` (${String(code)})` : ""}${usage ? `\nTry '${name} --help'.` : ""}\n`);
  process.exit(usage ? 2 : 1);
}

/** Calls `stop` on the first SIGINT/SIGTERM; a second one exits at once with code 130/143. */
export function onStopSignal(stop: (signal: string) => void | Promise<void>, log?: Logger): void {
  let stopping = false;
  for (const sig of ["SIGINT", "SIGTERM"] as const) {
    process.on(sig, () => {
      if (stopping) {
        log?.warn("second signal: exiting now", { signal: sig });
        process.exit(sig === "SIGINT" ? 130 : 143);
      }
      stopping = true;
      void Promise.resolve(stop(sig)).catch((err) => {
        log?.error("stopping failed", { error: err });
        process.exit(1);
      });
    });
  }
}
