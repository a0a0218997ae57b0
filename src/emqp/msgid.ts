// Message ids: EventMQ uses str(uuid4()) for every message; nothing validates the format, so any
// UTF-8 text is accepted from peers, but ours are uuid4s like the reference's.

import { randomUUID } from "node:crypto";

export const newMsgid = (): string => randomUUID();

/** A HEARTBEAT body: seconds since the epoch as a decimal, like Python's str(time.time()). */
export const heartbeatTime = (now = Date.now()): string => {
  const s = now / 1000;
  return Number.isInteger(s) ? `${s}.0` : String(s); // Python's str() of a whole float keeps ".0"
};
