// Cron schedules for the eMQP scheduler: parseCron (cron-parse.ts) and the fire-time search.
//
// Semantics, in one place:
//
// * Syntax: 5 fields (minute hour day-of-month month day-of-week) with `*`, numbers, names
//   (JAN-DEC, SUN-SAT, any case), ranges `a-b`, steps `*\/n`, `a-b/n`, `a/n` and lists; day of week
//   0-7 with 0 and 7 both Sunday. Macros @yearly @annually @monthly @weekly @daily @midnight
//   @hourly (not @reboot). Anything else throws CronError (code "EINVAL"). See cron-parse.ts.
//
// * Day of month and day of week follow Vixie cron / cronie exactly: a field "is `*`" when its
//   text starts with `*`. If either day field is `*`, a day must satisfy both (so a plain `*`
//   leaves the other field alone in charge); if neither is, a day matching EITHER field runs.
//   `0 0 13 * FRI` = every 13th and every Friday. Note `*\/2` counts as `*` here, as in Vixie
//   cron (`0 0 *\/2 * MON` = Mondays that fall on an odd day of the month).
//
// * Time zones: "UTC", or "local" = the zone of the process (TZ). Across daylight-saving changes
//   in local time we do what Vixie cron and cronie do, computed exactly instead of from clock
//   observations:
//   - "Fixed-time" jobs (neither the minute nor the hour field starts with `*`, e.g. `30 2 * * *`)
//     run once per matching wall-clock time. A time skipped by a spring-forward gap runs once at
//     the instant of the jump (02:30 in New York's skipped hour runs at 03:00 EDT; several
//     skipped times collapse into that one run). A time that occurs twice in a fall-back runs at
//     its first occurrence only.
//   - "Wildcard" jobs (minute or hour starts with `*`, e.g. `*\/15 * * * *`, `30 * * * *`, and
//     @hourly) follow real time: they run at every real minute whose wall-clock time matches,
//     so in a repeated hour they run in both passes and nothing is made up for a skipped hour.
//     An every-15-minutes job stays every 15 real minutes through both changes.
//   Zones are assumed to have whole-minute UTC offsets (true for every zone since 1972).
//
// * Impossible expressions (`0 0 30 2 *`, `0 0 31 4,6 *`): next() returns null. The search looks
//   400 years ahead, one full Gregorian cycle after which dates and weekdays repeat exactly, so
//   in UTC null means "never"; it costs about a millisecond since whole months are skipped.

import { DAY, HOUR, MAX_TIME, MINUTE, nextWallMatch, tablesOf, wallMatches, type CronTables } from "./cron-calendar.js";
import { CronError, parseCron, type CronSchedule } from "./cron-parse.js";

export { CRON_MACROS, CronError, parseCron, type CronFieldName, type CronSchedule } from "./cron-parse.js";

export type CronTimeZone = "local" | "UTC";

/** One Gregorian cycle (146097 days) and a day: every (date, weekday) combination occurs in it. */
const SEARCH_SPAN = 146_097 * DAY + DAY;
/** Offsets in use lie between UTC-12 and UTC+14, so a wall time's instants are within this of it. */
const OFFSET_REACH = 15 * HOUR;

function scheduleOf(schedule: CronSchedule | string): CronSchedule {
  return typeof schedule === "string" ? parseCron(schedule) : schedule;
}

function timeOf(date: Date, what: string): number {
  const t = date instanceof Date ? date.getTime() : NaN;
  if (Number.isNaN(t)) throw new CronError("argument", String(date), `${what} must be a valid Date`);
  return t;
}

function checkZone(timeZone: CronTimeZone): void {
  if (timeZone !== "local" && timeZone !== "UTC") {
    throw new CronError("argument", String(timeZone), `time zone must be "local" or "UTC", not ${JSON.stringify(timeZone)}`);
  }
}

/** The local UTC offset at instant t, in ms (wall clock = t + offset). */
function offsetAt(t: number): number {
  return -new Date(Math.max(-MAX_TIME, Math.min(MAX_TIME, t))).getTimezoneOffset() * MINUTE;
}

/**
 * The instants at which a fixed-time (or wildcard) job fires for the local wall-clock minute
 * `wall`, and `earliest`, a lower bound of every instant that belongs to this wall time or a later
 * one. earliest never decreases as wall increases: that is what lets the search stop.
 */
function firesAt(wall: number, wildcard: boolean): { fires: number[]; earliest: number } {
  const before = offsetAt(wall - OFFSET_REACH);
  const after = offsetAt(wall + OFFSET_REACH);
  const instants = [...new Set([before, after])]
    .map((o) => wall - o)
    .filter((t) => t + offsetAt(t) === wall)
    .sort((a, b) => a - b);
  if (instants.length === 2) return { fires: wildcard ? instants : [instants[0]!], earliest: instants[0]! };
  if (instants.length === 1) return { fires: instants, earliest: instants[0]! };
  // A gap: the wall time was skipped. The jump happened at some T in (wall - high, wall - low].
  const low = Math.min(before, after);
  const high = Math.max(before, after);
  if (wildcard || low === high) return { fires: [], earliest: wall - high };
  let lo = wall - high; // still on the old offset
  let hi = wall - low; // already on the new one
  const newOffset = offsetAt(hi);
  while (hi - lo > 1) {
    const mid = Math.floor((lo + hi) / 2);
    if (offsetAt(mid) === newOffset) hi = mid;
    else lo = mid;
  }
  // Run at the first whole wall-clock minute at or after the jump.
  const jump = Math.ceil((hi + newOffset) / MINUTE) * MINUTE - newOffset;
  return { fires: [jump], earliest: jump };
}

/** The first fire instant > after whose wall-clock time is at most limitWall, or null. */
function searchLocal(s: CronSchedule, t: CronTables, after: number, limitWall: number): number | null {
  // Walls of instants after `after` are at least after + the smaller offset around it (a
  // fall-back soon after `after` repeats walls below wall(after)).
  let cursor = after + Math.min(offsetAt(after), offsetAt(after + 26 * HOUR));
  let best = Infinity;
  for (;;) {
    const wall = nextWallMatch(t, cursor, limitWall);
    if (wall === null) break;
    const { fires, earliest } = firesAt(wall, s.wildcardTime);
    for (const f of fires) if (f > after && f < best) best = f;
    if (earliest >= best) break;
    cursor = wall + MINUTE;
  }
  return best === Infinity ? null : best;
}

function search(s: CronSchedule, after: number, timeZone: CronTimeZone, span: number): number | null {
  const t = tablesOf(s);
  if (timeZone === "UTC") {
    return nextWallMatch(t, Math.floor(after / MINUTE) * MINUTE + MINUTE, after + span);
  }
  return searchLocal(s, t, after, after + offsetAt(after) + span);
}

/**
 * The first whole minute strictly after `after` at which the schedule fires, in the given time
 * zone (see the DST rules above), or null if it never fires (looked for 400 years ahead).
 * A string is parsed first (and may throw CronError).
 */
export function next(schedule: CronSchedule | string, after: Date, timeZone: CronTimeZone): Date | null {
  const s = scheduleOf(schedule);
  checkZone(timeZone);
  const found = search(s, timeOf(after, "after"), timeZone, SEARCH_SPAN);
  return found === null ? null : new Date(found);
}

/**
 * Whether the schedule fires at the whole minute containing `date`: exactly the minutes next()
 * returns, DST rules included (so in local time a fixed-time job "matches" the instant of a
 * spring-forward jump that skipped its time, and only the first pass of a repeated time).
 */
export function matches(schedule: CronSchedule | string, date: Date, timeZone: CronTimeZone): boolean {
  const s = scheduleOf(schedule);
  checkZone(timeZone);
  const minute = Math.floor(timeOf(date, "date") / MINUTE) * MINUTE;
  if (timeZone === "UTC") return wallMatches(tablesOf(s), minute);
  return search(s, minute - 1, timeZone, 2 * DAY) === minute;
}
