// Message ids: EventMQ uses str(uuid4()) for every message; nothing validates the format, so any
// UTF-8 text is accepted from peers. Ours have the same shape, made cheaply: a random uuid4 drawn
// once per process with a counter in its last 12 hex digits, unique per process and across
// processes (a broker makes two per job, so a fresh random uuid each time showed in profiles).

import { randomUUID } from "node:crypto";

const prefix = randomUUID().slice(0, 24); // "xxxxxxxx-xxxx-4xxx-yxxx-"
let counter = Math.floor(Math.random() * 0x1000000); // differs between runs of the same process

export const newMsgid = (): string => {
  counter = counter >= 0xffffffffffff ? 0 : counter + 1;
  return prefix + counter.toString(16).padStart(12, "0");
};

/** A HEARTBEAT body: seconds since the epoch as a decimal, like Python's str(time.time()). */
export const heartbeatTime = (now = Date.now()): string => {
  const s = now / 1000;
  return Number.isInteger(s) ? `${s}.0` : String(s); // Python's str() of a whole float keeps ".0"
};
