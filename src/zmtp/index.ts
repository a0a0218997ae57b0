// The sans-I/O ZMTP 3.1 wire core: no node: imports, no timers; bytes in, events out.
export * from "./errors.js";
export * from "./frame.js";
export * from "./bytes.js";
export * from "./greeting.js";
export * from "./decoder.js";
export * from "./writer.js";
export * from "./metadata.js";
export * from "./command.js";
export * from "./socket-type.js";
export * from "./mechanism/mechanism.js";
export * from "./mechanism/null.js";
export * from "./mechanism/auth.js";
export * from "./mechanism/plain.js";
export * from "./session.js";
