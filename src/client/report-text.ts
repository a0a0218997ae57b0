// The admin answers as text for people (the `emq` CLI's default output). Reads the reports
// defensively: a broker may leave fields out or add its own, and what it adds is shown as is.

import type { SchedulersReport, StatusReport, WorkersReport } from "./admin.js";

type Row = Array<string | number>;

const obj = (v: unknown): Record<string, unknown> => (typeof v === "object" && v !== null && !Array.isArray(v) ? (v as Record<string, unknown>) : {});

const plural = (n: number, one: string, many = `${one}s`): string => `${n} ${n === 1 ? one : many}`;

/** Columns padded to their widest cell; numbers right-aligned. */
function table(header: string[], rows: Row[]): string {
  const cells = [header, ...rows.map((r) => r.map(String))];
  const widths = header.map((_, i) => Math.max(...cells.map((r) => (r[i] ?? "").length)));
  // Right-align columns of numbers ("-" marks a number the broker did not give).
  const numeric = header.map((_, i) => rows.some((r) => typeof r[i] === "number") && rows.every((r) => typeof r[i] === "number" || r[i] === "-"));
  const line = (r: string[]) =>
    r
      .map((c, i) => (numeric[i] ? c.padStart(widths[i]!) : i === r.length - 1 ? c : c.padEnd(widths[i]!)))
      .join("  ")
      .trimEnd();
  return cells.map(line).join("\n") + "\n";
}

const weights = (v: unknown): string =>
  Array.isArray(v)
    ? v.map((q) => (Array.isArray(q) && q.length === 2 ? `${String(q[1])} (${String(q[0])})` : JSON.stringify(q))).join(", ")
    : "";

/** Fields a report has beyond the ones we lay out, one `name: json` line each. */
function extras(report: Record<string, unknown>, known: readonly string[]): string {
  let out = "";
  for (const [k, v] of Object.entries(report)) if (!known.includes(k)) out += `${k}: ${JSON.stringify(v)}\n`;
  return out ? `\n${out}` : "";
}

const STATUS_COLUMNS = [
  ["WAITING", "waiting_messages_by_queue"],
  ["IN FLIGHT", "inflight_messages_by_queue"],
  ["PROCESSED", "processed_messages_by_queue"],
  ["LATENCY MS", "latency_messages_by_queue"],
  ["MAX LATENCY MS", "max_latency_messages_by_queue"],
] as const;

export function formatStatus(report: StatusReport): string {
  const r = obj(report);
  const maps = STATUS_COLUMNS.map(([, key]) => obj(r[key]));
  const queues = [...new Set(maps.flatMap((m) => Object.keys(m)))].sort();
  let out = queues.length === 0
    ? "no queues\n"
    : table(["QUEUE", ...STATUS_COLUMNS.map(([h]) => h)], queues.map((q) => [q, ...maps.map((m) => (typeof m[q] === "number" ? m[q] : String(m[q] ?? "-")))]));
  const byWorker = Object.entries(obj(r.processed_messages_by_worker));
  if (byWorker.length > 0) out += "\n" + table(["WORKER", "PROCESSED"], byWorker.map(([id, n]) => [id, typeof n === "number" ? n : String(n)]));
  return out + extras(r, [...STATUS_COLUMNS.map(([, k]) => k), "processed_messages_by_worker"]);
}

export function formatWorkers(report: WorkersReport): string {
  const r = obj(report);
  const workers = Object.entries(obj(r.connected_workers));
  let out = `${plural(workers.length, "worker")} connected\n`;
  if (workers.length > 0) {
    out += "\n" + table(
      ["WORKER", "FREE SLOTS", "QUEUES"],
      workers.map(([id, w]) => {
        const slots = obj(w).available_slots;
        return [id, typeof slots === "number" ? slots : String(slots ?? "-"), weights(obj(w).queues)];
      }),
    );
  }
  const queues = Object.entries(obj(r.connected_queues));
  if (queues.length > 0) {
    out += "\n" + table(["QUEUE", "WORKERS (weight)"], queues.map(([q, list]) => [q, Array.isArray(list) ? list.map((e) => (Array.isArray(e) ? `${String(e[1])} (${String(e[0])})` : JSON.stringify(e))).join(", ") : ""]));
  }
  return out + extras(r, ["connected_workers", "connected_queues"]);
}

export function formatSchedulers(report: SchedulersReport): string {
  const r = obj(report);
  const ids = Object.keys(obj(r.connected_schedulers));
  let out = `${plural(ids.length, "scheduler")} connected\n`;
  for (const id of ids) out += `  ${id}\n`;
  return out + extras(r, ["connected_schedulers"]);
}
