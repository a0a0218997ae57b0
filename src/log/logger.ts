// Structured log lines for the eMQP roles: one line per event with a time, a level, the component
// and key=value fields (or one JSON object per line), so a broker's log can be read by people and
// by log shippers alike. Roles take a Logger so tests and embedding applications can capture or
// silence them.

export type LogLevel = "debug" | "info" | "warn" | "error" | "silent";
export type LogFields = Record<string, unknown>;

export interface Logger {
  debug(msg: string, fields?: LogFields): void;
  info(msg: string, fields?: LogFields): void;
  warn(msg: string, fields?: LogFields): void;
  error(msg: string, fields?: LogFields): void;
  /** The same sink, another component name. */
  child(component: string): Logger;
}

export interface LoggerOptions {
  /** Lowest level written. Default "info". */
  level?: LogLevel;
  /** "text" (default): `time LEVEL component: msg k=v ...`; "json": one object per line. */
  format?: "text" | "json";
  component?: string;
  /** Where lines go; default: standard error. */
  write?: (line: string) => void;
}

const RANK: Record<LogLevel, number> = { debug: 10, info: 20, warn: 30, error: 40, silent: 99 };

export const LOG_LEVELS = Object.keys(RANK) as LogLevel[];

export function isLogLevel(s: string): s is LogLevel {
  return Object.hasOwn(RANK, s);
}

function show(v: unknown): string {
  if (typeof v === "string") return /^[^\s"=]*$/.test(v) && v !== "" ? v : JSON.stringify(v);
  if (v instanceof Error) return JSON.stringify(v.message);
  if (typeof v === "object" && v !== null) {
    try {
      return JSON.stringify(v);
    } catch {
      return JSON.stringify(String(v));
    }
  }
  return String(v);
}

function errorSafe(fields: LogFields): LogFields {
  const out: LogFields = {};
  for (const [k, v] of Object.entries(fields)) out[k] = v instanceof Error ? { message: v.message, code: (v as { code?: unknown }).code } : v;
  return out;
}

export function createLogger(options: LoggerOptions = {}): Logger {
  const min = RANK[options.level ?? "info"];
  const json = options.format === "json";
  const write = options.write ?? ((line: string) => process.stderr.write(line + "\n"));
  const make = (component: string): Logger => {
    const log = (level: Exclude<LogLevel, "silent">, msg: string, fields?: LogFields) => {
      if (RANK[level] < min) return;
      const time = new Date().toISOString();
      if (json) {
        let line: string;
        try {
          line = JSON.stringify({ time, level, component, msg, ...(fields ? errorSafe(fields) : {}) });
        } catch {
          line = JSON.stringify({ time, level, component, msg });
        }
        write(line);
        return;
      }
      let line = `${time} ${level.toUpperCase().padEnd(5)} ${component}: ${msg}`;
      if (fields) for (const [k, v] of Object.entries(fields)) if (v !== undefined) line += ` ${k}=${show(v)}`;
      write(line);
    };
    return {
      debug: (m, f) => log("debug", m, f),
      info: (m, f) => log("info", m, f),
      warn: (m, f) => log("warn", m, f),
      error: (m, f) => log("error", m, f),
      child: (c) => make(c),
    };
  };
  return make(options.component ?? "emq");
}

/** Drops everything. */
export const silentLogger: Logger = createLogger({ level: "silent" });
