// Publishes events through an eMQP pubsub (PubSub, or EventMQ's emq-pubsub): a DEALER that sends
// `'' eMQP/1.0 PUBLISH msgid topic message` to its incoming ROUTER, framed as EventMQ's
// send_publish_request frames it. There is no answer: a publish is done once it is queued.

import { Buffer } from "node:buffer";
import { DEFAULT_ADDRESSES, encode, newMsgid, pyJson } from "../emqp/index.js";
import { Dealer } from "../socket/dealer.js";

export interface EventPublisherOptions {
  /** The pubsub's incoming address. Default tcp://127.0.0.1:47298. */
  address?: string;
  /** Our routing id; default a fresh uuid4 (EventMQ's pubsub decodes it as UTF-8). */
  routingId?: string;
  /** Messages queued while the pubsub is slow or unreachable. Default 1000. */
  sendHighWaterMark?: number;
  /** ms publish() may wait for room in that queue: -1 = as long as it takes, 0 = reject at once
   * with EAGAIN (EventMQ's publisher drops the message then). Default -1. */
  sendTimeout?: number;
  /** ms close() keeps delivering queued messages. Default 2000. */
  linger?: number;
}

/** A message frame: strings as UTF-8, bytes as they are, anything else as Python's json.dumps writes it. */
export function publishBody(message: unknown): Buffer {
  if (typeof message === "string") return Buffer.from(message, "utf8");
  if (message instanceof Uint8Array) return Buffer.isBuffer(message) ? message : Buffer.from(message.buffer, message.byteOffset, message.byteLength);
  return Buffer.from(pyJson(message), "utf8");
}

const topicFrame = (topic: string | Uint8Array): Buffer => (typeof topic === "string" ? Buffer.from(topic, "utf8") : publishBody(topic));

export class EventPublisher {
  readonly address: string;
  readonly routingId: string;
  private readonly dealer: Dealer;

  constructor(options: EventPublisherOptions = {}) {
    this.address = options.address ?? DEFAULT_ADDRESSES.publisherIncoming;
    this.routingId = options.routingId ?? newMsgid();
    this.dealer = new Dealer({
      routingId: this.routingId,
      sendHighWaterMark: options.sendHighWaterMark ?? 1000,
      sendTimeout: options.sendTimeout ?? -1,
      linger: options.linger ?? 2000,
    });
    this.dealer.connect(this.address);
  }

  /**
   * Publishes `message` under `topic`. A string goes as UTF-8 and bytes as they are; anything
   * else is JSON-encoded (as EventMQ's library does). Resolves with the msgid once queued.
   */
  async publish(topic: string | Uint8Array, message: unknown): Promise<string> {
    const msgid = newMsgid();
    await this.dealer.send(encode({ command: "PUBLISH", msgid, topic: topicFrame(topic), message: publishBody(message) }));
    return msgid;
  }

  /** Stops; messages already queued get up to `linger` ms to go out. */
  close(): void {
    this.dealer.close();
  }

  get closed(): boolean {
    return this.dealer.closed;
  }

  async [Symbol.asyncDispose](): Promise<void> {
    this.close();
  }
}
