// Receives what an eMQP pubsub publishes: a SUB socket connected to its outgoing PUB, giving each
// `[topic, message]` as an event. Subscriptions are topic prefixes (bytes; strings as UTF-8), as
// with any SUB: nothing arrives until subscribe() is called, and subscribe() with no argument
// takes everything.

import { Buffer } from "node:buffer";
import { DEFAULT_ADDRESSES } from "../emqp/index.js";
import { Subscriber } from "../socket/subscriber.js";
import type { WaitOptions } from "../socket/socket.js";

export interface EventSubscriberOptions {
  /** The pubsub's outgoing address. Default tcp://127.0.0.1:47299. */
  address?: string;
  /** Prefixes subscribed to at once (same as calling subscribe(...topics)). Default none. */
  topics?: (string | Uint8Array)[];
  /** Messages held while the application does not read; beyond it the pubsub drops ours. Default 1000. */
  receiveHighWaterMark?: number;
}

/** One published message: the topic and message frames, as bytes. */
export class PublishedEvent {
  constructor(
    readonly topic: Buffer,
    readonly message: Buffer,
  ) {}

  /** The topic as UTF-8 text. */
  get topicText(): string {
    return this.topic.toString("utf8");
  }

  /** The message as UTF-8 text. */
  text(): string {
    return this.message.toString("utf8");
  }

  /** The message parsed as JSON (EventMQ's publishers JSON-encode theirs); throws SyntaxError if it is not. */
  json(): unknown {
    return JSON.parse(this.message.toString("utf8")) as unknown;
  }
}

const EMPTY = Buffer.alloc(0);
const prefix = (p: string | Uint8Array): string | Buffer =>
  typeof p === "string" || Buffer.isBuffer(p) ? p : Buffer.from(p.buffer, p.byteOffset, p.byteLength);

export class EventSubscriber implements AsyncIterable<PublishedEvent> {
  readonly address: string;
  private readonly sub: Subscriber;

  constructor(options: EventSubscriberOptions = {}) {
    this.address = options.address ?? DEFAULT_ADDRESSES.publisherOutgoing;
    this.sub = new Subscriber({ receiveHighWaterMark: options.receiveHighWaterMark ?? 1000, linger: 0 });
    if (options.topics?.length) this.subscribe(...options.topics);
    this.sub.connect(this.address);
  }

  /** Receives messages whose topic starts with any of these prefixes; none given: everything. */
  subscribe(...prefixes: (string | Uint8Array)[]): void {
    this.sub.subscribe(...prefixes.map(prefix));
  }

  /** Undoes one subscribe() of each prefix (none given: of everything). */
  unsubscribe(...prefixes: (string | Uint8Array)[]): void {
    this.sub.unsubscribe(...prefixes.map(prefix));
  }

  /** The next event. Rejects with EBADF once closed, or ABORT_ERR when `signal` aborts. */
  async receive(options?: WaitOptions): Promise<PublishedEvent> {
    const frames = await this.sub.receive(options);
    // The pubsub sends two frames; anything else on the same PUB keeps its first two.
    return new PublishedEvent(frames[0] ?? EMPTY, frames[1] ?? EMPTY);
  }

  /** Events until close(). */
  async *[Symbol.asyncIterator](): AsyncIterator<PublishedEvent> {
    for await (const frames of this.sub) yield new PublishedEvent(frames[0] ?? EMPTY, frames[1] ?? EMPTY);
  }

  close(): void {
    this.sub.close();
  }

  get closed(): boolean {
    return this.sub.closed;
  }

  async [Symbol.asyncDispose](): Promise<void> {
    this.close();
  }
}
