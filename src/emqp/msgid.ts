// Message ids: EventMQ uses str(uuid4()) for every message; nothing validates the format, so any
// UTF-8 text is accepted from peers, but ours are uuid4s like the reference's.

import { randomUUID } from "node:crypto";

export const newMsgid = (): string => randomUUID();

/** A HEARTBEAT body: seconds since the epoch as a decimal, like Python's str(time.time()). */
export const heartbeatTime = (now = Date.now()): string => String(now / 1000);
