// Checks on what a request carries: names, headers, query parameters and body fields. Each one
// throws the ApiError Marconi v1 would answer with (reference marconi.md §1.5, §1.6), so route code
// reads top to bottom without status bookkeeping.

import { ApiError, TITLE, invalidBody, invalidCall } from "./errors.js";
import { LIMITS } from "./limits.js";

const QUEUE_NAME = /^[A-Za-z0-9_-]+$/;
const CANONICAL_UUID = /^[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}$/;

export function checkQueueName(name: string): string {
  if (name.length === 0 || name.length > LIMITS.queueNameMax || !QUEUE_NAME.test(name)) {
    throw new ApiError(
      400,
      TITLE.invalidQueue,
      `Queue names may not be more than ${LIMITS.queueNameMax} characters long, and may only contain ASCII letters, digits, underscores and dashes.`,
    );
  }
  return name;
}

/** The project scope: undefined (no header) is the global scope, distinct from every project. */
export function checkProject(value: string | undefined): string | undefined {
  if (value === undefined) return undefined;
  if (value === "") throw new ApiError(400, TITLE.emptyProject, "X-Project-ID may not be an empty string.");
  if (value.length > LIMITS.projectIdMax) {
    throw new ApiError(400, TITLE.invalidQueue, `Project ids may not be more than ${LIMITS.projectIdMax} characters long.`);
  }
  return value;
}

/**
 * Client-ID must be a UUID, read the way Python's uuid.UUID() reads one (Marconi used it): optional
 * `urn:` / `uuid:` prefixes and braces, hyphens anywhere, 32 hex digits. The canonical lower-case
 * form is what echo suppression compares, so `{ABC...}` and `abc-...` are the same client.
 */
export function checkClientId(value: string | undefined): string {
  if (value === undefined) throw new ApiError(400, TITLE.missingHeader, "The Client-ID header is required.");
  if (CANONICAL_UUID.test(value)) return value; // the usual form, already as it would come out
  let hex = value.replace(/urn:/g, "").replace(/uuid:/g, "");
  hex = hex.replace(/^[{}]+|[{}]+$/g, "").replace(/-/g, "");
  if (!/^[0-9a-fA-F]{32}$/.test(hex)) throw invalidCall("Malformed hexadecimal UUID.");
  hex = hex.toLowerCase();
  return `${hex.slice(0, 8)}-${hex.slice(8, 12)}-${hex.slice(12, 16)}-${hex.slice(16, 20)}-${hex.slice(20)}`;
}

/** An integer query parameter such as `limit`; absent → the default. */
export function queryLimit(query: URLSearchParams, name: string, fallback: number, max: number): number {
  const raw = query.get(name);
  if (raw === null) return fallback;
  if (!/^[+-]?\d+$/.test(raw.trim())) {
    throw new ApiError(400, TITLE.invalidParameter, `The "${name}" query parameter must be an integer.`);
  }
  const n = Number(raw);
  if (!(n >= 1 && n <= max)) throw invalidCall(`Limit must be at least 1 and no greater than ${max}.`);
  return n;
}

const TRUE = new Set(["true", "yes", "1", "on", "y", "t"]);
const FALSE = new Set(["false", "no", "0", "off", "n", "f"]);

export function queryBool(query: URLSearchParams, name: string): boolean {
  const raw = query.get(name);
  if (raw === null || raw === "") return false;
  const v = raw.trim().toLowerCase();
  if (TRUE.has(v)) return true;
  if (FALSE.has(v)) return false;
  throw new ApiError(400, TITLE.invalidParameter, `The "${name}" query parameter must be true or false.`);
}

/** `ids=a,b,c`: present but empty counts as absent. */
export function queryIds(query: URLSearchParams): string[] | undefined {
  const raw = query.get("ids");
  if (raw === null) return undefined;
  const ids = raw.split(",").map((s) => s.trim()).filter((s) => s.length > 0);
  if (ids.length === 0) return undefined;
  if (ids.length > LIMITS.idsMax) throw invalidCall(`No more than ${LIMITS.idsMax} messages can be retrieved or deleted at once.`);
  return ids;
}

export function isMap(value: unknown): value is Record<string, unknown> {
  return typeof value === "object" && value !== null && !Array.isArray(value) && !(value instanceof Uint8Array);
}

/** A required integer body field within [min, max]; `what` names it in range errors. */
export function intField(doc: Record<string, unknown>, field: string, min: number, max: number, what: string): number {
  if (!Object.prototype.hasOwnProperty.call(doc, field)) throw invalidBody(`Missing "${field}" field.`);
  const v = doc[field];
  if (typeof v === "bigint") throw invalidCall(rangeText(what, min, max));
  if (typeof v !== "number" || !Number.isInteger(v)) throw invalidBody(`The value of the "${field}" field must be a int.`);
  if (v < min || v > max) throw invalidCall(rangeText(what, min, max));
  return v;
}

function rangeText(what: string, min: number, max: number): string {
  return `The ${what} may not exceed ${max} seconds, and must be at least ${min} seconds long.`;
}

export const messageTtl = (doc: Record<string, unknown>): number =>
  intField(doc, "ttl", LIMITS.messageTtlMin, LIMITS.messageTtlMax, "TTL for a message");
export const claimTtl = (doc: Record<string, unknown>): number =>
  intField(doc, "ttl", LIMITS.claimTtlMin, LIMITS.claimTtlMax, "TTL for a claim");
export const claimGrace = (doc: Record<string, unknown>): number =>
  intField(doc, "grace", LIMITS.graceMin, LIMITS.graceMax, "grace for a claim");
