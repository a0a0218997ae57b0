// Turns a request's href into a route: which v1 resource it names, the queue and id in it, and
// its query. The href is the HTTP v1 path and query exactly as a REST client would send them; an
// absolute form (zmq://host/v1/..., as the seed's example writes it) is accepted and its scheme and
// authority ignored.

import { ApiError, TITLE, notFound } from "./errors.js";

export type RouteKind =
  | "home"
  | "health"
  | "queues"
  | "queue"
  | "metadata"
  | "stats"
  | "messages"
  | "message"
  | "claims"
  | "claim";

export interface Route {
  kind: RouteKind;
  /** The queue name as sent (percent-decoded, not yet validated). */
  queue?: string;
  /** Message or claim id. */
  id?: string;
  query: URLSearchParams;
}

/** Verbs each resource answers; anything else is 405 with these in `Allow`. */
export const ALLOWED: Record<RouteKind, readonly string[]> = {
  home: ["GET", "HEAD"],
  health: ["GET", "HEAD"],
  queues: ["GET"],
  queue: ["GET", "HEAD", "PUT", "DELETE"],
  metadata: ["GET", "PUT"],
  stats: ["GET"],
  messages: ["GET", "POST", "DELETE"],
  message: ["GET", "DELETE"],
  claims: ["POST"],
  claim: ["GET", "PATCH", "DELETE"],
};

export const VERBS = new Set(["GET", "HEAD", "PUT", "POST", "PATCH", "DELETE"]);

/** The href without a scheme and authority (`zmq://host`), which are accepted and ignored. */
export function stripOrigin(href: string): string {
  return href.replace(/^[a-zA-Z][a-zA-Z0-9+.-]*:\/\/[^/?#]*/, "");
}

export function parseHref(href: string): Route {
  let rest = stripOrigin(href);
  const hash = rest.indexOf("#");
  if (hash >= 0) rest = rest.slice(0, hash);
  const q = rest.indexOf("?");
  const path = q >= 0 ? rest.slice(0, q) : rest;
  const query = new URLSearchParams(q >= 0 ? rest.slice(q + 1) : "");
  const raw = path.split("/");
  // "/v1/queues/" and "/v1/queues" are the same resource.
  if (raw.length > 2 && raw[raw.length - 1] === "") raw.pop();
  if (raw[0] !== "" || raw[1] !== "v1") throw notFound(`No resource at ${JSON.stringify(path)}: hrefs start with /v1/.`);
  let segs: string[];
  try {
    segs = raw.slice(2).map((s) => (s.includes("%") ? decodeURIComponent(s) : s));
  } catch {
    throw new ApiError(400, TITLE.invalidCall, `The href ${JSON.stringify(href)} is not validly percent-encoded.`);
  }
  const n = segs.length;
  const route = (kind: RouteKind, extra: Partial<Route> = {}): Route => ({ kind, query, ...extra });
  if (n === 0 || (n === 1 && segs[0] === "")) return route("home");
  if (n === 1 && segs[0] === "health") return route("health");
  if (segs[0] === "queues") {
    if (n === 1) return route("queues");
    const queue = segs[1];
    if (n === 2) return route("queue", { queue });
    const sub = segs[2];
    if (n === 3 && sub === "metadata") return route("metadata", { queue });
    if (n === 3 && sub === "stats") return route("stats", { queue });
    if (n === 3 && sub === "messages") return route("messages", { queue });
    if (n === 3 && sub === "claims") return route("claims", { queue });
    if (n === 4 && sub === "messages") return route("message", { queue, id: segs[3] });
    if (n === 4 && sub === "claims") return route("claim", { queue, id: segs[3] });
  }
  throw notFound(`No resource at ${JSON.stringify(path)}.`);
}
