// The request and reply envelopes of the queue API (spec/queue-api.md §2). A request is a map
// `{href, action, headers, body}`; the reply is `{status, headers, body}`. This module turns a
// decoded request map into an ApiRequest with its headers normalised, and nothing else: the codec
// decides the bytes, the routes decide the meaning.

import { ApiError, TITLE, invalidBody } from "./errors.js";
import type { Format } from "./codec.js";
import { VERBS } from "./routes.js";

export interface ApiRequest {
  href: string;
  /** Upper-case HTTP verb. */
  action: string;
  /** Header names in lower case. */
  headers: Map<string, string>;
  body: unknown;
  /** Whether the request had a body at all (`body: null` counts as none). */
  hasBody: boolean;
  /** The codec the request arrived in; size limits are measured in it. */
  format: Format;
}

export interface ApiReply {
  status: number;
  headers: Record<string, string>;
  body: unknown;
}

export function parseEnvelope(value: unknown, format: Format): ApiRequest {
  const doc = value as Record<string, unknown>;
  const href = doc.href;
  if (typeof href !== "string" || href.length === 0) throw invalidBody('The request needs an "href" string, e.g. "/v1/queues".');
  const action = doc.action;
  if (typeof action !== "string") throw invalidBody('The request needs an "action": one of GET, HEAD, PUT, POST, PATCH, DELETE.');
  const verb = action.toUpperCase();
  if (!VERBS.has(verb)) {
    throw new ApiError(400, TITLE.invalidCall, `${JSON.stringify(action)} is not an action: use GET, HEAD, PUT, POST, PATCH or DELETE.`);
  }
  // The seed's own example spells it "header"; accept that when "headers" is absent.
  const rawHeaders = doc.headers ?? doc.header;
  const headers = new Map<string, string>();
  if (rawHeaders !== undefined && rawHeaders !== null) {
    if (typeof rawHeaders !== "object" || Array.isArray(rawHeaders) || rawHeaders instanceof Uint8Array) {
      throw invalidBody('"headers" must be a map of header names to strings.');
    }
    const h = rawHeaders as Record<string, unknown>;
    for (const name in h) {
      if (!Object.prototype.hasOwnProperty.call(h, name)) continue;
      const v = h[name];
      if (typeof v === "string") headers.set(name.toLowerCase(), v);
      else if (typeof v === "number" || typeof v === "bigint") headers.set(name.toLowerCase(), String(v));
      else if (v !== null && v !== undefined) throw invalidBody(`Header ${JSON.stringify(name)} must be a string.`);
    }
  }
  const body = doc.body;
  return { href, action: verb, headers, body, hasBody: body !== undefined && body !== null, format };
}
