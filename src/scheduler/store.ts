// Where a scheduler keeps its schedules between runs: one JSON file (`schedules.json` in the data
// directory), rewritten whole on every change. The write goes to a temporary file in the same
// directory, is flushed to disk, and is then renamed over the old one, so a crash at any moment
// leaves either the old file or the new one, never half of one.
//
// A file that cannot be read as ours is moved aside (`schedules.json.corrupt-<time>`) and the
// scheduler starts empty, rather than refusing to start or overwriting what someone may want to
// recover; a single malformed entry is skipped with a warning. Failed writes are logged, never
// thrown: the schedules keep running from memory.

import { closeSync, fsyncSync, mkdirSync, openSync, readFileSync, renameSync, rmSync, writeSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import type { Logger } from "../log/logger.js";

/** One schedule as stored (and as the Scheduler holds it). */
export interface ScheduleRecord {
  /** The job hash (job-hash.ts): the schedule's identity. */
  id: string;
  /** Queue its REQUESTs go to. */
  queue: string;
  /** The SCHEDULE's headers, as received. */
  headers: string;
  /** Seconds between runs; -1 for a cron schedule. */
  interval: number;
  /** The cron expression ('' for an interval schedule). */
  cron: string;
  /** The job body, as received; every REQUEST carries it unchanged. */
  job: string;
  /** Runs left (run_count:N); null = no limit. */
  runsLeft: number | null;
  /** ms since the epoch of the next run. */
  nextAt: number;
  /** ms since the epoch when the schedule was (last) created. */
  createdAt: number;
}

export const STORE_FILE = "schedules.json";
const FORMAT = 1;

/** The default data directory: <os temp>/emq-scheduler. */
export const defaultDataDir = (): string => join(tmpdir(), "emq-scheduler");

const isRecord = (v: unknown): v is ScheduleRecord => {
  if (typeof v !== "object" || v === null) return false;
  const r = v as Record<string, unknown>;
  return (
    typeof r.id === "string" &&
    /^[0-9a-f]{40}$/.test(r.id) &&
    typeof r.queue === "string" &&
    typeof r.headers === "string" &&
    typeof r.interval === "number" &&
    Number.isSafeInteger(r.interval) &&
    typeof r.cron === "string" &&
    typeof r.job === "string" &&
    (r.runsLeft === null || (typeof r.runsLeft === "number" && Number.isSafeInteger(r.runsLeft) && r.runsLeft > 0)) &&
    typeof r.nextAt === "number" &&
    Number.isFinite(r.nextAt) &&
    typeof r.createdAt === "number" &&
    Number.isFinite(r.createdAt)
  );
};

export class ScheduleStore {
  readonly dir: string;
  readonly file: string;
  private readonly log: Logger;
  private seq = 0;

  constructor(dir: string, log: Logger) {
    this.dir = dir;
    this.file = join(dir, STORE_FILE);
    this.log = log;
  }

  /** The stored schedules ([] when there is no file yet). */
  load(): ScheduleRecord[] {
    let text: string;
    try {
      text = readFileSync(this.file, "utf8");
    } catch (err) {
      if ((err as { code?: string }).code !== "ENOENT") this.log.error("cannot read the schedules file: starting empty", { file: this.file, error: err as Error });
      return [];
    }
    let data: unknown;
    try {
      data = JSON.parse(text);
    } catch {
      data = undefined;
    }
    const list = (data as { schedules?: unknown } | undefined)?.schedules;
    if (typeof data !== "object" || data === null || (data as { format?: unknown }).format !== FORMAT || !Array.isArray(list)) {
      const aside = `${this.file}.corrupt-${Date.now()}`;
      try {
        renameSync(this.file, aside);
      } catch {
        // leave it where it is; the next save replaces it
      }
      this.log.error("the schedules file is not readable: moved aside, starting empty", { file: this.file, movedTo: aside });
      return [];
    }
    const out: ScheduleRecord[] = [];
    for (const r of list) {
      if (isRecord(r)) out.push({ ...r });
      else this.log.warn("skipped a malformed entry in the schedules file", { file: this.file, entry: JSON.stringify(r)?.slice(0, 200) });
    }
    return out;
  }

  /** Replaces the file with these schedules, atomically. Returns false (and logs) on failure. */
  save(records: Iterable<ScheduleRecord>): boolean {
    const body = JSON.stringify({ format: FORMAT, schedules: [...records] }, null, 1) + "\n";
    const tmp = join(this.dir, `.${STORE_FILE}.${process.pid}.${++this.seq}.tmp`);
    try {
      mkdirSync(this.dir, { recursive: true });
      const fd = openSync(tmp, "w", 0o600);
      try {
        writeSync(fd, body);
        fsyncSync(fd);
      } finally {
        closeSync(fd);
      }
      renameSync(tmp, this.file);
      return true;
    } catch (err) {
      this.log.error("could not save the schedules (they keep running from memory)", { file: this.file, error: err as Error });
      try {
        rmSync(tmp, { force: true });
      } catch {
        // nothing more to do
      }
      return false;
    }
  }
}
