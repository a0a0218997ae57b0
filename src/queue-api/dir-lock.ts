// The journal directory's pid lock (journal.lock), so that two brokers never write one journal.
// Its own module: process liveness and lock-file races are a concern apart from the file format.

import { readFile, realpath, rename, unlink, writeFile } from "node:fs/promises";
import * as path from "node:path";
import { JournalError, errno } from "./journal-error.js";

const LOCK = "journal.lock";

/** Directories (real paths) this process has open: a second open here is refused like another process's. */
const heldLocks = new Set<string>();

/**
 * Whether a process with this pid exists: true, false, or "unknown" when the runtime may not look
 * (Deno without --allow-run). Only ESRCH counts as dead; EPERM means it exists under another user.
 */
function pidAlive(pid: number): boolean | "unknown" {
  try {
    process.kill(pid, 0);
    return true;
  } catch (e) {
    const code = (e as NodeJS.ErrnoException).code;
    if (code === "ESRCH") return false;
    if (code === "EPERM") return true;
    return "unknown";
  }
}

/**
 * Takes the directory lock: creates the lock file exclusively with our pid. An existing lock whose
 * pid is dead (or unreadable, or our own pid left by an earlier incarnation, as in a restarted
 * container where the broker is pid 1 again) is replaced by an atomic rename, then read back to
 * check we won. Two processes racing to take over the same stale lock within microseconds can
 * both succeed; the lock guards against a second broker started by mistake, not against that.
 */
export async function acquireLock(dir: string): Promise<() => Promise<void>> {
  const key = await realpath(dir);
  const lockPath = path.join(dir, LOCK);
  if (heldLocks.has(key)) {
    throw new JournalError("EJOURNALLOCKED", `journal ${dir} is already open in this process (pid ${process.pid})`, { file: lockPath, pid: process.pid });
  }
  heldLocks.add(key);
  const mine = `${process.pid}\n`;
  const release = async (): Promise<void> => {
    heldLocks.delete(key);
    try {
      if ((await readFile(lockPath, "utf8")) === mine) await unlink(lockPath);
    } catch {
      // already gone or unreadable: nothing of ours to remove
    }
  };
  try {
    for (let attempt = 0; attempt < 8; attempt++) {
      try {
        await writeFile(lockPath, mine, { flag: "wx" });
        return release;
      } catch (e) {
        if (errno(e) !== "EEXIST") throw e;
      }
      let text: string;
      try {
        text = await readFile(lockPath, "utf8");
      } catch (e) {
        if (errno(e) === "ENOENT") continue; // released meanwhile: try creating again
        throw e;
      }
      const pid = /^\d+\n?$/.test(text) ? Number.parseInt(text, 10) : NaN;
      const alive = Number.isSafeInteger(pid) && pid > 0 && pid !== process.pid ? pidAlive(pid) : false;
      if (alive === "unknown") {
        // Respect the lock, but say why: the usual cause is a Deno run without --allow-run.
        throw new JournalError(
          "EJOURNALLOCKED",
          `journal ${dir} has a lock left by process ${pid} (${lockPath}) and this runtime may not check whether that process still runs (Deno needs --allow-run); remove the lock file if no broker uses this directory`,
          { file: lockPath, pid },
        );
      }
      if (alive) {
        throw new JournalError("EJOURNALLOCKED", `journal ${dir} is locked by running process ${pid} (${lockPath})`, { file: lockPath, pid });
      }
      const tmp = `${lockPath}.${process.pid}.tmp`;
      await writeFile(tmp, mine);
      await rename(tmp, lockPath);
      if ((await readFile(lockPath, "utf8").catch(() => "")) === mine) return release;
    }
    throw new JournalError("EJOURNALLOCKED", `journal ${dir}: could not take the lock ${lockPath} (contended)`, { file: lockPath });
  } catch (e) {
    heldLocks.delete(key);
    throw e;
  }
}
