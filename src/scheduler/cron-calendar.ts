// Matching a parsed cron schedule against wall-clock times, with no time zone involved.
//
// A wall-clock time is represented as the number of milliseconds Date.UTC would give for it, so
// calendar arithmetic is plain UTC arithmetic; cron.ts maps these to real instants for local
// time. The search skips whole months, days and hours that cannot match instead of stepping
// minute by minute.

import type { CronSchedule } from "./cron-parse.js";

export const MINUTE = 60_000;
export const HOUR = 60 * MINUTE;
export const DAY = 24 * HOUR;
/** The latest time a Date can hold. */
export const MAX_TIME = 8.64e15;

/** Lookup tables for one schedule: table[value] is 1 when the field allows value. */
export interface CronTables {
  readonly minute: Uint8Array;
  readonly hour: Uint8Array;
  readonly dayOfMonth: Uint8Array;
  readonly month: Uint8Array;
  readonly dayOfWeek: Uint8Array;
  readonly dayOfMonthStar: boolean;
  readonly dayOfWeekStar: boolean;
}

const cache = new WeakMap<CronSchedule, CronTables>();

function table(size: number, values: readonly number[]): Uint8Array {
  const out = new Uint8Array(size);
  for (const v of values) if (Number.isInteger(v) && v >= 0 && v < size) out[v] = 1;
  return out;
}

export function tablesOf(s: CronSchedule): CronTables {
  let t = cache.get(s);
  if (t === undefined) {
    t = {
      minute: table(60, s.minutes),
      hour: table(24, s.hours),
      dayOfMonth: table(32, s.daysOfMonth),
      month: table(13, s.months),
      // A hand-made schedule may say 7 for Sunday; parseCron never does.
      dayOfWeek: table(7, s.daysOfWeek.map((d) => (d === 7 ? 0 : d))),
      dayOfMonthStar: s.dayOfMonthStar,
      dayOfWeekStar: s.dayOfWeekStar,
    };
    cache.set(s, t);
  }
  return t;
}

/**
 * Vixie cron's day rule: when either day field starts with `*`, a day must be in both sets (so
 * with a plain `*` only the other field counts); when both are restricted, being in either set
 * is enough (`0 0 13 * FRI` runs on every 13th and on every Friday).
 */
export function dayMatches(t: CronTables, dayOfMonth: number, dayOfWeek: number): boolean {
  if (t.dayOfMonthStar || t.dayOfWeekStar) return t.dayOfMonth[dayOfMonth] === 1 && t.dayOfWeek[dayOfWeek] === 1;
  return t.dayOfMonth[dayOfMonth] === 1 || t.dayOfWeek[dayOfWeek] === 1;
}

/** Date.UTC without its mapping of years 0-99 to 1900-1999 (the calendar repeats every 400 years). */
function utc(year: number, month0: number, day: number, hour = 0, minute = 0): number {
  if (year >= 0 && year < 100) return Date.UTC(year + 400, month0, day, hour, minute) - 146_097 * DAY;
  return Date.UTC(year, month0, day, hour, minute);
}

function daysInMonth(year: number, month: number): number {
  if (month === 2) return (year % 4 === 0 && year % 100 !== 0) || year % 400 === 0 ? 29 : 28;
  return month === 4 || month === 6 || month === 9 || month === 11 ? 30 : 31;
}

/** The first value >= from allowed by table, or -1. */
function firstFrom(tab: Uint8Array, from: number): number {
  for (let v = from; v < tab.length; v++) if (tab[v] === 1) return v;
  return -1;
}

/** Whether the wall-clock minute containing wall matches every field. */
export function wallMatches(t: CronTables, wall: number): boolean {
  const d = new Date(wall);
  return (
    t.minute[d.getUTCMinutes()] === 1 &&
    t.hour[d.getUTCHours()] === 1 &&
    t.month[d.getUTCMonth() + 1] === 1 &&
    dayMatches(t, d.getUTCDate(), d.getUTCDay())
  );
}

/**
 * The first whole wall-clock minute at or after `from` that matches, or null when there is none
 * up to `limit` (inclusive). Each pass either returns or moves to the start of the next candidate
 * month, day, hour or minute, so the number of passes is about the number of months searched
 * plus a few.
 */
export function nextWallMatch(t: CronTables, from: number, limit: number): number | null {
  if (t.month.indexOf(1) < 0 || t.hour.indexOf(1) < 0 || t.minute.indexOf(1) < 0) return null;
  const end = Math.min(limit, MAX_TIME);
  let at = Math.ceil(from / MINUTE) * MINUTE;
  while (at <= end) {
    const d = new Date(at);
    const year = d.getUTCFullYear();
    const month = d.getUTCMonth() + 1;
    const day = d.getUTCDate();
    const hour = d.getUTCHours();
    const minute = d.getUTCMinutes();
    if (t.month[month] !== 1) {
      const m = firstFrom(t.month, month + 1);
      at = m < 0 ? utc(year + 1, firstFrom(t.month, 1) - 1, 1) : utc(year, m - 1, 1);
      continue;
    }
    if (!dayMatches(t, day, d.getUTCDay())) {
      const last = daysInMonth(year, month);
      let weekday = d.getUTCDay();
      let next = -1;
      for (let dd = day + 1; dd <= last; dd++) {
        weekday = (weekday + 1) % 7;
        if (dayMatches(t, dd, weekday)) {
          next = dd;
          break;
        }
      }
      at = next < 0 ? utc(year, month, 1) : utc(year, month - 1, next);
      continue;
    }
    if (t.hour[hour] !== 1) {
      const h = firstFrom(t.hour, hour + 1);
      at = h < 0 ? utc(year, month - 1, day + 1) : utc(year, month - 1, day, h);
      continue;
    }
    if (t.minute[minute] !== 1) {
      const m = firstFrom(t.minute, minute + 1);
      at = m < 0 ? utc(year, month - 1, day, hour + 1) : utc(year, month - 1, day, hour, m);
      continue;
    }
    return at;
  }
  return null;
}
