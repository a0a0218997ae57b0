// QueueClient: the queue API from JavaScript, over one DEALER. Calls pipeline: each request goes
// out at once with its own X-Request-ID, and replies are matched by it (the broker also keeps them
// in order), so a thousand posts in flight cost one round trip, not a thousand.
//
// A request is never sent twice by the client: a post is not idempotent, so when the connection
// drops, calls in flight fail by their timeout and the caller decides. Calls made while there is no
// connection wait in the DEALER and go out when it is back.

import { Buffer } from "node:buffer";
import { randomUUID } from "node:crypto";
import { Dealer } from "../socket/dealer.js";
import { type Format, decodeFrame, encodeValue } from "./codec.js";
import { DEFAULT_QUEUE_API_ADDRESS } from "./address.js";

export interface QueueClientOptions {
  /** Where the broker's queue API listens. Default tcp://127.0.0.1:47295. */
  address?: string;
  /** X-Project-ID for every request; default none (the global scope). */
  project?: string;
  /** Client-ID (a UUID) for posts and listings; default a fresh one per client. */
  clientId?: string;
  /** X-Auth-Token for every request, when the broker checks tokens. */
  authToken?: string;
  /** ms a call waits for its reply before failing with ETIMEDOUT. Default 30000. */
  timeout?: number;
  /** How requests are encoded (and replies asked for). Default "msgpack". */
  format?: Format;
}

export type QueueClientErrorCode = "ETIMEDOUT" | "ECLOSED" | "EPROTO" | `E${number}`;

/** A call that did not succeed: the broker's status and error body, or the client giving up. */
export class QueueClientError extends Error {
  override readonly name = "QueueClientError";
  /** "E404", "E400", ... from the broker's status; ETIMEDOUT, ECLOSED, EPROTO from the client. */
  readonly code: QueueClientErrorCode;
  /** The reply's status (0 when the client gave up). */
  readonly status: number;
  readonly title: string;
  readonly description: string;

  constructor(code: QueueClientErrorCode, status: number, title: string, description: string) {
    super(status > 0 ? `${status} ${title}: ${description}` : description);
    this.code = code;
    this.status = status;
    this.title = title;
    this.description = description;
  }
}

export interface QueueReply {
  status: number;
  headers: Record<string, string>;
  body: unknown;
}

export interface QueueMessage {
  id: string;
  href: string;
  ttl: number;
  age: number;
  body: unknown;
  /** Set on messages that came from a claim: delete them with it. */
  claimId?: string;
}

export interface QueueClaim {
  id: string;
  ttl: number;
  age: number;
  messages: QueueMessage[];
}

export interface QueueStats {
  claimed: number;
  free: number;
  total: number;
  oldest?: { href: string; age: number; created: string };
  newest?: { href: string; age: number; created: string };
}

interface Waiting {
  resolve: (r: QueueReply) => void;
  reject: (e: Error) => void;
  timer: ReturnType<typeof setTimeout>;
}

export class QueueClient {
  readonly address: string;
  readonly clientId: string;
  private readonly dealer: Dealer;
  private readonly options: QueueClientOptions;
  private readonly format: Format;
  private readonly waiting = new Map<string, Waiting>();
  private nextId = 1;
  private closed = false;

  constructor(options: QueueClientOptions = {}) {
    this.options = options;
    this.address = options.address ?? DEFAULT_QUEUE_API_ADDRESS;
    this.clientId = options.clientId ?? randomUUID();
    this.format = options.format ?? "msgpack";
    // linger 0: after close() nothing we queued should still go out. immediate: a request waits in
    // send() until a connection is up, so that one whose call timed out meanwhile is withdrawn
    // (aborted) rather than left queued to run after the caller was told it failed.
    this.dealer = new Dealer({ linger: 0, immediate: true });
    this.dealer.connect(this.address);
    void this.readLoop();
  }

  // ---- queues ----

  /** Creates the queue; true if it was created, false if it already existed. */
  async createQueue(name: string): Promise<boolean> {
    return (await this.call("PUT", queuePath(name))).status === 201;
  }

  async queueExists(name: string): Promise<boolean> {
    const r = await this.request("HEAD", queuePath(name));
    if (r.status === 204) return true;
    if (r.status === 404) return false;
    throw replyError(r);
  }

  async deleteQueue(name: string): Promise<void> {
    await this.call("DELETE", queuePath(name));
  }

  /** A page of queue names (with metadata when `detailed`); pass `marker` back for the next page. */
  async listQueues(o: { marker?: string; limit?: number; detailed?: boolean } = {}): Promise<{
    queues: { name: string; metadata?: Record<string, unknown> }[];
    marker?: string;
  }> {
    const r = await this.call("GET", `/v1/queues${query({ marker: o.marker, limit: o.limit, detailed: o.detailed })}`);
    if (r.status === 204) return { queues: [] };
    const body = r.body as { queues: { name: string; metadata?: Record<string, unknown> }[] };
    const queues = body.queues.map((q) => (q.metadata === undefined ? { name: q.name } : { name: q.name, metadata: q.metadata }));
    return { queues, marker: queues[queues.length - 1]?.name };
  }

  async getMetadata(name: string): Promise<Record<string, unknown>> {
    return (await this.call("GET", `${queuePath(name)}/metadata`)).body as Record<string, unknown>;
  }

  async setMetadata(name: string, metadata: Record<string, unknown>): Promise<void> {
    await this.call("PUT", `${queuePath(name)}/metadata`, metadata);
  }

  async stats(name: string): Promise<QueueStats> {
    return ((await this.call("GET", `${queuePath(name)}/stats`)).body as { messages: QueueStats }).messages;
  }

  // ---- messages ----

  /**
   * Posts one message (`{body, ttl}`) or a batch, all or nothing; returns the new ids in order.
   * ttl is in seconds (60 to 1 209 600), default 3600.
   */
  async post(queue: string, messages: PostItem | PostItem[]): Promise<string[]> {
    const list = (Array.isArray(messages) ? messages : [messages]).map((m) => ({ ttl: m.ttl ?? 3600, body: m.body }));
    const r = await this.call("POST", `${queuePath(queue)}/messages`, list);
    return (r.body as { resources: string[] }).resources.map(idFromHref);
  }

  /**
   * A page of messages, oldest first. Your own are left out unless `echo`, claimed ones unless
   * `includeClaimed`. Pass the returned `marker` back to read on.
   */
  async list(
    queue: string,
    o: { marker?: string; limit?: number; echo?: boolean; includeClaimed?: boolean } = {},
  ): Promise<{ messages: QueueMessage[]; marker?: string }> {
    const q = query({ marker: o.marker, limit: o.limit, echo: o.echo, include_claimed: o.includeClaimed });
    const r = await this.call("GET", `${queuePath(queue)}/messages${q}`);
    if (r.status === 204) return { messages: [], marker: o.marker };
    const body = r.body as { messages: RawMessage[]; links: { rel: string; href: string }[] };
    const next = body.links.find((l) => l.rel === "next")?.href;
    const marker = next === undefined ? undefined : new URLSearchParams(next.slice(next.indexOf("?") + 1)).get("marker") ?? undefined;
    return { messages: body.messages.map(toMessage), marker };
  }

  /** One message by id, or undefined when it does not exist (any more). */
  async get(queue: string, id: string): Promise<QueueMessage | undefined> {
    const r = await this.request("GET", `${queuePath(queue)}/messages/${encodeURIComponent(id)}`);
    if (r.status === 404) return undefined;
    if (r.status !== 200) throw replyError(r);
    return toMessage(r.body as RawMessage);
  }

  /** Up to 20 messages by id; unknown ids are left out. */
  async getMany(queue: string, ids: string[]): Promise<QueueMessage[]> {
    const r = await this.call("GET", `${queuePath(queue)}/messages?ids=${ids.map(encodeURIComponent).join(",")}`);
    return r.status === 204 ? [] : (r.body as RawMessage[]).map(toMessage);
  }

  /**
   * Deletes a message: by id, or pass a message from claim() and its claim goes along. A claimed
   * message needs its claim id (403 without it).
   */
  async delete(queue: string, message: string | QueueMessage, o: { claimId?: string } = {}): Promise<void> {
    const id = typeof message === "string" ? message : message.id;
    const claimId = o.claimId ?? (typeof message === "string" ? undefined : message.claimId);
    await this.call("DELETE", `${queuePath(queue)}/messages/${encodeURIComponent(id)}${query({ claim_id: claimId })}`);
  }

  /** Deletes up to 20 messages by id, claimed or not. */
  async deleteMany(queue: string, ids: string[]): Promise<void> {
    await this.call("DELETE", `${queuePath(queue)}/messages?ids=${ids.map(encodeURIComponent).join(",")}`);
  }

  // ---- claims ----

  /**
   * Claims up to `limit` (default 10, at most 20) of the oldest free messages for `ttl` seconds
   * (default 300); claimed messages live at least `grace` seconds (default 60) past the claim.
   * Undefined when there is nothing to claim.
   */
  async claim(queue: string, o: { ttl?: number; grace?: number; limit?: number } = {}): Promise<QueueClaim | undefined> {
    const r = await this.call("POST", `${queuePath(queue)}/claims${query({ limit: o.limit })}`, { ttl: o.ttl ?? 300, grace: o.grace ?? 60 });
    if (r.status === 204) return undefined;
    const messages = (r.body as RawMessage[]).map(toMessage);
    const location = r.headers.Location ?? "";
    return { id: location.slice(location.lastIndexOf("/") + 1), ttl: o.ttl ?? 300, age: 0, messages };
  }

  /** A live claim, or undefined when it expired, was released or never existed. */
  async getClaim(queue: string, claimId: string): Promise<QueueClaim | undefined> {
    const r = await this.request("GET", `${queuePath(queue)}/claims/${encodeURIComponent(claimId)}`);
    if (r.status === 404) return undefined;
    if (r.status !== 200) throw replyError(r);
    const b = r.body as { ttl: number; age: number; messages: RawMessage[] };
    return { id: claimId, ttl: b.ttl, age: b.age, messages: b.messages.map(toMessage) };
  }

  /** Renews a claim for `ttl` seconds from now (404 if it already expired). */
  async renewClaim(queue: string, claimId: string, ttl: number): Promise<void> {
    await this.call("PATCH", `${queuePath(queue)}/claims/${encodeURIComponent(claimId)}`, { ttl });
  }

  /** Releases a claim: its messages are free for others at once. */
  async releaseClaim(queue: string, claimId: string): Promise<void> {
    await this.call("DELETE", `${queuePath(queue)}/claims/${encodeURIComponent(claimId)}`);
  }

  /** True when the broker's queue storage is usable. */
  async health(): Promise<boolean> {
    return (await this.request("GET", "/v1/health")).status === 204;
  }

  // ---- transport ----

  /** Sends any request and resolves with the reply, whatever its status. */
  request(action: string, href: string, body?: unknown, headers: Record<string, string> = {}): Promise<QueueReply> {
    if (this.closed) return Promise.reject(new QueueClientError("ECLOSED", 0, "", "the client is closed"));
    const id = String(this.nextId++);
    const h: Record<string, string> = {
      "Client-ID": this.clientId,
      "X-Request-ID": id,
      Accept: this.format === "json" ? "application/json" : "application/x-msgpack",
    };
    if (this.options.project !== undefined) h["X-Project-ID"] = this.options.project;
    if (this.options.authToken !== undefined) h["X-Auth-Token"] = this.options.authToken;
    // The caller's headers, except one that would replace the id replies are matched by.
    for (const [name, value] of Object.entries(headers)) if (name.toLowerCase() !== "x-request-id") h[name] = value;
    const frame = encodeValue(body === undefined ? { href, action, headers: h } : { href, action, headers: h, body }, this.format);
    return new Promise<QueueReply>((resolve, reject) => {
      const timeout = this.options.timeout ?? 30_000;
      const unsent = new AbortController();
      const timer = setTimeout(() => {
        this.waiting.delete(id);
        // Still waiting for a connection: it never goes out. Already sent: it may have run.
        unsent.abort();
        reject(new QueueClientError("ETIMEDOUT", 0, "", `no reply to ${action} ${href} within ${timeout} ms`));
      }, timeout);
      this.waiting.set(id, { resolve, reject, timer });
      this.dealer.send(Buffer.from(frame.buffer, frame.byteOffset, frame.byteLength), { signal: unsent.signal }).catch((err: Error) => {
        const w = this.waiting.get(id);
        if (!w) return;
        clearTimeout(w.timer);
        this.waiting.delete(id);
        reject(this.closed ? new QueueClientError("ECLOSED", 0, "", "the client is closed") : err);
      });
    });
  }

  /** Fails every call still waiting with ECLOSED and closes the socket. */
  close(): void {
    if (this.closed) return;
    this.closed = true;
    for (const w of this.waiting.values()) {
      clearTimeout(w.timer);
      w.reject(new QueueClientError("ECLOSED", 0, "", "the client was closed before the reply came"));
    }
    this.waiting.clear();
    this.dealer.close();
  }

  /** request() that turns a 4xx/5xx into a QueueClientError. */
  private async call(action: string, href: string, body?: unknown): Promise<QueueReply> {
    const r = await this.request(action, href, body);
    if (r.status >= 400) throw replyError(r);
    return r;
  }

  private async readLoop(): Promise<void> {
    for (;;) {
      let frames: Buffer[];
      try {
        frames = await this.dealer.receive();
      } catch {
        return; // closed
      }
      const last = frames[frames.length - 1];
      let reply: QueueReply;
      try {
        reply = decodeFrame(last ?? Buffer.alloc(0)).value as QueueReply;
      } catch (err) {
        // Replies come in request order, so an unreadable one answers the oldest call waiting.
        const oldest = this.waiting.entries().next().value;
        if (oldest) {
          const [id, w] = oldest;
          clearTimeout(w.timer);
          this.waiting.delete(id);
          w.reject(new QueueClientError("EPROTO", 0, "", `an unreadable reply: ${(err as Error).message}`));
        }
        continue;
      }
      const id = reply.headers?.["X-Request-ID"];
      const w = id === undefined ? undefined : this.waiting.get(id);
      if (!w) continue;
      clearTimeout(w.timer);
      this.waiting.delete(id!);
      if (typeof reply.status !== "number") w.reject(new QueueClientError("EPROTO", 0, "", "a reply without a status"));
      else w.resolve({ status: reply.status, headers: reply.headers ?? {}, body: reply.body ?? null });
    }
  }
}

export interface PostItem {
  body: unknown;
  /** Seconds, 60 to 1 209 600; default 3600. */
  ttl?: number;
}

interface RawMessage {
  href: string;
  ttl: number;
  age: number;
  body: unknown;
}

function toMessage(m: RawMessage): QueueMessage {
  const out: QueueMessage = { id: idFromHref(m.href), href: m.href, ttl: m.ttl, age: m.age, body: m.body };
  const q = m.href.indexOf("?");
  if (q >= 0) {
    const claimId = new URLSearchParams(m.href.slice(q + 1)).get("claim_id");
    if (claimId !== null) out.claimId = claimId;
  }
  return out;
}

function idFromHref(href: string): string {
  const path = href.split("?")[0]!;
  return decodeURIComponent(path.slice(path.lastIndexOf("/") + 1));
}

function replyError(r: QueueReply): QueueClientError {
  const b = (r.body ?? {}) as { title?: unknown; description?: unknown };
  const title = typeof b.title === "string" ? b.title : "";
  const description = typeof b.description === "string" ? b.description : `status ${r.status}`;
  return new QueueClientError(`E${r.status}`, r.status, title, description);
}

const queuePath = (name: string): string => `/v1/queues/${encodeURIComponent(name)}`;

function query(params: Record<string, string | number | boolean | undefined>): string {
  const q = new URLSearchParams();
  for (const [k, v] of Object.entries(params)) if (v !== undefined) q.set(k, String(v));
  const s = q.toString();
  return s ? `?${s}` : "";
}
