// Scaffolding for the pub/sub tests: a PubSub on loopback port 0 that logs into an array, event
// subscribers that read continuously into a list, and a way to know that the PUB has every
// subscription before the real messages go (a SUB's subscriptions travel on its own connection, so
// nothing else orders them before a publisher's messages).

import { Buffer } from "node:buffer";
import type { Test } from "tap";
import { createLogger } from "../../src/log/logger.js";
import { EventPublisher, EventSubscriber, PubSub, type PubSubOptions, type PublishedEvent } from "../../src/pubsub/index.js";
import { until } from "../socket/fake-peer.js";

export const LOCAL = { incoming: "tcp://127.0.0.1:0", outgoing: "tcp://127.0.0.1:0" };

/** Message body of the sync probes, filtered out of what the tests compare. */
export const SYNC = "\u0000emq-test-sync";

export async function startPubSub(t: Test, options: PubSubOptions = {}): Promise<{ pubsub: PubSub; lines: string[] }> {
  const lines: string[] = [];
  const pubsub = new PubSub({ ...LOCAL, linger: 0, logger: createLogger({ level: "debug", format: "json", write: (l) => lines.push(l) }), ...options });
  await pubsub.start();
  t.teardown(() => pubsub.stop());
  return { pubsub, lines };
}

export function publisher(t: Test, pubsub: PubSub, options: ConstructorParameters<typeof EventPublisher>[0] = {}): EventPublisher {
  const p = new EventPublisher({ address: pubsub.endpoints.incoming!, linger: 0, ...options });
  t.teardown(() => p.close());
  return p;
}

/** An EventSubscriber that reads everything into `events` as it arrives. */
export class Collector {
  readonly events: PublishedEvent[] = [];
  readonly sub: EventSubscriber;
  readonly done: Promise<void>;

  constructor(
    t: Test,
    pubsub: PubSub,
    readonly prefixes: (string | Buffer)[],
    options: { receiveHighWaterMark?: number } = {},
  ) {
    const sub = new EventSubscriber({ address: pubsub.endpoints.outgoing!, topics: prefixes, ...options });
    this.sub = sub;
    t.teardown(() => sub.close());
    this.done = (async () => {
      for await (const e of sub) this.events.push(e);
    })();
  }

  /** What arrived, sync probes left out, as [topic hex, message hex]. */
  real(): [string, string][] {
    return this.events.filter((e) => !e.message.toString("latin1").startsWith(SYNC)).map((e) => [e.topic.toString("hex"), e.message.toString("hex")]);
  }

  /** Whether the probe with this token has arrived. */
  hasProbe(token: string): boolean {
    return this.events.some((e) => e.message.toString("latin1") === SYNC + token);
  }
}

/**
 * Publishes a probe (a fresh token) under each collector's first prefix until every collector has
 * received it: after that its subscriptions are in the PUB, and (one publisher, one connection, one
 * PUB) everything published afterwards reaches it in order. Used again at the end as a fence:
 * whatever was published before has arrived once the probe has.
 */
let tokens = 0;
export async function sync(pub: EventPublisher, collectors: Collector[], ms = 5000): Promise<void> {
  const token = String(++tokens);
  const end = Date.now() + ms;
  for (;;) {
    const pending = collectors.filter((c) => !c.hasProbe(token));
    if (pending.length === 0) return;
    if (Date.now() > end) throw new Error(`timed out syncing ${pending.length} subscriber(s)`);
    for (const c of pending) await pub.publish(Buffer.concat([Buffer.from(c.prefixes[0] ?? ""), Buffer.from("\u0000sync")]), SYNC + token);
    await until(() => collectors.every((c) => c.hasProbe(token)), "sync probes", 50).catch(() => {});
  }
}

/** Whether `topic` starts with one of `prefixes` (a SUB's filter). */
export const matches = (topic: Buffer, prefixes: (string | Buffer)[]): boolean =>
  prefixes.some((p) => {
    const b = Buffer.from(p);
    return topic.length >= b.length && topic.subarray(0, b.length).equals(b);
  });

/** The JSON log lines as objects. */
export const parsed = (lines: string[]): Record<string, unknown>[] => lines.map((l) => JSON.parse(l) as Record<string, unknown>);

/** A receive that gives up after `ms` and leaves no receive pending (a timed-out one would eat the next message). */
export function tryReceive<T>(sock: { receive(o?: { signal?: AbortSignal }): Promise<T> }, ms: number): Promise<T | undefined> {
  return sock.receive({ signal: AbortSignal.timeout(ms) }).catch((err: { code?: string }) => {
    if (err.code === "ABORT_ERR") return undefined;
    throw err;
  });
}
