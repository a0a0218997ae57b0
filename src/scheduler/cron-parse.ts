// Parsing a 5-field cron expression into the sets of values each field allows.
//
// Grammar of one field (a comma-separated list of items, no spaces inside a field):
//   item  = base [ "/" step ]
//   base  = "*" | value | value "-" value
//   value = decimal digits | a three-letter name (months JAN-DEC, days SUN-SAT, any case)
//   step  = decimal digits, 1 up to the number of values the field has (60, 24, 31, 12, 7)
// `*/n` steps from the field's first value, `a-b/n` from a to b, and `a/n` from a to the field's
// last value. A value without a step and without a range is just that value.
//
// Day of week accepts 0-7 where 0 and 7 are both Sunday; the sets below fold 7 into 0. `*` and
// `a/n` in that field cover 0-6 (one week), so `1/2` is Mon, Wed, Fri and not Sunday as well;
// an explicit range reaching 7 (`1-7/2`) does include Sunday.
//
// Macros: @yearly and @annually (0 0 1 1 *), @monthly (0 0 1 * *), @weekly (0 0 * * 0),
// @daily and @midnight (0 0 * * *), @hourly (0 * * * *), case-insensitive. @reboot is not a time
// and is refused.
//
// Everything else is refused with a CronError naming the field and the offending text; the parser
// is a single left-to-right pass over the input, so no input makes it slow.

export type CronFieldName = "minute" | "hour" | "day-of-month" | "month" | "day-of-week";

export class CronError extends Error {
  readonly code = "EINVAL";
  /** The field at fault, "expression" for the whole string, "argument" for a bad Date or zone. */
  readonly field: CronFieldName | "expression" | "argument";
  /** The text that was refused (a list item, a field, or the whole expression). */
  readonly part: string;

  constructor(field: CronFieldName | "expression" | "argument", part: string, message: string) {
    super(message);
    this.name = "CronError";
    this.field = field;
    this.part = part;
  }
}

/**
 * A parsed cron expression: for each field the sorted, distinct values it allows, plus the flags
 * the matching rules need. Plain data (it survives JSON), but build it with parseCron.
 */
export interface CronSchedule {
  /** The expression as given, without surrounding whitespace (a macro stays a macro). */
  readonly expression: string;
  readonly minutes: readonly number[]; // 0-59
  readonly hours: readonly number[]; // 0-23
  readonly daysOfMonth: readonly number[]; // 1-31
  readonly months: readonly number[]; // 1-12
  readonly daysOfWeek: readonly number[]; // 0-6, 0 = Sunday (7 folded into 0)
  /**
   * The day-of-month / day-of-week field was written starting with `*` (`*`, `*\/2`, `*,5` ...).
   * As in Vixie cron, a day matches both day fields' sets when either flag is set, and either
   * set when neither is (see dayMatches).
   */
  readonly dayOfMonthStar: boolean;
  readonly dayOfWeekStar: boolean;
  /**
   * The minute or the hour field starts with `*`: a "wildcard" job in Vixie cron's terms, which
   * follows real time across daylight-saving changes instead of firing once per wall-clock time.
   */
  readonly wildcardTime: boolean;
}

interface FieldSpec {
  readonly name: CronFieldName;
  readonly min: number;
  readonly max: number; // the highest value accepted in the text
  readonly openEnd: number; // where `*` and `a/n` stop
  readonly names?: readonly string[]; // names[i] has the value min + i
}

const FIELDS: readonly FieldSpec[] = [
  { name: "minute", min: 0, max: 59, openEnd: 59 },
  { name: "hour", min: 0, max: 23, openEnd: 23 },
  { name: "day-of-month", min: 1, max: 31, openEnd: 31 },
  {
    name: "month",
    min: 1,
    max: 12,
    openEnd: 12,
    names: ["JAN", "FEB", "MAR", "APR", "MAY", "JUN", "JUL", "AUG", "SEP", "OCT", "NOV", "DEC"],
  },
  { name: "day-of-week", min: 0, max: 7, openEnd: 6, names: ["SUN", "MON", "TUE", "WED", "THU", "FRI", "SAT"] },
];

export const CRON_MACROS: Readonly<Record<string, string>> = {
  "@yearly": "0 0 1 1 *",
  "@annually": "0 0 1 1 *",
  "@monthly": "0 0 1 * *",
  "@weekly": "0 0 * * 0",
  "@daily": "0 0 * * *",
  "@midnight": "0 0 * * *",
  "@hourly": "0 * * * *",
};

/** Longer than any sensible expression; refusing it early keeps error messages short too. */
const MAX_LENGTH = 1000;

/** Quote text for an error message, shortened and with control characters made visible. */
function q(text: string): string {
  const cut = text.length > 40 ? `${text.slice(0, 40)}...` : text;
  return JSON.stringify(cut);
}

function parseValue(spec: FieldSpec, text: string, item: string): number {
  if (/^[0-9]+$/.test(text)) {
    const n = Number(text);
    if (n < spec.min || n > spec.max) {
      throw new CronError(spec.name, item, `${spec.name}: ${q(text)} is out of range ${spec.min}-${spec.max} in ${q(item)}`);
    }
    return n;
  }
  if (/^[A-Za-z]+$/.test(text)) {
    if (!spec.names) {
      throw new CronError(spec.name, item, `${spec.name}: ${q(text)} is not a number (names are only allowed for months and days of the week)`);
    }
    const i = spec.names.indexOf(text.toUpperCase());
    if (i < 0) {
      throw new CronError(spec.name, item, `${spec.name}: unknown name ${q(text)} in ${q(item)} (use ${spec.names[0]}-${spec.names[spec.names.length - 1]})`);
    }
    return spec.min + i;
  }
  if (text === "") {
    throw new CronError(spec.name, item, `${spec.name}: incomplete range ${q(item)}`);
  }
  if (text === "*") {
    throw new CronError(spec.name, item, `${spec.name}: "*" cannot be part of a range in ${q(item)}`);
  }
  const bad = [...text].find((c) => !/[0-9A-Za-z]/.test(c)) ?? text;
  throw new CronError(spec.name, item, `${spec.name}: unexpected ${q(bad)} in ${q(item)}`);
}

function parseStep(spec: FieldSpec, text: string, item: string): number {
  const size = spec.openEnd - spec.min + 1;
  if (/^[0-9]+$/.test(text)) {
    const n = Number(text);
    if (n >= 1 && n <= size) return n;
  }
  throw new CronError(spec.name, item, `${spec.name}: step ${q(text)} must be a whole number from 1 to ${size} in ${q(item)}`);
}

/** Adds the values of one list item to `into`. */
function parseItem(spec: FieldSpec, item: string, into: Set<number>): void {
  if (item === "") throw new CronError(spec.name, item, `${spec.name}: empty list item`);
  const slash = item.split("/");
  if (slash.length > 2) throw new CronError(spec.name, item, `${spec.name}: more than one "/" in ${q(item)}`);
  const [base, stepText] = slash as [string, string | undefined];
  const step = stepText === undefined ? 1 : parseStep(spec, stepText, item);
  let from: number;
  let to: number;
  if (base === "*") {
    from = spec.min;
    to = spec.openEnd;
  } else {
    const dash = base.split("-");
    if (dash.length > 2) throw new CronError(spec.name, item, `${spec.name}: more than one "-" in ${q(item)}`);
    from = parseValue(spec, dash[0]!, item);
    if (dash.length === 2) {
      to = parseValue(spec, dash[1]!, item);
      if (from > to) {
        throw new CronError(spec.name, item, `${spec.name}: range ${q(base)} is reversed (${from} > ${to})`);
      }
    } else {
      to = stepText === undefined ? from : Math.max(from, spec.openEnd);
    }
  }
  for (let v = from; v <= to; v += step) into.add(v);
}

function parseField(spec: FieldSpec, text: string): number[] {
  const values = new Set<number>();
  for (const item of text.split(",")) parseItem(spec, item, values);
  if (spec.name === "day-of-week" && values.delete(7)) values.add(0);
  return [...values].sort((a, b) => a - b);
}

/**
 * Parses a 5-field cron expression (minute hour day-of-month month day-of-week) or one of the
 * macros in CRON_MACROS. Throws CronError (code "EINVAL") for anything else.
 */
export function parseCron(expr: string): CronSchedule {
  if (typeof expr !== "string") throw new CronError("expression", String(expr), "cron expression must be a string");
  const expression = expr.trim();
  if (expression.length > MAX_LENGTH) {
    throw new CronError("expression", expression, `cron expression is longer than ${MAX_LENGTH} characters`);
  }
  if (expression === "") throw new CronError("expression", expression, "empty cron expression");
  let text = expression;
  if (expression.startsWith("@")) {
    const macro = CRON_MACROS[expression.toLowerCase()];
    if (macro === undefined) {
      throw new CronError("expression", expression, `unknown cron macro ${q(expression)} (supported: ${Object.keys(CRON_MACROS).join(", ")})`);
    }
    text = macro;
  }
  const fields = text.split(/\s+/);
  if (fields.length !== 5) {
    throw new CronError(
      "expression",
      expression,
      `cron expression ${q(expression)} has ${fields.length} field${fields.length === 1 ? "" : "s"}; expected 5 (minute hour day-of-month month day-of-week)`,
    );
  }
  const [minutes, hours, daysOfMonth, months, daysOfWeek] = FIELDS.map((spec, i) => parseField(spec, fields[i]!)) as [
    number[],
    number[],
    number[],
    number[],
    number[],
  ];
  return Object.freeze({
    expression,
    minutes: Object.freeze(minutes),
    hours: Object.freeze(hours),
    daysOfMonth: Object.freeze(daysOfMonth),
    months: Object.freeze(months),
    daysOfWeek: Object.freeze(daysOfWeek),
    dayOfMonthStar: fields[2]!.startsWith("*"),
    dayOfWeekStar: fields[4]!.startsWith("*"),
    wildcardTime: fields[0]!.startsWith("*") || fields[1]!.startsWith("*"),
  });
}
