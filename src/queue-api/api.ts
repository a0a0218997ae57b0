// The v1 resources: one function per (resource, verb), each reading the request, asking the store,
// and shaping the reply exactly as Marconi v1 answers over HTTP (statuses, Location headers, bodies;
// reference marconi.md §1.3, §1.4, §2.9). Synchronous: authentication and durability waits belong
// to the server around it, so a test can drive this with no sockets at all.

import { MAX_DEPTH, encodedSize } from "./codec.js";
import type { ApiReply, ApiRequest } from "./envelope.js";
import { ApiError, TITLE, invalidBody, invalidCall, notFound, unavailable } from "./errors.js";
import { LIMITS } from "./limits.js";
import type { Project } from "./records.js";
import { ALLOWED, type Route, parseHref, stripOrigin } from "./routes.js";
import type { MessageView, QueueStore } from "./store.js";
import {
  checkClientId,
  checkProject,
  checkQueueName,
  claimGrace,
  claimTtl,
  isMap,
  messageTtl,
  queryBool,
  queryIds,
  queryLimit,
} from "./validate.js";

export interface QueueApiOptions {
  /** Whether storage is usable; GET /v1/health answers 503 when it is not. */
  healthy?: () => boolean;
}

/** What a handler sees: the request, its route and its validated scope. */
interface Ctx {
  req: ApiRequest;
  route: Route;
  p: Project;
  /** The validated queue name on routes that carry one. */
  q: string;
}

const NO_CONTENT: ApiReply = { status: 204, headers: {}, body: null };

export class QueueApi {
  constructor(
    readonly store: QueueStore,
    private readonly options: QueueApiOptions = {},
  ) {}

  /** Answer one request; errors become their `{title, description}` replies. */
  handle(req: ApiRequest): ApiReply {
    try {
      return this.dispatch(req);
    } catch (err) {
      if (err instanceof ApiError) return errorReply(err);
      throw err;
    }
  }

  private dispatch(req: ApiRequest): ApiReply {
    const route = parseHref(req.href);
    const allowed = ALLOWED[route.kind];
    if (!allowed.includes(req.action)) {
      throw new ApiError(405, TITLE.notAllowed, `${req.action} is not supported on ${route.kind} resources.`, {
        Allow: allowed.join(", "),
      });
    }
    const project = checkProject(req.headers.get("x-project-id"));
    const q = route.queue === undefined ? "" : checkQueueName(route.queue);
    const c: Ctx = { req, route, p: project ?? null, q };
    switch (route.kind) {
      case "home":
        return req.action === "HEAD" ? NO_CONTENT : { status: 200, headers: {}, body: HOME };
      case "health":
        return req.action === "GET" && this.options.healthy?.() === false
          ? errorReply(unavailable("Storage is not available."))
          : NO_CONTENT;
      case "queues":
        return this.listQueues(c);
      case "queue":
        return this.queue(c);
      case "metadata":
        return req.action === "GET" ? this.getMetadata(c) : this.setMetadata(c);
      case "stats":
        return this.stats(c);
      case "messages":
        return req.action === "POST" ? this.post(c) : req.action === "GET" ? this.listOrGetMany(c) : this.deleteMany(c);
      case "message":
        return req.action === "GET" ? this.getMessage(c) : this.deleteMessage(c);
      case "claims":
        return this.claim(c);
      case "claim":
        return req.action === "GET" ? this.getClaim(c) : req.action === "PATCH" ? this.renewClaim(c) : this.releaseClaim(c);
    }
  }

  // ---- queues ----

  private queue({ req, p, q }: Ctx): ApiReply {
    const path = queuePath(q);
    if (req.action === "PUT") {
      const created = this.store.createQueue(p, q);
      return { status: created ? 201 : 204, headers: { Location: path }, body: null };
    }
    if (req.action === "DELETE") {
      this.store.deleteQueue(p, q);
      return NO_CONTENT;
    }
    if (!this.store.queueExists(p, q)) throw notFound(`Queue ${q} does not exist.`);
    return NO_CONTENT;
  }

  private listQueues({ route, p }: Ctx): ApiReply {
    const limit = queryLimit(route.query, "limit", LIMITS.pageDefault, LIMITS.pageMax);
    const detailed = queryBool(route.query, "detailed");
    const marker = route.query.get("marker") ?? undefined;
    const page = this.store.listQueues(p, marker, limit);
    if (page.length === 0) return NO_CONTENT;
    const queues = page.map(({ name, metadata }) =>
      detailed ? { name, href: queuePath(name), metadata } : { name, href: queuePath(name) },
    );
    const next = withMarker(route.query, page[page.length - 1]!.name);
    return { status: 200, headers: {}, body: { queues, links: [{ rel: "next", href: `/v1/queues?${next}` }] } };
  }

  private getMetadata({ req, p, q }: Ctx): ApiReply {
    const meta = this.store.getMetadata(p, q);
    if (!meta) throw notFound(`Queue ${q} does not exist.`);
    return { status: 200, headers: { "Content-Location": stripOrigin(req.href) }, body: meta };
  }

  private setMetadata({ req, p, q }: Ctx): ApiReply {
    if (!req.hasBody) throw invalidBody("Missing request body: queue metadata must be a map.");
    if (encodedSize(req.body, req.format) > LIMITS.metadataBytesMax) {
      throw invalidCall(`Queue metadata is too large. Max size: ${LIMITS.metadataBytesMax}`);
    }
    if (!isMap(req.body)) throw invalidBody("Document type not supported: queue metadata must be a map.");
    if (!this.store.setMetadata(p, q, req.body)) throw notFound(`Queue ${q} does not exist.`);
    return { status: 204, headers: { Location: `${queuePath(q)}/metadata` }, body: null };
  }

  private stats({ p, q }: Ctx): ApiReply {
    const s = this.store.stats(p, q);
    if (!s) throw notFound(`Queue ${q} does not exist.`);
    const messages: Record<string, unknown> = { claimed: s.claimed, free: s.free, total: s.total };
    const point = (m: MessageView) => ({ href: messagePath(q, m.id), age: m.age, created: isoSeconds(m.created) });
    if (s.oldest) messages.oldest = point(s.oldest);
    if (s.newest) messages.newest = point(s.newest);
    return { status: 200, headers: {}, body: { messages } };
  }

  // ---- messages ----

  private post({ req, p, q }: Ctx): ApiReply {
    const client = checkClientId(req.headers.get("client-id"));
    if (!req.hasBody) throw invalidBody("Missing request body: post an array of {ttl, body} messages.");
    if (encodedSize(req.body, req.format) > LIMITS.postBytesMax) {
      throw invalidCall(`Message collection size is too large. Max size ${LIMITS.postBytesMax}`);
    }
    if (!Array.isArray(req.body)) throw invalidBody("Document type not supported: post an array of messages.");
    if (req.body.length === 0) throw invalidBody("No messages were found in the request body.");
    const items = req.body.map((item: unknown) => {
      if (!isMap(item)) throw invalidBody("Document type not supported: each message must be a map with ttl and body.");
      const ttl = messageTtl(item);
      if (!Object.prototype.hasOwnProperty.call(item, "body")) throw invalidBody('Missing "body" field.');
      // A listing puts a body one level deeper than a post does; it must still fit MAX_DEPTH there.
      if (depthOf(item.body, BODY_DEPTH_MAX) > BODY_DEPTH_MAX) {
        throw invalidBody(`Message bodies may nest at most ${BODY_DEPTH_MAX} levels deep.`);
      }
      return { ttl, body: item.body };
    });
    const ids = this.store.post(p, q, client, items);
    if (!ids) throw notFound(`Queue ${q} does not exist.`);
    return {
      status: 201,
      headers: { Location: `${queuePath(q)}/messages?ids=${ids.join(",")}` },
      body: { partial: false, resources: ids.map((id) => messagePath(q, id)) },
    };
  }

  private listOrGetMany({ req, route, p, q }: Ctx): ApiReply {
    const ids = queryIds(route.query);
    if (ids) {
      const found = this.store.getMany(p, q, ids);
      return found.length === 0 ? NO_CONTENT : { status: 200, headers: {}, body: found.map((m) => messageDoc(q, m)) };
    }
    const clientId = checkClientId(req.headers.get("client-id"));
    const limit = queryLimit(route.query, "limit", LIMITS.pageDefault, LIMITS.pageMax);
    const echo = queryBool(route.query, "echo");
    const includeClaimed = queryBool(route.query, "include_claimed");
    const marker = route.query.get("marker") ?? undefined;
    const page = this.store.list(p, q, { marker, limit, echo, includeClaimed, clientId });
    if (!page || page.messages.length === 0) return NO_CONTENT;
    const next = withMarker(route.query, String(page.lastMarker));
    return {
      status: 200,
      headers: { "Content-Location": stripOrigin(req.href) },
      body: { messages: page.messages.map((m) => messageDoc(q, m)), links: [{ rel: "next", href: `${queuePath(q)}/messages?${next}` }] },
    };
  }

  private deleteMany({ route, p, q }: Ctx): ApiReply {
    const ids = queryIds(route.query);
    if (!ids) throw invalidCall('Bulk deletion needs an "ids" query parameter; a whole queue is deleted with DELETE on the queue.');
    this.store.deleteMany(p, q, ids);
    return NO_CONTENT;
  }

  private getMessage({ route, p, q }: Ctx): ApiReply {
    const m = this.store.get(p, q, route.id!);
    if (!m) throw notFound(`Message ${route.id} does not exist in queue ${q}.`);
    return { status: 200, headers: {}, body: messageDoc(q, m) };
  }

  private deleteMessage({ route, p, q }: Ctx): ApiReply {
    const claimId = route.query.get("claim_id") ?? undefined;
    this.store.deleteMessage(p, q, route.id!, claimId);
    return NO_CONTENT;
  }

  // ---- claims ----

  private claim({ req, route, p, q }: Ctx): ApiReply {
    const limit = queryLimit(route.query, "limit", LIMITS.claimDefault, LIMITS.claimMax);
    const doc = claimDoc(req);
    const ttl = claimTtl(doc);
    const grace = claimGrace(doc);
    const claim = this.store.claim(p, q, ttl, grace, limit);
    if (!claim) return NO_CONTENT;
    return {
      status: 201,
      headers: { Location: `${queuePath(q)}/claims/${claim.id}` },
      body: claim.messages.map((m) => messageDoc(q, m)),
    };
  }

  private getClaim({ req, route, p, q }: Ctx): ApiReply {
    const claim = this.store.getClaim(p, q, route.id!);
    if (!claim) throw notFound(`Claim ${route.id} does not exist in queue ${q} or has expired.`);
    return {
      status: 200,
      headers: { "Content-Location": stripOrigin(req.href) },
      body: { age: claim.age, ttl: claim.ttl, href: `${queuePath(q)}/claims/${claim.id}`, messages: claim.messages.map((m) => messageDoc(q, m)) },
    };
  }

  private renewClaim({ req, route, p, q }: Ctx): ApiReply {
    const ttl = claimTtl(claimDoc(req));
    if (!this.store.renewClaim(p, q, route.id!, ttl)) throw notFound(`Claim ${route.id} does not exist in queue ${q} or has expired.`);
    return NO_CONTENT;
  }

  private releaseClaim({ route, p, q }: Ctx): ApiReply {
    this.store.releaseClaim(p, q, route.id!);
    return NO_CONTENT;
  }
}

/**
 * Deepest a message body may nest: a listing reply holds it at level 5 ({status, body: {messages:
 * [{body}]}}), and every reply must decode under the codec's MAX_DEPTH.
 */
const BODY_DEPTH_MAX = MAX_DEPTH - 4;

/** Nesting depth of a value (a scalar is 0, `[]` is 1), counted no further than `limit` + 1. */
function depthOf(value: unknown, limit: number): number {
  if (typeof value !== "object" || value === null) return 0;
  if (limit < 0) return 1;
  let deepest = 0;
  for (const v of Array.isArray(value) ? value : Object.values(value)) {
    if (typeof v === "object" && v !== null) {
      const d = depthOf(v, limit - 1);
      if (d > deepest) deepest = d;
      if (deepest > limit) break;
    }
  }
  return deepest + 1;
}

export function errorReply(err: ApiError): ApiReply {
  return { status: err.status, headers: { ...err.headers }, body: err.body() };
}

function claimDoc(req: ApiRequest): Record<string, unknown> {
  if (!req.hasBody) throw invalidBody("Missing request body: a claim needs {ttl, grace}.");
  if (!isMap(req.body)) throw invalidBody("Document type not supported: the claim document must be a map.");
  return req.body;
}

const queuePath = (q: string): string => `/v1/queues/${q}`;
const messagePath = (q: string, id: string): string => `/v1/queues/${q}/messages/${encodeURIComponent(id)}`;

function messageDoc(q: string, m: MessageView): { href: string; ttl: number; age: number; body: unknown } {
  const href = messagePath(q, m.id) + (m.claimId === undefined ? "" : `?claim_id=${m.claimId}`);
  return { href, ttl: m.ttl, age: m.age, body: m.body };
}

/** The same query with `marker` replaced: the `next` link. */
function withMarker(query: URLSearchParams, marker: string): string {
  const next = new URLSearchParams(query);
  next.set("marker", marker);
  return next.toString();
}

function isoSeconds(ms: number): string {
  return new Date(ms).toISOString().replace(/\.\d{3}Z$/, "Z");
}

// The v1 home document (JSON-Home): where each resource lives, for clients that discover links.
const HOME = {
  resources: {
    "rel/queues": { "href-template": "/v1/queues{?marker,limit,detailed}", "href-vars": { marker: "param/marker", limit: "param/queue_limit", detailed: "param/detailed" }, hints: { allow: ["GET"], formats: { "application/json": {} } } },
    "rel/queue": { "href-template": "/v1/queues/{queue_name}", "href-vars": { queue_name: "param/queue_name" }, hints: { allow: ["GET", "HEAD", "PUT", "DELETE"], formats: { "application/json": {} } } },
    "rel/queue-metadata": { "href-template": "/v1/queues/{queue_name}/metadata", "href-vars": { queue_name: "param/queue_name" }, hints: { allow: ["GET", "PUT"], formats: { "application/json": {} } } },
    "rel/queue-stats": { "href-template": "/v1/queues/{queue_name}/stats", "href-vars": { queue_name: "param/queue_name" }, hints: { allow: ["GET"], formats: { "application/json": {} } } },
    "rel/messages": { "href-template": "/v1/queues/{queue_name}/messages{?marker,limit,echo,include_claimed}", "href-vars": { queue_name: "param/queue_name", marker: "param/marker", limit: "param/messages_limit", echo: "param/echo", include_claimed: "param/include_claimed" }, hints: { allow: ["GET"], formats: { "application/json": {} } } },
    "rel/post-messages": { href: "/v1/queues/{queue_name}/messages", "href-vars": { queue_name: "param/queue_name" }, hints: { allow: ["POST"], formats: { "application/json": {} }, accept: "application/json" } },
    "rel/claim": { "href-template": "/v1/queues/{queue_name}/claims{?limit}", "href-vars": { queue_name: "param/queue_name", limit: "param/claim_limit" }, hints: { allow: ["POST"], formats: { "application/json": {} }, accept: "application/json" } },
    "rel/health": { href: "/v1/health", hints: { allow: ["GET", "HEAD"], formats: { "application/json": {} } } },
  },
};
