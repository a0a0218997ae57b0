// The cron parser and fire-time search (src/scheduler/cron.ts).
//
// The oracle is a reference written here from the expression's structure, not from the parsed
// sets: random expressions are generated as syntax trees, rendered to text, and the reference
// decides whether a minute matches by interpreting the tree. next() is checked against
// brute-force searches built on it: a plain minute-by-minute walk (capped at 31 days) and an
// exhaustive day-by-day-then-minute walk (capped at 30 years).
//
// Local time depends on TZ, which Node reads from the environment, so the daylight-saving tests
// run this same file again in a child `node` with TZ set (EMQ_CRON_CHILD holds the request); the
// child computes, prints JSON, and the assertions are made here in the parent. The child also
// runs a fast-check property against a DST-aware minute-by-minute reference of the rules in
// cron.ts (fixed-time jobs once per wall time, skipped times at the jump; wildcard jobs at every
// real minute whose wall time matches).

import type { Test } from "tap";
import fc from "fast-check";
import { execFile } from "node:child_process";
import { fileURLToPath } from "node:url";
import { performance } from "node:perf_hooks";
import { CRON_MACROS, CronError, matches, next, parseCron, type CronSchedule, type CronTimeZone } from "../../src/scheduler/cron.js";

const MINUTE = 60_000;
const HOUR = 60 * MINUTE;
const DAY = 24 * HOUR;

// ---------------------------------------------------------------------------------------------
// Syntax trees of cron expressions, their text, and the reference matcher.

interface Val {
  readonly n: number;
  readonly text: string;
}
type Item =
  | { readonly kind: "star"; readonly step?: number }
  | { readonly kind: "value"; readonly v: Val; readonly step?: number }
  | { readonly kind: "range"; readonly a: Val; readonly b: Val; readonly step?: number };
type Field = readonly Item[];
type Tree = readonly [Field, Field, Field, Field, Field];

interface Spec {
  readonly min: number;
  readonly max: number; // highest value in text
  readonly open: number; // where * and a/n end
  readonly size: number; // largest step
  readonly names?: readonly string[];
}
const SPECS: readonly Spec[] = [
  { min: 0, max: 59, open: 59, size: 60 },
  { min: 0, max: 23, open: 23, size: 24 },
  { min: 1, max: 31, open: 31, size: 31 },
  { min: 1, max: 12, open: 12, size: 12, names: ["jan", "feb", "mar", "apr", "may", "jun", "jul", "aug", "sep", "oct", "nov", "dec"] },
  { min: 0, max: 7, open: 6, size: 7, names: ["sun", "mon", "tue", "wed", "thu", "fri", "sat"] },
];

function itemText(i: Item): string {
  const step = i.step === undefined ? "" : `/${i.step}`;
  if (i.kind === "star") return `*${step}`;
  if (i.kind === "value") return `${i.v.text}${step}`;
  return `${i.a.text}-${i.b.text}${step}`;
}
const fieldText = (f: Field): string => f.map(itemText).join(",");
const treeText = (t: Tree): string => t.map(fieldText).join(" ");

/** Whether value v is selected by one field of the tree (day of week: 7 selects Sunday too). */
function fieldHas(spec: Spec, f: Field, v: number): boolean {
  const one = (x: number): boolean =>
    f.some((i) => {
      const s = i.step ?? 1;
      if (i.kind === "star") return x >= spec.min && x <= spec.open && (x - spec.min) % s === 0;
      if (i.kind === "value") {
        if (i.step === undefined) return x === i.v.n;
        return x >= i.v.n && x <= Math.max(i.v.n, spec.open) && (x - i.v.n) % s === 0;
      }
      return x >= i.a.n && x <= i.b.n && (x - i.a.n) % s === 0;
    });
  return one(v) || (spec === SPECS[4] && v === 0 && one(7));
}

interface Wall {
  readonly minute: number;
  readonly hour: number;
  readonly day: number;
  readonly month: number; // 1-12
  readonly weekday: number; // 0 = Sunday
}
const utcWall = (ms: number): Wall => {
  const d = new Date(ms);
  return { minute: d.getUTCMinutes(), hour: d.getUTCHours(), day: d.getUTCDate(), month: d.getUTCMonth() + 1, weekday: d.getUTCDay() };
};
const localWall = (ms: number): Wall => {
  const d = new Date(ms);
  return { minute: d.getMinutes(), hour: d.getHours(), day: d.getDate(), month: d.getMonth() + 1, weekday: d.getDay() };
};

/** Vixie's rule: a day field whose text starts with "*" makes both day fields required. */
function refDay(t: Tree, w: Wall): boolean {
  const dom = fieldHas(SPECS[2]!, t[2], w.day);
  const dow = fieldHas(SPECS[4]!, t[4], w.weekday);
  const starred = fieldText(t[2]).startsWith("*") || fieldText(t[4]).startsWith("*");
  return starred ? dom && dow : dom || dow;
}
function refMatches(t: Tree, w: Wall): boolean {
  return fieldHas(SPECS[0]!, t[0], w.minute) && fieldHas(SPECS[1]!, t[1], w.hour) && fieldHas(SPECS[3]!, t[3], w.month) && refDay(t, w);
}

/** The first whole minute after `after` whose UTC time matches, walking minute by minute, or null within cap minutes. */
function bruteMinutes(t: Tree, after: number, cap: number): number | null {
  const first = Math.floor(after / MINUTE) * MINUTE + MINUTE;
  for (let m = first; m < first + cap * MINUTE; m += MINUTE) if (refMatches(t, utcWall(m))) return m;
  return null;
}

/**
 * The same walk in UTC, but a day whose date cannot match (month and day fields depend only on
 * the date) is passed over whole: exhaustive, and fast enough for a 30-year cap.
 */
function bruteDays(t: Tree, after: number, capDays: number): number | null {
  const first = Math.floor(after / MINUTE) * MINUTE + MINUTE;
  const end = first + capDays * DAY;
  let m = first;
  while (m < end) {
    const w = utcWall(m);
    if (fieldHas(SPECS[3]!, t[3], w.month) && refDay(t, w)) {
      const midnight = m - (w.hour * 60 + w.minute) * MINUTE;
      for (; m < midnight + DAY && m < end; m += MINUTE) if (refMatches(t, utcWall(m))) return m;
    } else {
      m = Math.floor(m / DAY) * DAY + DAY;
    }
  }
  return null;
}

// ---------------------------------------------------------------------------------------------
// Generators.

function valueArb(spec: Spec): fc.Arbitrary<Val> {
  const num = fc.integer({ min: spec.min, max: spec.max }).map((n) => ({ n, text: String(n) }));
  if (!spec.names) return num;
  const names = spec.names;
  const named = fc
    .tuple(fc.integer({ min: 0, max: names.length - 1 }), fc.constantFrom("lower", "upper", "title"))
    .map(([i, c]) => {
      const name = names[i]!;
      const text = c === "lower" ? name : c === "upper" ? name.toUpperCase() : name[0]!.toUpperCase() + name.slice(1);
      return { n: spec.min + i, text };
    });
  return fc.oneof(num, named);
}

function itemArb(spec: Spec): fc.Arbitrary<Item> {
  const step = fc.integer({ min: 1, max: spec.size });
  const smallStep = fc.integer({ min: 1, max: Math.max(1, Math.floor(spec.size / 3)) });
  const v = valueArb(spec);
  return fc.oneof(
    { weight: 2, arbitrary: fc.constant<Item>({ kind: "star" }) },
    { weight: 2, arbitrary: fc.oneof(smallStep, step).map((s): Item => ({ kind: "star", step: s })) },
    { weight: 3, arbitrary: v.map((x): Item => ({ kind: "value", v: x })) },
    { weight: 1, arbitrary: fc.tuple(v, step).map(([x, s]): Item => ({ kind: "value", v: x, step: s })) },
    {
      weight: 2,
      arbitrary: fc
        .tuple(v, v, fc.option(step, { nil: undefined }))
        .map(([x, y, s]): Item => {
          const [a, b] = x.n <= y.n ? [x, y] : [y, x];
          return s === undefined ? { kind: "range", a, b } : { kind: "range", a, b, step: s };
        }),
    },
  );
}

const fieldArb = (spec: Spec, starWeight: number): fc.Arbitrary<Field> =>
  fc.oneof(
    { weight: starWeight, arbitrary: fc.constant<Field>([{ kind: "star" }]) },
    { weight: 4, arbitrary: fc.array(itemArb(spec), { minLength: 1, maxLength: 3 }) },
  );

/** Any expression. */
const treeArb: fc.Arbitrary<Tree> = fc.tuple(...SPECS.map((s) => fieldArb(s, 1))) as unknown as fc.Arbitrary<Tree>;
/** Expressions that usually match within days: the date fields are mostly "*". */
const denseTreeArb: fc.Arbitrary<Tree> = fc.tuple(
  fieldArb(SPECS[0]!, 1),
  fieldArb(SPECS[1]!, 1),
  fieldArb(SPECS[2]!, 6),
  fieldArb(SPECS[3]!, 8),
  fieldArb(SPECS[4]!, 6),
) as unknown as fc.Arbitrary<Tree>;

const YEAR_1900 = Date.UTC(1900, 0, 1);
const YEAR_2300 = Date.UTC(2300, 0, 1);
/** Start instants from 1900 to 2300 (2000 and 2100 included), often near a month's end, with odd seconds. */
const startArb: fc.Arbitrary<number> = fc.oneof(
  fc.integer({ min: YEAR_1900, max: YEAR_2300 }),
  fc
    .tuple(fc.integer({ min: 1900, max: 2299 }), fc.integer({ min: 0, max: 11 }), fc.integer({ min: -3 * DAY, max: DAY }))
    .map(([y, m, d]) => Date.UTC(y, m + 1, 1) + d),
  fc.tuple(fc.constantFrom(2000, 2024, 2096, 2100, 2104), fc.integer({ min: 0, max: 366 * DAY })).map(([y, d]) => Date.UTC(y, 0, 1) + d),
);

const iso = (ms: number | null | undefined): string | null => (ms === null || ms === undefined ? null : new Date(ms).toISOString());
const nextMs = (e: CronSchedule | string, after: number, tz: CronTimeZone = "UTC"): number | null => next(e, new Date(after), tz)?.getTime() ?? null;

// ---------------------------------------------------------------------------------------------
// The child: local-time computations under the TZ it was started with.

interface ChildRequest {
  readonly queries: readonly { readonly expr: string; readonly after: string; readonly count: number }[];
  readonly matchQueries: readonly { readonly expr: string; readonly at: string }[];
  readonly property: { readonly seed: number; readonly numRuns: number; readonly from: number; readonly to: number };
}
interface ChildReply {
  readonly zone: string;
  readonly offsets: readonly number[]; // getTimezoneOffset in January and July 2025
  readonly sequences: readonly (string | null)[][];
  readonly matches: readonly boolean[];
  readonly transitions: number;
  readonly property: { readonly failed: boolean; readonly numRuns: number; readonly detail: string };
}

/** The instants in [from, to) where the local UTC offset changes. */
function transitionsIn(from: number, to: number): number[] {
  const off = (t: number): number => new Date(t).getTimezoneOffset();
  const out: number[] = [];
  for (let t = from; t < to; t += 6 * HOUR) {
    if (off(t) === off(t + 6 * HOUR)) continue;
    let lo = t;
    let hi = t + 6 * HOUR;
    while (hi - lo > 1000) {
      const mid = Math.floor((lo + hi) / 2);
      if (off(mid) === off(t)) lo = mid;
      else hi = mid;
    }
    out.push(Math.ceil(hi / 1000) * 1000);
  }
  return out;
}

/**
 * The DST rules of cron.ts, checked one real minute at a time. The wall clock of instant t is
 * t - getTimezoneOffset(t). A wildcard job fires at t when t's wall time matches. A fixed-time
 * job fires at t when t's wall time matches and no instant in the 3 hours before had the same
 * wall time (first pass only), or when the wall clock jumped forward into t over a skipped wall
 * time that matches.
 */
function bruteLocal(t: Tree, after: number, capMinutes: number): number | null {
  const wildcard = fieldText(t[0]).startsWith("*") || fieldText(t[1]).startsWith("*");
  const wallMs = (ms: number): number => ms - new Date(ms).getTimezoneOffset() * MINUTE;
  const first = Math.floor(after / MINUTE) * MINUTE + MINUTE;
  for (let m = first; m < first + capMinutes * MINUTE; m += MINUTE) {
    const here = refMatches(t, localWall(m));
    if (wildcard) {
      if (here) return m;
      continue;
    }
    const wall = wallMs(m);
    if (here) {
      let repeat = false;
      for (let k = 1; k <= 180 && !repeat; k++) repeat = wallMs(m - k * MINUTE) === wall;
      if (!repeat) return m;
    }
    const before = wallMs(m - MINUTE);
    for (let w = before + MINUTE; w < wall; w += MINUTE) if (refMatches(t, utcWall(w))) return m;
  }
  return null;
}

function runChild(request: ChildRequest): void {
  const sequences = request.queries.map(({ expr, after, count }) => {
    const out: (string | null)[] = [];
    let at: Date | null = new Date(after);
    for (let i = 0; i < count && at !== null; i++) {
      at = next(expr, at, "local");
      out.push(at === null ? null : at.toISOString());
    }
    return out;
  });
  const matchResults = request.matchQueries.map(({ expr, at }) => matches(expr, new Date(at), "local"));
  const transitions = transitionsIn(request.property.from, request.property.to);
  const CAP = 3 * 24 * 60;
  const result =
    transitions.length === 0
      ? { failed: true, numRuns: 0, detail: "no offset changes found: is the zone known to this node?" }
      : (() => {
          const startNear = fc
            .tuple(fc.constantFrom(...transitions), fc.integer({ min: -26 * HOUR, max: 26 * HOUR }), fc.boolean())
            .map(([tr, d, whole]) => (whole ? Math.floor((tr + d) / MINUTE) * MINUTE : tr + d));
          const r = fc.check(
            fc.property(denseTreeArb, startNear, (tree, after) => {
              const text = treeText(tree);
              const want = bruteLocal(tree, after, CAP);
              const got = nextMs(text, after, "local");
              if (want !== null) {
                if (got !== want) throw new Error(`${text} after ${iso(after)}: next ${iso(got)}, reference ${iso(want)}`);
                if (!matches(text, new Date(want), "local")) throw new Error(`${text}: matches(${iso(want)}) is false`);
              } else if (got !== null && got < Math.floor(after / MINUTE) * MINUTE + (CAP + 1) * MINUTE) {
                throw new Error(`${text} after ${iso(after)}: next ${iso(got)} but the reference found nothing before it`);
              }
            }),
            { seed: request.property.seed, numRuns: request.property.numRuns },
          );
          return { failed: r.failed, numRuns: r.numRuns, detail: r.failed ? `seed ${r.seed} path ${r.counterexamplePath}: ${String(r.errorInstance)}` : "" };
        })();
  const reply: ChildReply = {
    zone: Intl.DateTimeFormat().resolvedOptions().timeZone,
    offsets: [new Date(2025, 0, 15).getTimezoneOffset(), new Date(2025, 6, 15).getTimezoneOffset()],
    sequences,
    matches: matchResults,
    transitions: transitions.length,
    property: result,
  };
  process.stdout.write(JSON.stringify(reply));
}

/** Runs this file in a child node with TZ=zone and returns what it computed. */
function inZone(zone: string, request: ChildRequest): Promise<ChildReply> {
  const loader = process.execArgv.filter((a) => a.includes("@tapjs/typescript"));
  return new Promise((resolve, reject) => {
    execFile(
      process.execPath,
      [...loader, fileURLToPath(import.meta.url)],
      { timeout: 60_000, maxBuffer: 16 << 20, env: { ...process.env, NODE_OPTIONS: "", TZ: zone, EMQ_CRON_CHILD: JSON.stringify(request) } },
      (err, stdout, stderr) => {
        if (err) reject(new Error(`child in ${zone} failed: ${err.message}\n${stderr}`));
        else resolve(JSON.parse(stdout) as ChildReply);
      },
    );
  });
}

// ---------------------------------------------------------------------------------------------
// The tests.

const Z = (s: string): number => Date.parse(s);

async function parentTests(): Promise<void> {
  const { default: t } = await import("tap");

  t.test("parsing: every generated expression gives exactly the reference's sets", async (t) => {
    fc.assert(
      fc.property(treeArb, (tree) => {
        const s = parseCron(treeText(tree));
        const expect = (i: number, lo: number, hi: number): number[] => {
          const out: number[] = [];
          for (let v = lo; v <= hi; v++) if (fieldHas(SPECS[i]!, tree[i]!, v)) out.push(v);
          return out;
        };
        const ok =
          JSON.stringify([s.minutes, s.hours, s.daysOfMonth, s.months, s.daysOfWeek]) ===
          JSON.stringify([expect(0, 0, 59), expect(1, 0, 23), expect(2, 1, 31), expect(3, 1, 12), expect(4, 0, 6)]);
        if (!ok) throw new Error(`${treeText(tree)} parsed to ${JSON.stringify(s)}`);
        if (s.dayOfMonthStar !== fieldText(tree[2]).startsWith("*") || s.dayOfWeekStar !== fieldText(tree[4]).startsWith("*")) {
          throw new Error(`${treeText(tree)}: star flags ${s.dayOfMonthStar} ${s.dayOfWeekStar}`);
        }
      }),
      { numRuns: 2000 },
    );
    t.pass("2000 random expressions parsed to the reference's value sets and star flags");
  });

  t.test("parsing: syntax details", async (t) => {
    const s = parseCron("  5,10-12,*/20\t1-5/2  */10 jan-MAR,Dec  Mon-fri,7 ");
    t.same(s.minutes, [0, 5, 10, 11, 12, 20, 40], "minute list of value, range and step");
    t.same(s.hours, [1, 3, 5], "hour range with a step");
    t.same(s.daysOfMonth, [1, 11, 21, 31], "*/10 over 1-31 starts at 1");
    t.same(s.months, [1, 2, 3, 12], "month names in any case, ranges and lists");
    t.same(s.daysOfWeek, [0, 1, 2, 3, 4, 5], "7 folds into 0 = Sunday");
    t.equal(s.expression, "5,10-12,*/20\t1-5/2  */10 jan-MAR,Dec  Mon-fri,7", "expression kept without the outer whitespace");
    t.ok(Object.isFrozen(s) && Object.isFrozen(s.minutes), "the schedule is frozen");
    t.same(JSON.parse(JSON.stringify(s)), s, "plain data: survives JSON");
    t.same(parseCron("10/20 * * * *").minutes, [10, 30, 50], "a/n runs from a to the end of the field");
    t.same(parseCron("* * * * 1/2").daysOfWeek, [1, 3, 5], "a/n in day of week stops at Saturday");
    t.same(parseCron("* * * * 1-7/2").daysOfWeek, [0, 1, 3, 5], "an explicit range to 7 reaches Sunday");
    t.same(parseCron("* * * * */2").daysOfWeek, [0, 2, 4, 6], "*/2 in day of week");
    t.same(parseCron("* * * * 7").daysOfWeek, parseCron("* * * * SUN").daysOfWeek, "7 and SUN");
    t.same(parseCron("* * * * 0,7").daysOfWeek, [0], "0 and 7 are one day");
    t.same(parseCron("00 05 01 01 *").minutes, [0], "leading zeros");
    t.same(parseCron("*/60 */24 */31 */12 */7").minutes, [0], "a step as large as the field");
    t.same(parseCron("59 23 31 12 6").daysOfWeek, [6], "the top of every range");
    const flags = (e: string): [boolean, boolean, boolean] => {
      const x = parseCron(e);
      return [x.dayOfMonthStar, x.dayOfWeekStar, x.wildcardTime];
    };
    t.same(flags("30 2 * * *"), [true, true, false], "fixed-time job");
    t.same(flags("*/5 2 1 * MON"), [false, false, true], "minute * makes it a wildcard job");
    t.same(flags("0 * */2 * 1-5"), [true, false, true], "*/2 counts as * for the day rule (Vixie)");
    t.same(flags("0 0 1-31 * 0-7"), [false, false, false], "a full range written out is not *");
  });

  t.test("parsing: macros", async (t) => {
    for (const [macro, expansion] of Object.entries(CRON_MACROS)) {
      const a = parseCron(macro);
      const b = parseCron(expansion);
      t.same({ ...a, expression: "" }, { ...b, expression: "" }, `${macro} = ${expansion}`);
      t.same(parseCron(` ${macro.toUpperCase()} `).minutes, b.minutes, `${macro.toUpperCase()} works too`);
    }
    t.same(Object.keys(CRON_MACROS).sort(), ["@annually", "@daily", "@hourly", "@midnight", "@monthly", "@weekly", "@yearly"]);
    t.equal(nextMs("@weekly", Z("2025-06-04T12:00:00Z")), Z("2025-06-08T00:00:00Z"), "@weekly is Sunday midnight");
    t.equal(nextMs("@hourly", Z("2025-06-04T12:00:00Z")), Z("2025-06-04T13:00:00Z"));
    t.equal(nextMs("@yearly", Z("2025-06-04T12:00:00Z")), Z("2026-01-01T00:00:00Z"));
  });

  t.test("parsing: invalid expressions give CronError naming the field and the bad part", async (t) => {
    const cases: [string, string, RegExp][] = [
      ["", "expression", /^empty cron expression$/],
      ["   \t ", "expression", /^empty cron expression$/],
      ["* * * *", "expression", /has 4 fields; expected 5 \(minute hour day-of-month month day-of-week\)/],
      ["* * * * * *", "expression", /has 6 fields; expected 5/],
      ["0", "expression", /has 1 field; expected 5/],
      ["60 * * * *", "minute", /^minute: "60" is out of range 0-59 in "60"$/],
      ["0-60 * * * *", "minute", /^minute: "60" is out of range 0-59 in "0-60"$/],
      ["99999999999999999999999 * * * *", "minute", /out of range 0-59/],
      ["* 24 * * *", "hour", /^hour: "24" is out of range 0-23/],
      ["* * 0 * *", "day-of-month", /^day-of-month: "0" is out of range 1-31/],
      ["* * 32 * *", "day-of-month", /"32" is out of range 1-31/],
      ["* * * 0 *", "month", /^month: "0" is out of range 1-12/],
      ["* * * 13 *", "month", /"13" is out of range 1-12/],
      ["* * * * 8", "day-of-week", /^day-of-week: "8" is out of range 0-7/],
      ["*/0 * * * *", "minute", /^minute: step "0" must be a whole number from 1 to 60 in "\*\/0"$/],
      ["*/-1 * * * *", "minute", /step "-1" must be a whole number/],
      ["* */x * * *", "hour", /^hour: step "x" must be a whole number from 1 to 24/],
      ["* */ * * *", "hour", /step "" must be a whole number/],
      ["*/61 * * * *", "minute", /step "61" must be a whole number from 1 to 60/],
      ["* * * * */8", "day-of-week", /step "8" must be a whole number from 1 to 7/],
      ["*/1.5 * * * *", "minute", /step "1.5"/],
      ["5-1 * * * *", "minute", /^minute: range "5-1" is reversed \(5 > 1\)$/],
      ["* * * DEC-JAN *", "month", /^month: range "DEC-JAN" is reversed \(12 > 1\)$/],
      ["* * * * SAT-SUN", "day-of-week", /range "SAT-SUN" is reversed \(6 > 0\)/],
      ["* * * FOO *", "month", /^month: unknown name "FOO" in "FOO" \(use JAN-DEC\)$/],
      ["* * * JANUARY *", "month", /unknown name "JANUARY"/],
      ["* * * * FRIDAY", "day-of-week", /unknown name "FRIDAY" in "FRIDAY" \(use SUN-SAT\)/],
      ["* * * * MON-XYZ", "day-of-week", /unknown name "XYZ" in "MON-XYZ"/],
      ["MON * * * *", "minute", /^minute: "MON" is not a number \(names are only allowed for months and days of the week\)$/],
      ["* * JAN * *", "day-of-month", /"JAN" is not a number/],
      ["* * L * *", "day-of-month", /"L" is not a number/],
      ["1,,2 * * * *", "minute", /^minute: empty list item$/],
      ["1, * * * *", "minute", /empty list item/],
      [",1 * * * *", "minute", /empty list item/],
      ["* * * * ,", "day-of-week", /empty list item/],
      ["1-2-3 * * * *", "minute", /^minute: more than one "-" in "1-2-3"$/],
      ["1/2/3 * * * *", "minute", /^minute: more than one "\/" in "1\/2\/3"$/],
      ["-5 * * * *", "minute", /^minute: incomplete range "-5"$/],
      ["5- * * * *", "minute", /incomplete range "5-"/],
      ["*-5 * * * *", "minute", /^minute: "\*" cannot be part of a range in "\*-5"$/],
      ["1x * * * *", "minute", /^minute: unexpected "1x" in "1x"$/],
      ["1;2 * * * *", "minute", /^minute: unexpected ";" in "1;2"$/],
      ["? * * * *", "minute", /unexpected "\?"/],
      ["0 0 1W * *", "day-of-month", /unexpected "1W"/],
      ["0 0 * * 1#2", "day-of-week", /unexpected "#" in "1#2"/],
      ["1.5 * * * *", "minute", /unexpected "\."/],
      ["\u0663 * * * *", "minute", /unexpected "\u0663"/],
      ["@reboot", "expression", /^unknown cron macro "@reboot" \(supported: @yearly, @annually, @monthly, @weekly, @daily, @midnight, @hourly\)$/],
      ["@daily *", "expression", /unknown cron macro "@daily \*"/],
      ["@", "expression", /unknown cron macro "@"/],
      ["* ".repeat(600), "expression", /longer than 1000 characters/],
    ];
    for (const [expr, field, message] of cases) {
      try {
        parseCron(expr);
        t.fail(`${JSON.stringify(expr)} was accepted`);
      } catch (e) {
        t.ok(e instanceof CronError, `${JSON.stringify(expr)} throws CronError`);
        const err = e as CronError;
        t.match(err, { name: "CronError", code: "EINVAL", field }, `${JSON.stringify(expr)}: code and field ${field}`);
        t.match(err.message, message, `${JSON.stringify(expr)}: ${err.message}`);
      }
    }
    const err = (() => {
      try {
        parseCron("0 0 5-1 * *");
      } catch (e) {
        return e as CronError;
      }
      return undefined;
    })();
    t.ok(err instanceof Error, "CronError is an Error");
    t.equal(err?.part, "5-1", "part is the offending list item");
    t.throws(() => parseCron(42 as unknown as string), { code: "EINVAL", field: "expression" }, "a non-string");
    t.throws(() => next("* * * * *", new Date(NaN), "UTC"), { code: "EINVAL", field: "argument" }, "an invalid Date");
    t.throws(() => next("* * * * *", new Date(), "Europe/Berlin" as CronTimeZone), { code: "EINVAL", field: "argument" }, "an unknown zone");
    t.throws(() => matches("61 * * * *", new Date(), "UTC"), { code: "EINVAL", field: "minute" }, "matches parses strings too");
  });

  t.test("parsing: garbage never throws anything but CronError and never hangs", async (t) => {
    const alphabet = fc.constantFrom(..."0123456789*/,- \t@?#LW".split(""), "JAN", "mon", "x", "7", "60", "\u00e9", "\n");
    const mutated = fc
      .tuple(denseTreeArb, fc.array(fc.tuple(fc.nat(), alphabet, fc.boolean()), { maxLength: 4 }))
      .map(([tree, edits]) => {
        let s = treeText(tree);
        for (const [at, piece, replace] of edits) {
          const i = at % (s.length + 1);
          s = s.slice(0, i) + piece + s.slice(replace ? i + 1 : i);
        }
        return s;
      });
    const soup = fc.array(alphabet, { maxLength: 20 }).map((a) => a.join(""));
    let parsed = 0;
    let refused = 0;
    let slowest = 0;
    const garbage = fc.oneof(fc.string({ maxLength: 60, unit: "binary" }), fc.string({ maxLength: 30 }), { weight: 4, arbitrary: mutated }, soup);
    fc.assert(
      fc.property(garbage, startArb, (text, after) => {
        const started = performance.now();
        let s: CronSchedule;
        try {
          s = parseCron(text);
        } catch (e) {
          if (!(e instanceof CronError) || e.code !== "EINVAL") throw e;
          refused++;
          return;
        }
        parsed++;
        const n = next(s, new Date(after), "UTC");
        if (n !== null && !(n.getTime() > after && matches(s, n, "UTC"))) throw new Error(`${text}: bad next ${iso(n.getTime())}`);
        next(s, new Date(after), "local");
        slowest = Math.max(slowest, performance.now() - started);
      }),
      { numRuns: 3000 },
    );
    t.ok(parsed > 150 && refused > 150, `both outcomes were exercised (${parsed} parsed, ${refused} refused)`);
    t.ok(slowest < 1000, `every parse + next took under a second (slowest ${slowest.toFixed(1)} ms)`);
  });

  t.test("next() against a minute-by-minute brute force (UTC, 31-day cap)", async (t) => {
    const CAP = 31 * 24 * 60;
    let found = 0;
    fc.assert(
      fc.property(denseTreeArb, startArb, (tree, after) => {
        const text = treeText(tree);
        const want = bruteMinutes(tree, after, CAP);
        const got = nextMs(text, after);
        if (want !== null) {
          found++;
          if (got !== want) throw new Error(`${text} after ${iso(after)}: next ${iso(got)}, brute force ${iso(want)}`);
        } else if (got !== null && got < Math.floor(after / MINUTE) * MINUTE + (CAP + 1) * MINUTE) {
          throw new Error(`${text} after ${iso(after)}: next ${iso(got)} but the brute force found nothing before it`);
        }
      }),
      { numRuns: 400 },
    );
    t.ok(found > 300, `${found} of 400 runs had a match within the cap and agreed`);
  });

  t.test("next() against an exhaustive day-then-minute search (UTC, 30-year cap)", async (t) => {
    const CAP_DAYS = 30 * 366;
    let found = 0;
    let none = 0;
    fc.assert(
      fc.property(treeArb, startArb, (tree, after) => {
        const text = treeText(tree);
        const want = bruteDays(tree, after, CAP_DAYS);
        const got = nextMs(text, after);
        if (want !== null) {
          found++;
          if (got !== want) throw new Error(`${text} after ${iso(after)}: next ${iso(got)}, reference ${iso(want)}`);
        } else {
          none++;
          if (got !== null && got < after + CAP_DAYS * DAY) throw new Error(`${text} after ${iso(after)}: next ${iso(got)}, reference found nothing`);
        }
      }),
      { numRuns: 1500 },
    );
    t.ok(found > 1000, `${found} runs agreed on a match, ${none} had none within 30 years`);
  });

  t.test("next() against the exhaustive search on impossible-looking day combinations", async (t) => {
    // Days 29-31 in short months with or without weekdays: the sparse corner of the calendar.
    const monthEndTree = fc
      .tuple(
        fc.subarray([29, 30, 31], { minLength: 1 }),
        fc.subarray([2, 4, 6, 9, 11], { minLength: 1 }),
        fc.oneof({ weight: 3, arbitrary: fc.constant(undefined) }, { weight: 1, arbitrary: fc.integer({ min: 0, max: 7 }) }),
        fc.oneof({ weight: 4, arbitrary: fc.constant(false) }, { weight: 1, arbitrary: fc.constant(true) }),
      )
      .map(([days, months, weekday, starDom]): Tree => {
        const v = (n: number): Val => ({ n, text: String(n) });
        const dom: Field = starDom ? [{ kind: "star", step: 29 }] : days.map((d) => ({ kind: "value", v: v(d) }));
        const dow: Field = weekday === undefined ? [{ kind: "star" }] : [{ kind: "value", v: v(weekday) }];
        const midnight: Field = [{ kind: "value", v: v(0) }];
        return [midnight, midnight, dom, months.map((m) => ({ kind: "value", v: v(m) })), dow];
      });
    let none = 0;
    fc.assert(
      fc.property(monthEndTree, startArb, (tree, after) => {
        const text = treeText(tree);
        const want = bruteDays(tree, after, 30 * 366);
        const got = nextMs(text, after);
        if (want === null) none++;
        if (want !== null ? got !== want : got !== null && got < after + 30 * 366 * DAY) {
          throw new Error(`${text} after ${iso(after)}: next ${iso(got)}, reference ${iso(want)}`);
        }
      }),
      { numRuns: 400 },
    );
    t.ok(none >= 5 && none < 400, `${none} of 400 had no match within 30 years (and next() agreed)`);
  });

  t.test("matches() in UTC is the reference's matcher; next() lands on whole matching minutes", async (t) => {
    fc.assert(
      fc.property(treeArb, fc.integer({ min: YEAR_1900, max: YEAR_2300 }), (tree, at) => {
        const text = treeText(tree);
        const want = refMatches(tree, utcWall(at));
        if (matches(text, new Date(at), "UTC") !== want) throw new Error(`${text} at ${iso(at)}: matches should be ${want}`);
        const n = nextMs(text, at);
        if (n === null) return;
        if (n % MINUTE !== 0 || n <= at || !matches(text, new Date(n), "UTC")) throw new Error(`${text} after ${iso(at)}: next ${iso(n)}`);
        if (nextMs(text, n - 1) !== n) throw new Error(`${text}: next(${iso(n)} - 1 ms) is not ${iso(n)}`);
      }),
      { numRuns: 2000 },
    );
    t.pass("2000 random (expression, instant) pairs");
  });

  t.test("strictly after, whole minutes, year rollover", async (t) => {
    t.equal(nextMs("* * * * *", Z("2025-06-01T12:00:00.000Z")), Z("2025-06-01T12:01:00Z"), "an exact minute is not 'after' itself");
    t.equal(nextMs("* * * * *", Z("2025-06-01T12:00:00.001Z")), Z("2025-06-01T12:01:00Z"));
    t.equal(nextMs("* * * * *", Z("2025-06-01T11:59:59.999Z")), Z("2025-06-01T12:00:00Z"));
    t.equal(nextMs("* * * * *", Z("2025-12-31T23:59:30Z")), Z("2026-01-01T00:00:00Z"), "minute rollover into the new year");
    t.equal(nextMs("59 23 31 12 *", Z("2025-12-31T23:59:00Z")), Z("2026-12-31T23:59:00Z"), "last minute of the year, a year later");
    t.equal(nextMs("0 0 1 1 *", Z("2025-12-31T23:59:59.999Z")), Z("2026-01-01T00:00:00Z"));
    t.equal(nextMs("0 0 1 JAN MON", Z("2025-12-20T00:00:00Z")), Z("2026-01-01T00:00:00Z"), "the OR rule never overrides the month");
    t.equal(nextMs("0 0 * JAN MON", Z("2025-12-20T00:00:00Z")), Z("2026-01-05T00:00:00Z"), "first Monday of January 2026");
    t.equal(nextMs("0 0 * * *", Date.UTC(1969, 11, 31, 12)), Z("1970-01-01T00:00:00Z"), "across the epoch");
    const y49 = new Date(0);
    y49.setUTCFullYear(49, 5, 1);
    const y50 = new Date(0);
    y50.setUTCFullYear(50, 0, 1);
    t.equal(nextMs("0 0 1 1 *", y49.getTime()), y50.getTime(), "years 0-99 are not taken for 1900-1999");
    t.equal(nextMs("* * * * *", 8.64e15 - 30_000), 8.64e15, "the last representable minute");
    t.equal(nextMs("0 0 1 1 *", 8.64e15 - 30_000), null, "nothing after the end of Date's range");
  });

  t.test("month ends and leap years", async (t) => {
    const seq = (e: string, from: string, n: number): string[] => {
      const out: string[] = [];
      let at: number | null = Z(from);
      for (let i = 0; i < n && at !== null; i++) {
        at = nextMs(e, at);
        if (at !== null) out.push(new Date(at).toISOString().slice(0, 10));
      }
      return out;
    };
    t.same(
      seq("0 0 31 * *", "2025-01-01T00:00:00Z", 8),
      ["2025-01-31", "2025-03-31", "2025-05-31", "2025-07-31", "2025-08-31", "2025-10-31", "2025-12-31", "2026-01-31"],
      "the 31st skips short months",
    );
    t.same(seq("0 0 30 * *", "2025-01-01T00:00:00Z", 3), ["2025-01-30", "2025-03-30", "2025-04-30"], "the 30th skips February");
    t.same(seq("0 0 29 2 *", "2023-01-01T00:00:00Z", 3), ["2024-02-29", "2028-02-29", "2032-02-29"], "Feb 29 only in leap years");
    t.same(seq("0 0 29 2 *", "2096-03-01T00:00:00Z", 2), ["2104-02-29", "2108-02-29"], "2100 is not a leap year");
    t.same(seq("0 0 29 2 *", "1996-03-01T00:00:00Z", 1), ["2000-02-29"], "2000 is");
    t.same(seq("0 0 28-31 * *", "2025-02-27T00:00:00Z", 3), ["2025-02-28", "2025-03-28", "2025-03-29"], "28-31 in February 2025");
    t.same(seq("0 0 31 4,6,9,11 *", "2025-01-01T00:00:00Z", 1), [], "April 31 and friends: never");
    t.equal(nextMs("0 0 30 2 *", Z("2025-01-01T00:00:00Z")), null, "Feb 30: null");
    t.equal(nextMs("0 0 30,31 2 *", Z("2025-01-01T00:00:00Z")), null, "Feb 30/31: null");
    t.equal(nextMs("0 0 30 2 MON", Z("2025-01-01T00:00:00Z")), Z("2025-02-03T00:00:00Z"), "Feb 30 or a Monday in February: the Monday");
  });

  t.test("days of week: names, 7 = Sunday, and the day-of-month / day-of-week rule", async (t) => {
    const days = (e: string, from: string, n: number): string[] => {
      const out: string[] = [];
      let at: number | null = Z(from);
      for (let i = 0; i < n && at !== null; i++) {
        at = nextMs(e, at);
        if (at !== null) out.push(new Date(at).toISOString().slice(0, 10));
      }
      return out;
    };
    // June 2025: Sunday the 1st, Friday the 6th and 13th.
    const sundays = ["2025-06-01", "2025-06-08", "2025-06-15"];
    for (const e of ["0 12 * * 0", "0 12 * * 7", "0 12 * * SUN", "0 12 * * sun", "0 12 * * Sun"]) t.same(days(e, "2025-05-31T00:00:00Z", 3), sundays, `${e}: Sundays`);
    t.same(days("0 12 * * 5-7", "2025-06-01T13:00:00Z", 4), ["2025-06-06", "2025-06-07", "2025-06-08", "2025-06-13"], "5-7 = Fri, Sat, Sun");
    t.same(days("0 12 * * FRI-SAT", "2025-06-01T00:00:00Z", 3), ["2025-06-06", "2025-06-07", "2025-06-13"], "name range");
    t.same(days("0 9 * * MON-FRI", "2025-06-06T10:00:00Z", 2), ["2025-06-09", "2025-06-10"], "weekdays skip the weekend");
    t.same(days("0 0 * FEB-MAR MON", "2025-01-01T00:00:00Z", 2), ["2025-02-03", "2025-02-10"], "month names with a weekday");
    t.same(
      days("0 0 13 * FRI", "2025-06-01T00:00:00Z", 7),
      ["2025-06-06", "2025-06-13", "2025-06-20", "2025-06-27", "2025-07-04", "2025-07-11", "2025-07-13"],
      "both restricted: the 13th OR a Friday",
    );
    t.same(days("0 0 13 * *", "2025-06-01T00:00:00Z", 2), ["2025-06-13", "2025-07-13"], "day of week * : only the 13th counts");
    t.same(days("0 0 * * FRI", "2025-06-01T00:00:00Z", 2), ["2025-06-06", "2025-06-13"], "day of month * : only Fridays count");
    t.same(days("0 0 1-31 * FRI", "2025-06-01T00:00:00Z", 2), ["2025-06-02", "2025-06-03"], "1-31 is restricted, so OR: every day");
    t.same(days("0 0 */2 * MON", "2025-06-01T00:00:00Z", 3), ["2025-06-09", "2025-06-23", "2025-07-07"], "*/2 starts with *, so AND (Vixie): Mondays on odd days");
    t.same(days("0 0 */15 2 MON", "2025-01-01T00:00:00Z", 3), ["2026-02-16", "2027-02-01", "2032-02-16"], "Feb 1 or 16 that is a Monday (AND): years apart");
    t.same(days("0 0 29 2 MON", "2025-01-01T00:00:00Z", 2), ["2025-02-03", "2025-02-10"], "OR: Feb 29 or any Monday in February");
    t.same(days("0 0 29 2 *", "2025-01-01T00:00:00Z", 1), ["2028-02-29"]);
    t.same(days("0 0 */29 2 SUN", "2040-01-01T00:00:00Z", 1), ["2043-02-01"], "Feb 1 on a Sunday (AND)");
  });

  t.test("impossible expressions end quickly with null", async (t) => {
    for (const e of ["0 0 30 2 *", "0 0 31 2,4,6,9,11 *", "* * 30-31 2 *", "59 23 31 4 *", "0 0 31 2-6/2 *"]) {
      const started = performance.now();
      const got = next(e, new Date(Z("2025-01-01T00:00:00Z")), "UTC");
      const ms = performance.now() - started;
      t.equal(got, null, `${e}: null`);
      t.ok(ms < 500, `${e}: ${ms.toFixed(2)} ms for 400 years of calendar`);
      t.equal(next(e, new Date(Z("2025-01-01T00:00:00Z")), "local"), null, `${e}: null in local time too`);
    }
    t.not(nextMs("0 0 */30 2 *", Z("2025-01-01T00:00:00Z")), null, "but */30 in February does have the 1st");
    const started = performance.now();
    let fired = 0;
    let at = Z("2025-01-01T00:00:00Z");
    for (let i = 0; i < 1000; i++) {
      const n = nextMs("0 0 29 2 *", at);
      if (n === null) break;
      at = n;
      fired++;
    }
    const ms = performance.now() - started;
    t.equal(fired, 1000, "a thousand leap days");
    t.ok(ms < 2000, `1000 leap-day searches in ${ms.toFixed(1)} ms (month skipping, not minute stepping)`);
  });

  t.test("daylight saving time in local time (child processes with TZ)", async (t) => {
    const seed = Date.now() % 1_000_000;
    const property = { seed, numRuns: 300, from: Z("2024-01-01T00:00:00Z"), to: Z("2027-01-01T00:00:00Z") };

    t.test("America/New_York", async (t) => {
      // 2025: Mar 9 02:00 EST -> 03:00 EDT at 07:00Z; Nov 2 02:00 EDT -> 01:00 EST at 06:00Z.
      const q = [
        ["30 2 * * *", "2025-03-09T05:00:00Z", 2, ["2025-03-09T07:00:00.000Z", "2025-03-10T06:30:00.000Z"], "a skipped fixed time runs once at the jump (03:00 EDT)"],
        ["0,15,30,45 2 * * *", "2025-03-09T06:59:00Z", 2, ["2025-03-09T07:00:00.000Z", "2025-03-10T06:00:00.000Z"], "four skipped times collapse into one run"],
        ["0 3 * * *", "2025-03-09T06:00:00Z", 1, ["2025-03-09T07:00:00.000Z"], "03:00 itself is normal"],
        ["*/15 * * * *", "2025-03-09T06:40:00Z", 3, ["2025-03-09T06:45:00.000Z", "2025-03-09T07:00:00.000Z", "2025-03-09T07:15:00.000Z"], "a wildcard job keeps real time: 01:45 EST then 03:00 EDT"],
        ["30 * * * *", "2025-03-09T06:00:00Z", 2, ["2025-03-09T06:30:00.000Z", "2025-03-09T07:30:00.000Z"], "an hourly job does not make up 02:30"],
        ["30 1 * * *", "2025-11-02T04:00:00Z", 2, ["2025-11-02T05:30:00.000Z", "2025-11-03T06:30:00.000Z"], "a repeated fixed time runs once, on the first pass"],
        ["30 1 * * *", "2025-11-02T05:45:00Z", 1, ["2025-11-03T06:30:00.000Z"], "and not on the second pass"],
        ["*/30 * * * *", "2025-11-02T04:45:00Z", 5, ["2025-11-02T05:00:00.000Z", "2025-11-02T05:30:00.000Z", "2025-11-02T06:00:00.000Z", "2025-11-02T06:30:00.000Z", "2025-11-02T07:00:00.000Z"], "a wildcard job runs in both passes: every 30 real minutes"],
        ["@hourly", "2025-11-02T04:30:00Z", 3, ["2025-11-02T05:00:00.000Z", "2025-11-02T06:00:00.000Z", "2025-11-02T07:00:00.000Z"], "@hourly: 01:00 EDT, 01:00 EST, 02:00 EST"],
        ["10 * * * *", "2025-11-02T05:50:00Z", 1, ["2025-11-02T06:10:00.000Z"], "from inside the first pass, 01:10 EST comes next"],
        ["0 0 * * *", "2025-03-08T12:00:00Z", 3, ["2025-03-09T05:00:00.000Z", "2025-03-10T04:00:00.000Z", "2025-03-11T04:00:00.000Z"], "@daily is midnight local on both sides"],
        ["0 12 1 * *", "2025-01-01T00:00:00Z", 3, ["2025-01-01T17:00:00.000Z", "2025-02-01T17:00:00.000Z", "2025-03-01T17:00:00.000Z"], "noon local on the 1st"],
        ["0 0 30 2 *", "2025-01-01T00:00:00Z", 1, [null], "impossible: null"],
      ] as const;
      const m = [
        ["30 2 * * *", "2025-03-09T07:00:00Z", true],
        ["30 2 * * *", "2025-03-09T07:30:00Z", false],
        ["30 1 * * *", "2025-11-02T05:30:00Z", true],
        ["30 1 * * *", "2025-11-02T06:30:00Z", false],
        ["*/30 * * * *", "2025-11-02T06:30:20Z", true],
        ["0 12 * * *", "2025-07-01T16:00:59Z", true],
        ["0 12 * * *", "2025-07-01T12:00:00Z", false],
      ] as const;
      await checkZone(t, "America/New_York", [300, 240], q, m, property);
    });

    t.test("Europe/Berlin", async (t) => {
      // 2025: Mar 30 02:00 CET -> 03:00 CEST at 01:00Z; Oct 26 03:00 CEST -> 02:00 CET at 01:00Z.
      const q = [
        ["30 2 * * *", "2025-03-30T00:00:00Z", 2, ["2025-03-30T01:00:00.000Z", "2025-03-31T00:30:00.000Z"], "skipped 02:30 runs at 03:00 CEST"],
        ["30 2 * * *", "2025-10-26T00:00:00Z", 2, ["2025-10-26T00:30:00.000Z", "2025-10-27T01:30:00.000Z"], "repeated 02:30 runs once (CEST)"],
        ["*/30 2 * * *", "2025-10-25T23:00:00Z", 5, ["2025-10-26T00:00:00.000Z", "2025-10-26T00:30:00.000Z", "2025-10-26T01:00:00.000Z", "2025-10-26T01:30:00.000Z", "2025-10-27T01:00:00.000Z"], "minute * is a wildcard job: both passes"],
        ["0 2 * * SUN", "2025-03-29T00:00:00Z", 2, ["2025-03-30T01:00:00.000Z", "2025-04-06T00:00:00.000Z"], "Sunday 02:00 on the change day"],
      ] as const;
      const m = [
        ["30 2 * * *", "2025-03-30T01:00:00Z", true],
        ["0 3 * * *", "2025-03-30T01:00:00Z", true],
        ["30 2 * * *", "2025-10-26T01:30:00Z", false],
      ] as const;
      await checkZone(t, "Europe/Berlin", [-60, -120], q, m, property);
    });

    t.test("Australia/Lord_Howe (half-hour DST, southern hemisphere)", async (t) => {
      // 2025: Apr 6 02:00 +11 -> 01:30 +10:30 at 15:00Z Apr 5; Oct 5 02:00 +10:30 -> 02:30 +11 at 15:30Z Oct 4.
      const q = [
        ["15 2 * * *", "2025-10-04T12:00:00Z", 2, ["2025-10-04T15:30:00.000Z", "2025-10-05T15:15:00.000Z"], "02:15 skipped: runs at 02:30 +11"],
        ["45 1 * * *", "2025-04-05T12:00:00Z", 2, ["2025-04-05T14:45:00.000Z", "2025-04-06T15:15:00.000Z"], "01:45 repeated: runs once"],
        ["*/15 * * * *", "2025-04-05T14:40:00Z", 4, ["2025-04-05T14:45:00.000Z", "2025-04-05T15:00:00.000Z", "2025-04-05T15:15:00.000Z", "2025-04-05T15:30:00.000Z"], "every 15 real minutes through the repeat"],
      ] as const;
      await checkZone(t, "Australia/Lord_Howe", [-660, -630], q, [], property);
    });
  });
}

type Query = readonly [string, string, number, readonly (string | null)[], string];
type MatchQuery = readonly [string, string, boolean];

async function checkZone(
  t: Test,
  zone: string,
  offsets: readonly number[],
  queries: readonly Query[],
  matchQueries: readonly MatchQuery[],
  property: ChildRequest["property"],
): Promise<void> {
  const reply = await inZone(zone, {
    queries: queries.map(([expr, after, count]) => ({ expr, after, count })),
    matchQueries: matchQueries.map(([expr, at]) => ({ expr, at })),
    property,
  });
  t.same([reply.zone, reply.offsets], [zone, offsets], `the child runs in ${zone}`);
  queries.forEach(([expr, after, , want, why], i) => t.same(reply.sequences[i], want, `${expr} after ${after}: ${why}`));
  matchQueries.forEach(([expr, at, want], i) => t.equal(reply.matches[i], want, `matches(${expr}, ${at}) = ${want}`));
  t.ok(reply.transitions >= 4, `${reply.transitions} offset changes found in 2024-2026`);
  t.notOk(reply.property.failed, `next() = DST-aware minute-by-minute reference near every change (${reply.property.numRuns} runs, seed ${property.seed}) ${reply.property.detail}`);
}

if (process.env.EMQ_CRON_CHILD) runChild(JSON.parse(process.env.EMQ_CRON_CHILD) as ChildRequest);
else await parentTests();
