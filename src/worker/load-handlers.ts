// Loads the module named by emq-worker's --handlers with a dynamic import and collects its
// handlers (handlersFromModule). JavaScript (.js, .mjs, .cjs) works everywhere; TypeScript works
// under Bun and Deno, and under Node only from 22.6 with type stripping (on by default from 23.6);
// older Nodes refuse .ts files, and the error says so.

import { existsSync } from "node:fs";
import { resolve } from "node:path";
import { pathToFileURL } from "node:url";
import { WorkerError } from "./errors.js";
import { handlersFromModule, type Handler } from "./handlers.js";

export async function loadHandlers(file: string, cwd = process.cwd()): Promise<Map<string, Handler>> {
  const path = resolve(cwd, file);
  if (!existsSync(path)) throw new WorkerError("EINVAL", `handlers module ${file} not found (looked at ${path})`);
  let mod: Record<string, unknown>;
  try {
    mod = (await import(pathToFileURL(path).href)) as Record<string, unknown>;
  } catch (err) {
    const e = err as Error & { code?: string };
    if (/\.[cm]?tsx?$/.test(path) && (e.code === "ERR_UNKNOWN_FILE_EXTENSION" || e.code === "ERR_UNSUPPORTED_NODE_MODULES_TYPE_STRIPPING")) {
      throw new WorkerError(
        "EINVAL",
        `cannot import TypeScript module ${file} with this runtime: compile it to JavaScript, run under Bun or Deno, or use Node >= 22.6 (type stripping)`,
      );
    }
    throw new WorkerError("EINVAL", `cannot load handlers module ${file}: ${e.message}`);
  }
  const handlers = handlersFromModule(mod);
  if (handlers.size === 0) {
    throw new WorkerError("EINVAL", `handlers module ${file} exports no functions (export each handler, or an object named "handlers")`);
  }
  return handlers;
}
