// Command-line options for the emq CLIs: each option can come from a flag (--name value,
// --name=value), from an EMQ_* environment variable, or from EventMQ's EVENTMQ_* name for the same
// setting, in that order of precedence, else its default. --help and --version are built in.
// Errors are CliError (exit code 2), printed as one line with a pointer to --help.

export type OptionType = "string" | "number" | "boolean";

export interface OptionSpec {
  name: string;
  type: OptionType;
  description: string;
  /** One-letter alias (-c). */
  short?: string;
  /** Environment variables read, in order (e.g. EMQ_FRONTEND, EVENTMQ_FRONTEND_ADDR). */
  env?: string[];
  default?: string | number | boolean;
  /** Shown in --help after the option, e.g. "ADDR". */
  placeholder?: string;
  /** May be given more than once (collected into an array). */
  multiple?: boolean;
}

export class CliError extends Error {
  readonly exitCode = 2;
}

export type Values = Record<string, string | number | boolean | string[] | undefined>;

export interface Parsed {
  values: Values;
  positionals: string[];
  help: boolean;
  version: boolean;
}

function convert(spec: OptionSpec, raw: string, from: string): string | number | boolean {
  if (spec.type === "string") return raw;
  if (spec.type === "number") {
    const n = Number(raw);
    if (raw.trim() === "" || !Number.isFinite(n)) throw new CliError(`${from}: expected a number, got ${JSON.stringify(raw)}`);
    return n;
  }
  const v = raw.toLowerCase();
  if (["1", "true", "yes", "on"].includes(v)) return true;
  if (["0", "false", "no", "off", ""].includes(v)) return false;
  throw new CliError(`${from}: expected true or false, got ${JSON.stringify(raw)}`);
}

export function parseArgs(argv: readonly string[], specs: readonly OptionSpec[], env: Record<string, string | undefined> = process.env): Parsed {
  const byName = new Map(specs.map((s) => [s.name, s]));
  const byShort = new Map(specs.filter((s) => s.short).map((s) => [s.short!, s]));
  const values: Values = {};
  const positionals: string[] = [];
  let help = false;
  let version = false;
  for (let i = 0; i < argv.length; i++) {
    const a = argv[i]!;
    if (a === "--") {
      positionals.push(...argv.slice(i + 1));
      break;
    }
    if (a === "--help" || a === "-h") {
      help = true;
      continue;
    }
    if (a === "--version" || a === "-V") {
      version = true;
      continue;
    }
    let spec: OptionSpec | undefined;
    let inline: string | undefined;
    let shown = a;
    if (a.startsWith("--")) {
      const eq = a.indexOf("=");
      let name = eq < 0 ? a.slice(2) : a.slice(2, eq);
      if (eq >= 0) inline = a.slice(eq + 1);
      shown = `--${name}`;
      spec = byName.get(name);
      if (!spec && name.startsWith("no-") && inline === undefined) {
        name = name.slice(3);
        const neg = byName.get(name);
        if (neg?.type === "boolean") {
          values[neg.name] = false;
          continue;
        }
      }
    } else if (a.startsWith("-") && a.length === 2) {
      spec = byShort.get(a.slice(1));
    } else {
      positionals.push(a);
      continue;
    }
    if (!spec) throw new CliError(`unknown option ${shown}`);
    let raw: string;
    if (inline !== undefined) raw = inline;
    else if (spec.type === "boolean") raw = "true";
    else {
      if (i + 1 >= argv.length) throw new CliError(`${shown} needs a value`);
      raw = argv[++i]!;
    }
    const v = convert(spec, raw, shown);
    if (spec.multiple) ((values[spec.name] ??= []) as string[]).push(String(v));
    else values[spec.name] = v;
  }
  for (const spec of specs) {
    if (values[spec.name] !== undefined) continue;
    for (const name of spec.env ?? []) {
      const raw = env[name];
      if (raw === undefined || raw === "") continue;
      const v = convert(spec, raw, name);
      values[spec.name] = spec.multiple ? String(v).split(",").map((s) => s.trim()).filter(Boolean) : v;
      break;
    }
    if (values[spec.name] === undefined && spec.default !== undefined) values[spec.name] = spec.default;
  }
  return { values, positionals, help, version };
}

export function formatHelp(usage: string, summary: string, specs: readonly OptionSpec[], footer = ""): string {
  const rows = specs.map((s) => {
    const flag = `${s.short ? `-${s.short}, ` : "    "}--${s.name}${s.type === "boolean" ? "" : ` ${s.placeholder ?? s.type.toUpperCase()}`}`;
    let desc = s.description;
    if (s.default !== undefined && s.default !== "") desc += ` (default: ${String(s.default)})`;
    if (s.env?.length) desc += ` [env: ${s.env.join(", ")}]`;
    return [flag, desc] as const;
  });
  rows.push(["-h, --help", "show this help and exit"], ["-V, --version", "print the version and exit"]);
  const width = Math.min(36, Math.max(...rows.map((r) => r[0].length)) + 2);
  const lines = rows.map(([f, d]) => (f.length + 2 > width ? `  ${f}\n  ${" ".repeat(width)}${d}` : `  ${f.padEnd(width)}${d}`));
  return `Usage: ${usage}\n\n${summary}\n\nOptions:\n${lines.join("\n")}\n${footer ? `\n${footer}\n` : ""}`;
}
