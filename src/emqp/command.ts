// eMQP/1.0 messages as typed commands, and back (spec/emqp.md §2, §3). Frames are as a DEALER
// sees them: '' delimiter, 'eMQP/1.0', COMMAND, msgid, body... A ROUTER-side role strips the
// routing id first. Text frames must be UTF-8; PUBLISH's topic and message and REQUEST's extra
// frames are carried as bytes. decode() never throws anything but EmqpError.

import { Buffer } from "node:buffer";
import { PROTOCOL } from "./constants.js";
import { EmqpError } from "./errors.js";
import { pyJson } from "./pyjson.js";
import { EMPTY, describe, frame, text } from "./text.js";

/** [weight, queue name] pairs, as INFORM carries them. */
export type QueueWeights = Array<[number, string]>;

export type ClientType = "worker" | "scheduler";

export type Command =
  | { command: "REQUEST"; msgid: string; queue: string; headers: string; job: string; extra?: Buffer[] }
  /** Three shapes share this name (see spec/emqp.md §3): the body frames are kept as text. */
  | { command: "REPLY"; msgid: string; body: string[] }
  | { command: "ACK"; msgid: string; acked: string }
  /** `queues` undefined: the INFORM's queues frame was '' (the broker picks its defaults). */
  | { command: "INFORM"; msgid: string; queues: QueueWeights | undefined; clientType: ClientType }
  | { command: "HEARTBEAT"; msgid: string; time: string }
  | { command: "SCHEDULE" | "UNSCHEDULE"; msgid: string; queue: string; headers: string; interval: number; job: string; cron: string }
  | { command: "PUBLISH"; msgid: string; topic: Buffer; message: Buffer }
  | { command: "READY" | "DISCONNECT" | "KBYE" | "STATUS" | "ROUTER_SHOW_WORKERS" | "ROUTER_SHOW_SCHEDULERS"; msgid: string }
  /** Any other command (e.g. emq-cli's HELLO): roles decide whether to answer. */
  | { command: "OTHER"; name: string; msgid: string; body: Buffer[] };

export type CommandName = Exclude<Command["command"], "OTHER">;

/** Body frames each command needs at least (after the msgid). */
const MIN_BODY: Record<CommandName, number> = {
  REQUEST: 3,
  REPLY: 1,
  ACK: 1,
  INFORM: 2,
  HEARTBEAT: 0,
  SCHEDULE: 5,
  UNSCHEDULE: 5,
  PUBLISH: 2,
  READY: 0,
  DISCONNECT: 0,
  KBYE: 0,
  STATUS: 0,
  ROUTER_SHOW_WORKERS: 0,
  ROUTER_SHOW_SCHEDULERS: 0,
};

const NAMES = new Set(Object.keys(MIN_BODY));
const VERSION_FRAME = Buffer.from(PROTOCOL);
const NAME_FRAMES = new Map<string, Buffer>([...NAMES].map((n) => [n, Buffer.from(n)]));

const nameFrame = (n: string): Buffer => NAME_FRAMES.get(n) ?? Buffer.from(n);

function parseQueues(s: string): QueueWeights | undefined {
  if (s === "") return undefined;
  let v: unknown;
  try {
    v = JSON.parse(s);
  } catch {
    throw new EmqpError("bad-queues", "INFORM queues are not JSON");
  }
  if (!Array.isArray(v)) throw new EmqpError("bad-queues", "INFORM queues must be a list of [weight, name]");
  const out: QueueWeights = [];
  for (const q of v) {
    if (!Array.isArray(q) || q.length !== 2 || typeof q[0] !== "number" || !Number.isFinite(q[0]) || typeof q[1] !== "string" || q[1] === "") {
      throw new EmqpError("bad-queues", `INFORM queue entry ${describe(q)} is not [weight, name]`);
    }
    out.push([q[0], q[1]]);
  }
  return out;
}

/**
 * Reads one eMQP message (DEALER view). `start` skips leading frames: 1 on a ROUTER, after the
 * routing id. Unknown commands come back as OTHER; malformed ones throw EmqpError.
 */
export function decode(frames: readonly Buffer[], start = 0): Command {
  const n = frames.length - start;
  if (n < 4) throw new EmqpError("too-few-frames", `an eMQP message has at least 4 frames, got ${Math.max(n, 0)}`);
  if (frames[start]!.length !== 0) throw new EmqpError("bad-delimiter", "the first frame must be empty");
  const version = frames[start + 1]!;
  if (!version.equals(VERSION_FRAME)) {
    throw new EmqpError("unsupported-version", `unsupported protocol ${JSON.stringify(version.toString("latin1").slice(0, 40))}`);
  }
  const rawName = text(frames[start + 2]!, "the command");
  const msgid = text(frames[start + 3]!, "the msgid");
  const b = start + 4; // first body frame
  const nb = n - 4;
  // EventMQ's backend dispatches on the lower-cased name; accept any case, as it does.
  const name = NAMES.has(rawName) ? rawName : rawName.toUpperCase();
  if (!NAMES.has(name)) return { command: "OTHER", name: rawName, msgid, body: frames.slice(b) };
  const cmd = name as CommandName;
  if (nb < MIN_BODY[cmd]) throw new EmqpError("too-few-frames", `${cmd} needs ${MIN_BODY[cmd]} body frame(s), got ${nb}`);
  const t = (i: number, what: string) => text(frames[b + i]!, what);
  switch (cmd) {
    case "REQUEST": {
      const r: Command = { command: cmd, msgid, queue: t(0, "the queue name"), headers: t(1, "the headers"), job: t(2, "the job body") };
      if (nb > 3) r.extra = frames.slice(b + 3);
      return r;
    }
    case "REPLY": {
      const body: string[] = [];
      for (let i = 0; i < nb; i++) body.push(t(i, "a REPLY frame"));
      return { command: cmd, msgid, body };
    }
    case "ACK":
      return { command: cmd, msgid, acked: t(0, "the acknowledged msgid") };
    case "INFORM": {
      const queues = parseQueues(t(0, "the INFORM queues"));
      const type = t(1, "the client type");
      if (type !== "worker" && type !== "scheduler") throw new EmqpError("bad-client-type", `INFORM client type must be worker or scheduler, got ${JSON.stringify(type.slice(0, 40))}`);
      return { command: cmd, msgid, queues, clientType: type };
    }
    case "HEARTBEAT":
      return { command: cmd, msgid, time: nb > 0 ? t(0, "the HEARTBEAT time") : "" };
    case "SCHEDULE":
    case "UNSCHEDULE": {
      const iv = t(2, "the interval");
      // Whole seconds: EventMQ's scheduler reads it with int(), which fails on anything else.
      if (!/^\s*-?\d{1,15}\s*$/.test(iv)) throw new EmqpError("bad-interval", `${cmd} interval must be a whole number of seconds, got ${JSON.stringify(iv.slice(0, 40))}`);
      return { command: cmd, msgid, queue: t(0, "the queue name"), headers: t(1, "the headers"), interval: Number(iv), job: t(3, "the job body"), cron: t(4, "the cron expression") };
    }
    case "PUBLISH":
      return { command: cmd, msgid, topic: frames[b]!, message: frames[b + 1]! };
    default:
      return { command: cmd, msgid };
  }
}

/** Frames for a command (DEALER view: starting with the '' delimiter). */
export function encode(cmd: Command): Buffer[] {
  const name = cmd.command === "OTHER" ? cmd.name : cmd.command;
  const out: Buffer[] = [EMPTY, VERSION_FRAME, nameFrame(name), frame(cmd.msgid)];
  switch (cmd.command) {
    case "REQUEST":
      out.push(frame(cmd.queue), frame(cmd.headers), frame(cmd.job));
      if (cmd.extra) out.push(...cmd.extra);
      break;
    case "REPLY":
      for (const s of cmd.body) out.push(frame(s));
      break;
    case "ACK":
      out.push(frame(cmd.acked));
      break;
    case "INFORM":
      out.push(frame(cmd.queues === undefined ? "" : pyJson(cmd.queues)), frame(cmd.clientType));
      break;
    case "HEARTBEAT":
      out.push(frame(cmd.time));
      break;
    case "SCHEDULE":
    case "UNSCHEDULE":
      out.push(frame(cmd.queue), frame(cmd.headers), frame(String(cmd.interval)), frame(cmd.job), frame(cmd.cron));
      break;
    case "PUBLISH":
      out.push(cmd.topic, cmd.message);
      break;
    case "OTHER":
      out.push(...cmd.body);
      break;
  }
  return out;
}
