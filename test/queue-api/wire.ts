// A raw client for the queue API wire, for the conformance suite: a DEALER that writes request
// frames built by the queue codec and reads replies back in order, with no QueueClient in between,
// so the tests pin the bytes a third-party client would exchange (spec: reference marconi.md §3.10).
// Replies on one DEALER arrive in request order, so pending requests are matched first in, first out;
// the tests check the echoed X-Request-ID on top of that where order itself is the point.

import { Buffer } from "node:buffer";
import { Dealer } from "../../src/socket/dealer.js";
import { type Format, decodeFrame, encodeValue } from "../../src/queue-api/codec.js";
import { within } from "../socket/fake-peer.js";

export const REPLY_WAIT_MS = 5_000;

export interface WireRequest {
  href: string;
  action: string;
  headers?: Record<string, string>;
  /** Left out of the request map when undefined; `null` is sent as nil/null. */
  body?: unknown;
}

export interface WireReply {
  status: number;
  headers: Record<string, string>;
  body: unknown;
  /** The codec the reply frame is in, judged by its first byte. */
  format: Format;
  /** The reply payload frame as received. */
  raw: Buffer;
  /** Frames in front of the payload (the envelope the server echoed back). */
  envelope: Buffer[];
}

/** The request map as the tests send it: `body` only when the caller gave one. */
export function requestMap(req: WireRequest): Record<string, unknown> {
  const map: Record<string, unknown> = { href: req.href, action: req.action };
  if (req.headers !== undefined) map.headers = req.headers;
  if ("body" in req && req.body !== undefined) map.body = req.body;
  return map;
}

export function encodeRequest(req: WireRequest, format: Format): Buffer {
  const bytes = encodeValue(requestMap(req), format);
  return Buffer.from(bytes.buffer, bytes.byteOffset, bytes.byteLength);
}

/** Split a reply message into envelope and payload and decode the payload. */
export function parseReply(frames: Buffer[]): WireReply {
  if (frames.length === 0) throw new Error("empty reply message");
  const raw = frames[frames.length - 1]!;
  const { format, value } = decodeFrame(raw);
  const map = value as { status?: unknown; headers?: unknown; body?: unknown };
  if (typeof map.status !== "number") throw new Error(`reply without a numeric status: ${JSON.stringify(Object.keys(map))}`);
  const headers = (map.headers ?? {}) as Record<string, string>;
  return { status: map.status, headers, body: map.body, format, raw, envelope: frames.slice(0, -1) };
}

export class Wire {
  readonly dealer: Dealer;
  private readonly waiting: { resolve: (r: WireReply) => void; reject: (e: unknown) => void }[] = [];
  private closed = false;
  /** A reply did not come in time: later replies can no longer be matched by order. */
  desynced = false;

  private constructor(address: string) {
    this.dealer = new Dealer({ linger: 0 });
    this.dealer.connect(address);
    void this.readLoop();
  }

  static open(address: string): Wire {
    return new Wire(address);
  }

  private async readLoop(): Promise<void> {
    for (;;) {
      let frames: Buffer[];
      try {
        frames = await this.dealer.receive();
      } catch (err) {
        for (const w of this.waiting.splice(0)) w.reject(err);
        return;
      }
      const w = this.waiting.shift();
      if (!w) continue; // a reply nobody waits for (an earlier request timed out)
      try {
        w.resolve(parseReply(frames));
      } catch (err) {
        w.reject(err);
      }
    }
  }

  /** Send raw frames (exactly as given) and wait for the next reply. */
  sendFrames(frames: Buffer[], what = "a reply"): Promise<WireReply> {
    if (this.closed) return Promise.reject(new Error("wire closed"));
    const reply = new Promise<WireReply>((resolve, reject) => this.waiting.push({ resolve, reject }));
    return this.dealer.send(frames).then(() =>
      within(reply, REPLY_WAIT_MS, what).catch((err: unknown) => {
        this.desynced = true;
        throw err;
      }),
    );
  }

  /** One request encoded in `format`, one frame, no envelope. */
  request(req: WireRequest, format: Format): Promise<WireReply> {
    return this.sendFrames([encodeRequest(req, format)], `the reply to ${req.action} ${req.href}`);
  }

  close(): void {
    this.closed = true;
    this.dealer.close();
  }
}
