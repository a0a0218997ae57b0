// The eMQP scheduler: a DEALER on the broker's FRONTEND that registers with INFORM type `scheduler`
// (queues ''), receives the SCHEDULE and UNSCHEDULE messages clients send through the broker, and
// fires an ordinary REQUEST (fresh msgid, headers `reply-requested`, the job body as received, the
// schedule's queue) each time a schedule is due (spec/emqp.md §3.4; the reference's §7).
//
// Schedules:
// - Identity: the SHA-1 of the job's six keys (job-hash.ts, EventMQ's schedule_hash). A SCHEDULE
//   for a job already scheduled replaces it (interval <-> cron switches included).
// - interval >= 0: every `interval` seconds (first at creation + interval). interval 0 would fire
//   in a busy loop (EventMQ fires it every millisecond); we run it every second instead and warn.
// - interval < 0 (EventMQ sends -1): the cron expression (cron.ts: 5 fields, ranges, steps, lists,
//   month/day names, macros), in `timeZone`: "local" (the process's TZ, the default, as cron
//   daemons do) or "UTC". Unlike EventMQ, a cron job keeps its queue.
// - Unless the headers say `nohaste`, the job also runs once at once when the schedule is created.
// - `run_count:N` (N >= 1): at most N runs in all, the haste run included; then the schedule is
//   removed. No header, or a negative N: no limit. N = 0 is refused (a schedule that never runs).
// - UNSCHEDULE removes the schedule with the job's identity, interval and cron alike (EventMQ's
//   cannot remove a cron job).
// - A SCHEDULE we cannot use (bad job body, bad headers, bad cron, a cron that never fires) is
//   logged and dropped; nothing a peer sends can crash the scheduler.
//
// Persistence (store.ts): every change (created, replaced, removed, fired) rewrites
// `<dataDir>/schedules.json` atomically, and start() loads it. After a restart, a schedule keeps
// its phase (an interval job whose next run is still ahead runs then); a schedule whose run fell
// due while no scheduler was running runs ONCE at start (however many runs were missed), then
// carries on from now. The same holds while the broker is unreachable: a run that falls due then
// is held and sent once the connection is back (several missed runs of one schedule collapse into
// one), so an outage never sends a burst.
//
// Time: `clock` (now, setTimeout, clearTimeout) drives when schedules run, so tests can move time
// on by hand; the protocol timers (HEARTBEAT, liveness, INFORM retries) always use real time.
//
// Staying registered is the worker's scheme (worker.ts): HEARTBEAT every 3 s; any message from the
// broker is a sign of life; 3 windows of 5 s without one -> a new DEALER with a new routing id and
// a new INFORM; a reconnect (a `handshake` after a `disconnect`) or a KBYE -> INFORM again at once;
// no ACK -> INFORM again every 5 s. That machinery is the ServiceLink (emqp-service/), shared with
// the worker.

import { EventEmitter } from "node:events";
import {
  DEFAULT_ADDRESSES,
  DEFAULT_QUEUE,
  EmqpError,
  HEARTBEAT_INTERVAL_MS,
  HEARTBEAT_LIVENESS,
  HEARTBEAT_TIMEOUT_MS,
  encode,
  newMsgid,
  parseHeaders,
  parseJob,
  parseResult,
  type Command,
  type Headers,
} from "../emqp/index.js";
import { ServiceLink } from "../emqp-service/service-link.js";
import { silentLogger, type Logger } from "../log/logger.js";
import { CronError, next as nextCron, parseCron, type CronSchedule, type CronTimeZone } from "./cron.js";
import { jobHash } from "./job-hash.js";
import { ScheduleStore, defaultDataDir, type ScheduleRecord } from "./store.js";

/** What decides when schedules run. Date.now and the global timers unless a test injects its own. */
export interface SchedulerClock {
  now(): number;
  setTimeout(fn: () => void, ms: number): unknown;
  clearTimeout(handle: unknown): void;
}

export const realClock: SchedulerClock = {
  now: () => Date.now(),
  setTimeout: (fn, ms) => setTimeout(fn, ms),
  clearTimeout: (h) => clearTimeout(h as ReturnType<typeof setTimeout>),
};

export interface SchedulerOptions {
  /** The broker's FRONTEND. Default tcp://127.0.0.1:47291. */
  address?: string;
  /** Where schedules.json lives. Default <os temp>/emq-scheduler. */
  dataDir?: string;
  /** Zone of cron expressions: "local" (default: the process's TZ) or "UTC". */
  timeZone?: CronTimeZone;
  /** Time source for running schedules (tests). Default: real time. */
  clock?: SchedulerClock;
  /** ms between our HEARTBEATs. Default 3000. */
  heartbeatInterval?: number;
  /** ms of one liveness window. Default 5000. */
  heartbeatTimeout?: number;
  /** Silent windows in a row before the broker counts as lost. Default 3. */
  heartbeatLiveness?: number;
  /** ms between INFORMs while no ACK has come. Default 5000. */
  informInterval?: number;
  /** ms stop() lets the KBYE (and last REQUESTs) reach the broker. Default 1000. */
  linger?: number;
  logger?: Logger;
}

/** A schedule as `schedules` lists it. */
export interface ScheduleInfo {
  id: string;
  queue: string;
  kind: "interval" | "cron";
  /** Seconds (interval schedules). */
  interval: number;
  cron: string;
  headers: string;
  job: string;
  runsLeft: number | null;
  /** ms since the epoch (the clock's) of the next run. */
  nextAt: number;
  /** A run fell due while the broker was unreachable; it goes out on reconnect. */
  held: boolean;
}

export interface SchedulerCounters {
  /** SCHEDULEs that created or replaced a schedule. */
  scheduled: number;
  /** UNSCHEDULEs that removed one. */
  unscheduled: number;
  /** REQUESTs sent. */
  fired: number;
  /** Results the broker reported as failures. */
  failed: number;
  /** Messages (or SCHEDULEs) dropped as unusable. */
  dropped: number;
  registrations: number;
}

export interface SchedulerEvents {
  registered: [info: { routingId: string }];
  scheduled: [info: { id: string; queue: string; replaced: boolean; kind: "interval" | "cron" }];
  unscheduled: [info: { id: string; reason: "unschedule" | "run_count" | "never" }];
  /** A REQUEST went out for a schedule. */
  fired: [info: { id: string; msgid: string; queue: string; runsLeft: number | null }];
  /** The result of a fired job came back (our broker sends it; EventMQ's does not). */
  result: [info: { msgid: string; ok: boolean; result: string }];
  reconnect: [info: { reason: "liveness" | "reconnected" | "kbye"; routingId: string }];
  dropped: [info: { reason: string; message: string }];
  stopped: [];
}

export class SchedulerError extends Error {
  override readonly name = "SchedulerError";
  readonly code: "EINVAL" | "ECLOSED";
  constructor(code: "EINVAL" | "ECLOSED", message: string) {
    super(message);
    this.code = code;
  }
}

interface Entry extends ScheduleRecord {
  /** Parsed cron (cron schedules only). */
  parsed?: CronSchedule;
  held: boolean;
}

type State = "idle" | "running" | "stopped";
type ScheduleCommand = Extract<Command, { command: "SCHEDULE" | "UNSCHEDULE" }>;

const SECOND = 1000;
/** setTimeout's longest delay; a later run re-arms on wake. */
const MAX_DELAY = 2 ** 31 - 1;

const positive = (v: number | undefined, dflt: number, name: string, integer = false): number => {
  if (v === undefined) return dflt;
  if (typeof v !== "number" || !Number.isFinite(v) || v <= 0 || (integer && !Number.isInteger(v))) {
    throw new SchedulerError("EINVAL", `${name} must be a positive ${integer ? "integer" : "number"}, got ${String(v)}`);
  }
  return v;
};

export class Scheduler extends EventEmitter<SchedulerEvents> {
  readonly address: string;
  readonly dataDir: string;
  readonly timeZone: CronTimeZone;

  private readonly clock: SchedulerClock;
  private readonly log: Logger;
  private readonly store: ScheduleStore;
  /** The DEALER to the broker: INFORM/ACK, HEARTBEATs (real time), liveness, re-registering. */
  private readonly link: ServiceLink;

  private readonly entries = new Map<string, Entry>();
  private state: State = "idle";
  private wake: { handle: unknown; at: number } | undefined;
  private readonly stats = { scheduled: 0, unscheduled: 0, fired: 0, failed: 0, dropped: 0, registrations: 0 };

  constructor(options: SchedulerOptions = {}) {
    super();
    this.address = options.address ?? DEFAULT_ADDRESSES.frontend;
    if (typeof this.address !== "string" || this.address === "") throw new SchedulerError("EINVAL", "address must be an endpoint such as tcp://127.0.0.1:47291");
    this.timeZone = options.timeZone ?? "local";
    if (this.timeZone !== "local" && this.timeZone !== "UTC") throw new SchedulerError("EINVAL", `timeZone must be "local" or "UTC", got ${JSON.stringify(this.timeZone)}`);
    this.dataDir = options.dataDir ?? defaultDataDir();
    this.clock = options.clock ?? realClock;
    const heartbeatInterval = positive(options.heartbeatInterval, HEARTBEAT_INTERVAL_MS, "heartbeatInterval");
    const heartbeatTimeout = positive(options.heartbeatTimeout, HEARTBEAT_TIMEOUT_MS, "heartbeatTimeout");
    const heartbeatLiveness = positive(options.heartbeatLiveness, HEARTBEAT_LIVENESS, "heartbeatLiveness", true);
    const informInterval = positive(options.informInterval, HEARTBEAT_TIMEOUT_MS, "informInterval");
    const linger = options.linger ?? 1000;
    if (!Number.isFinite(linger) || linger < 0) throw new SchedulerError("EINVAL", "linger must be >= 0 ms");
    this.log = options.logger ?? silentLogger;
    this.store = new ScheduleStore(this.dataDir, this.log);
    this.link = new ServiceLink(
      { address: this.address, clientType: "scheduler", heartbeatInterval, heartbeatTimeout, heartbeatLiveness, informInterval, linger, logger: this.log },
      {
        registered: () => this.onRegistered(),
        command: (cmd) => this.onCommand(cmd),
        dropped: (reason, message, level) => this.drop(reason, message, level),
        reconnect: (reason) => this.emit("reconnect", { reason, routingId: this.link.routingId }),
        // Runs that fell due while the broker was unreachable go out now.
        connected: () => this.flushHeld(),
      },
    );
  }

  get routingId(): string {
    return this.link.routingId;
  }

  get registered(): boolean {
    return this.link.registered;
  }

  get counters(): SchedulerCounters {
    return { ...this.stats };
  }

  /** Whether a connection to the broker is up now (runs that fall due otherwise are held). */
  private get connected(): boolean {
    return this.link.connected;
  }

  /** The schedules held now, soonest first. */
  get schedules(): ScheduleInfo[] {
    return [...this.entries.values()]
      .sort((a, b) => a.nextAt - b.nextAt)
      .map((e) => ({
        id: e.id,
        queue: e.queue,
        kind: e.interval >= 0 ? "interval" : "cron",
        interval: e.interval,
        cron: e.cron,
        headers: e.headers,
        job: e.job,
        runsLeft: e.runsLeft,
        nextAt: e.nextAt,
        held: e.held,
      }));
  }

  /** Loads the stored schedules, connects and INFORMs; resolves at the first ACK. */
  start(): Promise<void> {
    if (this.state !== "idle") return Promise.reject(new SchedulerError("EINVAL", `start() on a ${this.state} scheduler`));
    this.restore();
    let registered: Promise<void>;
    try {
      registered = this.link.open();
    } catch (err) {
      this.state = "stopped";
      return Promise.reject(err);
    }
    this.state = "running";
    this.arm();
    this.log.info("connecting", { address: this.address, routingId: this.link.routingId, schedules: this.entries.size, dataDir: this.dataDir, timeZone: this.timeZone });
    return registered;
  }

  /** KBYE to the broker and close. The schedules stay in the data directory for the next start. */
  async stop(): Promise<void> {
    if (this.state === "stopped") return;
    const was = this.state;
    this.state = "stopped";
    if (this.wake) this.clock.clearTimeout(this.wake.handle);
    this.wake = undefined;
    if (was === "running" && this.connected) this.link.send(encode({ command: "KBYE", msgid: newMsgid() }));
    // The DEALER lingers so the KBYE goes out; a start() still waiting for the ACK rejects.
    this.link.close(new SchedulerError("ECLOSED", "stop() was called before the broker ACKed the scheduler"));
    this.log.info("stopped", { schedules: this.entries.size });
    this.emit("stopped");
  }

  // ---- schedules ------------------------------------------------------------------------------

  /** Loads the stored schedules; runs that fell due while we were away are held (run once). */
  private restore(): void {
    const now = this.clock.now();
    let changed = false;
    for (const r of this.store.load()) {
      const e: Entry = { ...r, held: false };
      if (e.interval < 0) {
        try {
          e.parsed = parseCron(e.cron);
        } catch (err) {
          this.log.warn("stored cron schedule dropped: its expression does not parse", { id: e.id, cron: e.cron, error: err as Error });
          changed = true;
          continue;
        }
      }
      if (e.nextAt <= now) {
        e.held = true; // missed while no scheduler ran: once, at start
        const n = this.following(e, now);
        if (n === null) {
          changed = true;
          this.log.warn("stored cron schedule dropped: it never fires again", { id: e.id, cron: e.cron });
          continue;
        }
        e.nextAt = n;
        changed = true;
      } else if (e.interval >= 0) {
        // Keep the phase, but never wait longer than one interval (the clock may have gone back).
        const cap = now + this.periodOf(e);
        if (e.nextAt > cap) {
          e.nextAt = cap;
          changed = true;
        }
      } else {
        // Re-derive the next cron tick: the zone may differ from the last run's.
        const n = this.following(e, now);
        if (n !== null && n !== e.nextAt) {
          e.nextAt = n;
          changed = true;
        }
      }
      this.entries.set(e.id, e);
    }
    if (changed) this.persist();
    if (this.entries.size > 0) this.log.info("schedules loaded", { count: this.entries.size, held: [...this.entries.values()].filter((e) => e.held).length });
  }

  private periodOf(e: Entry): number {
    return Math.max(e.interval, 1) * SECOND;
  }

  /** The next run after a run due at e.nextAt, seen at `now`; null: a cron that never fires again. */
  private following(e: Entry, now: number): number | null {
    if (e.interval >= 0) {
      const n = e.nextAt + this.periodOf(e);
      return n > now ? n : now + this.periodOf(e); // fell behind: carry on from now, no burst
    }
    const d = nextCron(e.parsed ?? e.cron, new Date(now), this.timeZone);
    return d === null ? null : d.getTime();
  }

  private onSchedule(cmd: ScheduleCommand): void {
    let headers: Headers;
    let id: string;
    try {
      headers = parseHeaders(cmd.headers);
      id = jobHash(parseJob(cmd.job));
    } catch (err) {
      return this.drop(err instanceof EmqpError ? err.reason : "bad-schedule", `SCHEDULE ${cmd.msgid}: ${(err as Error).message}`);
    }
    const runCount = headers.runCount;
    if (runCount === 0) return this.drop("bad-run-count", `SCHEDULE ${cmd.msgid}: run_count:0 would never run`);
    const now = this.clock.now();
    const e: Entry = {
      id,
      queue: cmd.queue === "" ? DEFAULT_QUEUE : cmd.queue,
      headers: cmd.headers,
      interval: cmd.interval >= 0 ? cmd.interval : -1,
      cron: cmd.interval >= 0 ? "" : cmd.cron,
      job: cmd.job,
      runsLeft: runCount !== undefined && runCount > 0 ? runCount : null,
      nextAt: now,
      createdAt: now,
      held: false,
    };
    if (e.interval < 0) {
      try {
        e.parsed = parseCron(e.cron);
      } catch (err) {
        const why = err instanceof CronError ? err.message : String(err);
        return this.drop("bad-cron", `SCHEDULE ${cmd.msgid}: cron ${JSON.stringify(e.cron.slice(0, 80))}: ${why}`);
      }
    } else if (e.interval === 0) {
      this.log.warn("interval 0 runs every second (not in a busy loop)", { id });
    }
    const n = e.interval >= 0 ? now + this.periodOf(e) : this.following(e, now);
    if (n === null) return this.drop("bad-cron", `SCHEDULE ${cmd.msgid}: cron ${JSON.stringify(e.cron)} never fires`);
    e.nextAt = n;
    const replaced = this.entries.has(id);
    this.entries.set(id, e);
    this.stats.scheduled++;
    const kind = e.interval >= 0 ? "interval" : "cron";
    this.log.info(replaced ? "schedule replaced" : "scheduled", {
      id,
      queue: e.queue,
      ...(kind === "interval" ? { interval: e.interval } : { cron: e.cron }),
      haste: !headers.nohaste,
      runCount: e.runsLeft ?? undefined,
      nextAt: new Date(e.nextAt).toISOString(),
    });
    this.emit("scheduled", { id, queue: e.queue, replaced, kind });
    if (!headers.nohaste) this.due(e);
    this.persist();
    this.arm();
  }

  private onUnschedule(cmd: ScheduleCommand): void {
    let id: string;
    try {
      id = jobHash(parseJob(cmd.job));
    } catch (err) {
      return this.drop(err instanceof EmqpError ? err.reason : "bad-unschedule", `UNSCHEDULE ${cmd.msgid}: ${(err as Error).message}`);
    }
    // UNSCHEDULE goes to every scheduler: most will not hold the schedule.
    if (!this.entries.has(id)) return this.log.debug("UNSCHEDULE for a schedule we do not hold", { id });
    this.remove(id, "unschedule");
    this.persist();
    this.arm();
  }

  private remove(id: string, reason: "unschedule" | "run_count" | "never"): void {
    if (!this.entries.delete(id)) return;
    if (reason === "unschedule") this.stats.unscheduled++;
    this.log.info(reason === "unschedule" ? "unscheduled" : reason === "run_count" ? "run_count reached: schedule removed" : "cron never fires again: schedule removed", { id });
    this.emit("unscheduled", { id, reason });
  }

  /** A run is due: send it, or hold it until the broker is back. */
  private due(e: Entry): void {
    if (this.state !== "running" || !this.connected) {
      if (!e.held) this.log.warn("a run fell due with the broker unreachable: held until it is back", { id: e.id });
      e.held = true;
      return;
    }
    e.held = false;
    const msgid = newMsgid();
    this.link.send(encode({ command: "REQUEST", msgid, queue: e.queue, headers: "reply-requested", job: e.job }));
    this.stats.fired++;
    if (e.runsLeft !== null) e.runsLeft--;
    this.log.debug("fired", { id: e.id, msgid, queue: e.queue, runsLeft: e.runsLeft ?? undefined });
    this.emit("fired", { id: e.id, msgid, queue: e.queue, runsLeft: e.runsLeft });
    if (e.runsLeft !== null && e.runsLeft <= 0) this.remove(e.id, "run_count");
  }

  /** Sends the runs held while the broker was unreachable (one per schedule). */
  private flushHeld(): void {
    let changed = false;
    for (const e of [...this.entries.values()]) {
      if (!e.held) continue;
      this.due(e);
      changed = true;
    }
    if (changed) {
      this.persist();
      this.arm();
    }
  }

  /** The clock's timer, set for the soonest run. */
  private arm(): void {
    if (this.wake) this.clock.clearTimeout(this.wake.handle);
    this.wake = undefined;
    if (this.state !== "running" || this.entries.size === 0) return;
    let soonest = Infinity;
    for (const e of this.entries.values()) if (e.nextAt < soonest) soonest = e.nextAt;
    const delay = Math.min(MAX_DELAY, Math.max(0, soonest - this.clock.now()));
    this.wake = { at: soonest, handle: this.clock.setTimeout(() => this.tick(), delay) };
  }

  private tick(): void {
    this.wake = undefined;
    if (this.state !== "running") return;
    const now = this.clock.now();
    let changed = false;
    for (const e of [...this.entries.values()]) {
      if (e.nextAt > now) continue;
      changed = true;
      try {
        this.due(e);
      } catch (err) {
        this.log.error("firing a schedule failed", { id: e.id, error: err as Error });
      }
      if (this.entries.get(e.id) !== e) continue; // its last run (run_count)
      const n = this.following(e, now);
      if (n === null) this.remove(e.id, "never");
      else e.nextAt = n;
    }
    if (changed) this.persist();
    this.arm();
  }

  private persist(): void {
    const records: ScheduleRecord[] = [];
    for (const e of this.entries.values()) {
      const { parsed: _p, held: _h, ...r } = e;
      records.push(r);
    }
    this.store.save(records);
  }

  // ---- messages from the broker ---------------------------------------------------------------

  private drop(reason: string, message: string, level: "warn" | "debug" = "warn"): void {
    this.stats.dropped++;
    this.log[level](`dropped: ${message}`, { reason });
    this.emit("dropped", { reason, message });
  }

  /** Commands past the link's ACK/HEARTBEAT/KBYE bookkeeping. */
  private onCommand(cmd: Command): void {
    if (this.state !== "running") return;
    switch (cmd.command) {
      case "SCHEDULE":
        return this.onSchedule(cmd);
      case "UNSCHEDULE":
        return this.onUnschedule(cmd);
      case "REPLY":
        return this.onReply(cmd.body);
      default:
        return this.drop("unexpected-command", `${cmd.command === "OTHER" ? cmd.name : cmd.command} is not for a scheduler`);
    }
  }

  private onRegistered(): void {
    this.stats.registrations++;
    const routingId = this.link.routingId;
    this.log.info("registered with the broker", { address: this.address, routingId });
    this.emit("registered", { routingId });
  }

  /** Receipts (one frame) and, from our broker, results (two frames) of the REQUESTs we fired. */
  private onReply(body: string[]): void {
    const [msgid, result] = body;
    if (result === undefined) return; // the receipt: the broker has the job
    let ok = true;
    try {
      const r = parseResult(result);
      if (!r.ok) {
        ok = false;
        this.stats.failed++;
        this.log.warn("a scheduled job failed", { msgid, code: r.error.code, error: r.error.message });
      }
    } catch (err) {
      this.log.debug("unreadable result for a scheduled job", { msgid, error: (err as Error).message });
    }
    this.emit("result", { msgid: msgid!, ok, result });
  }
}
