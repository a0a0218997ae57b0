// The v1 limits, as Marconi 2014.1 enforces them (reference marconi.md §1.5), in one place so the
// validator, the store, the spec and the tests agree. The memory bounds at the bottom are ours:
// the reference relies on its database for those.

export const LIMITS = {
  queueNameMax: 64,
  projectIdMax: 256,
  messageTtlMin: 60,
  messageTtlMax: 1_209_600, // 14 days
  claimTtlMin: 60,
  claimTtlMax: 43_200, // 12 h
  graceMin: 60,
  graceMax: 43_200,
  /** A whole message post (the `body` array), re-encoded compactly in the request's codec. */
  postBytesMax: 262_144,
  metadataBytesMax: 65_536,
  pageDefault: 10,
  pageMax: 20,
  claimDefault: 10,
  claimMax: 20,
  idsMax: 20,
} as const;

/** Memory bounds for one store; the CLI exposes them as options. */
export interface CapacityOptions {
  /** Live messages in one queue; a post that would pass it is refused with 503. */
  maxMessagesPerQueue?: number;
  /** Bytes of message bodies held in total (all projects); a post that would pass it gets 503. */
  maxTotalBytes?: number;
  /** Queues in total (all projects); creating one more gets 503. */
  maxQueues?: number;
}

export const DEFAULT_CAPACITY: Required<CapacityOptions> = {
  maxMessagesPerQueue: 1_000_000,
  maxTotalBytes: 512 * 1024 * 1024,
  maxQueues: 100_000,
};
