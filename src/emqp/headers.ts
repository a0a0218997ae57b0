// Request and schedule headers: a comma-separated list without spaces, '' for none
// (spec/emqp.md §4.2). EventMQ writes them in a fixed order and tests assert it, so we do too.
// Flags we do not know are kept, in order, after ours: a newer peer's headers survive us.

import { EmqpError } from "./errors.js";

export interface Headers {
  /** The client wants the job's result (EventMQ: only the broker ever saw it; we route it back). */
  replyRequested?: boolean;
  /** At-least-once: the broker re-queues the job if its worker dies or leaves before answering. */
  guarantee?: boolean;
  /** Re-run a failed job up to this many more times. */
  retryCount?: number;
  /** Seconds the job may run before it counts as failed. */
  timeout?: number;
  /** SCHEDULE: no immediate first run. */
  nohaste?: boolean;
  /** SCHEDULE: at most this many runs in total. */
  runCount?: number;
  /** Anything else, verbatim. */
  other?: string[];
}

function count(part: string, name: string): number {
  const v = part.slice(name.length + 1);
  if (!/^-?\d{1,15}$/.test(v)) throw new EmqpError("bad-header", `header ${name} needs an integer, got ${JSON.stringify(v)}`);
  return Number(v);
}

export function parseHeaders(csv: string): Headers {
  const h: Headers = {};
  if (csv.length === 0) return h;
  for (const raw of csv.split(",")) {
    const part = raw.trim();
    if (part === "") continue;
    if (part === "reply-requested") h.replyRequested = true;
    else if (part === "guarantee") h.guarantee = true;
    else if (part === "nohaste") h.nohaste = true;
    else if (part.startsWith("retry-count:")) h.retryCount = count(part, "retry-count");
    else if (part.startsWith("timeout:")) h.timeout = count(part, "timeout");
    else if (part.startsWith("run_count:")) h.runCount = count(part, "run_count");
    else (h.other ??= []).push(part);
  }
  return h;
}

/** EventMQ's order; retry-count and timeout only when above 0, as its client sends them. */
export function formatHeaders(h: Headers): string {
  const parts: string[] = [];
  if (h.replyRequested) parts.push("reply-requested");
  if (h.guarantee) parts.push("guarantee");
  if (h.retryCount !== undefined && h.retryCount > 0) parts.push(`retry-count:${h.retryCount}`);
  if (h.timeout !== undefined && h.timeout > 0) parts.push(`timeout:${h.timeout}`);
  if (h.nohaste) parts.push("nohaste");
  if (h.runCount !== undefined && h.runCount >= 0) parts.push(`run_count:${h.runCount}`);
  if (h.other) for (const o of h.other) if (o !== "" && !o.includes(",")) parts.push(o);
  return parts.join(",");
}
