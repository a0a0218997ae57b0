// eMQP/1.0: the EventMQ protocol's codec (frames <-> typed commands, headers, job bodies, results).
export * from "./constants.js";
export { EmqpError, type EmqpErrorReason } from "./errors.js";
export { decode, encode, type Command, type CommandName, type ClientType, type QueueWeights } from "./command.js";
export { parseHeaders, formatHeaders, type Headers } from "./headers.js";
export { parseJob, formatJob, parseResult, formatResult, type Job, type JobResult, type JobFailure } from "./job.js";
export { pyJson } from "./pyjson.js";
export { newMsgid, heartbeatTime } from "./msgid.js";
export { text as decodeText } from "./text.js";
