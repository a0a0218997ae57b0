// eMQP/1.0 names and the EventMQ defaults that shape the protocol (../spec/emqp.md §1, §8).

/** Frame 1 of every eMQP message. */
export const PROTOCOL = "eMQP/1.0";

/** EventMQ's default addresses (all loopback). */
export const DEFAULT_ADDRESSES = {
  frontend: "tcp://127.0.0.1:47291",
  backend: "tcp://127.0.0.1:47290",
  admin: "tcp://127.0.0.1:47293",
  publisherIncoming: "tcp://127.0.0.1:47298",
  publisherOutgoing: "tcp://127.0.0.1:47299",
} as const;

export const DEFAULT_QUEUE = "default";
export const DEFAULT_QUEUE_WEIGHT = 10;

/** Every peer sends a HEARTBEAT (or anything) at least this often. */
export const HEARTBEAT_INTERVAL_MS = 3000;
/** The broker forgets a worker or scheduler silent for this long. */
export const HEARTBEAT_TIMEOUT_MS = 5000;
/** A service gives the broker up for lost after this many silent HEARTBEAT_TIMEOUT windows. */
export const HEARTBEAT_LIVENESS = 3;
