// Child process for the journal crash test (journal.test.ts): appends {i} records with 64 in
// flight and prints "ack <i>" once each append's promise has resolved (stdout to a pipe is
// synchronous on Linux, so a printed line was acknowledged before any SIGKILL). With "compact" it
// also compacts every 25 ms with the snapshot [{ upTo: n }, fillers...], n being the count of
// records appended so far (the state at the call), and prints "compacted <n>" when one is done.
// It resumes after the state found on open, so it can be killed and restarted on the same dir.
//
// usage: journal-crash-child.ts <dir> stream|compact

import { Journal } from "../../src/queue-api/journal.js";

const [dir, mode] = process.argv.slice(2);
if (!dir || (mode !== "stream" && mode !== "compact")) {
  process.stderr.write("usage: journal-crash-child.ts <dir> stream|compact\n");
  process.exit(2);
}

const { journal, records, tornBytes } = await Journal.open({ dir });
// Resume after the recovered state: the last snapshot's count plus the records after it.
let next = 0;
for (const r of records as Array<{ upTo?: number; i?: number }>) {
  if (typeof r.upTo === "number") next = r.upTo;
  else if (typeof r.i === "number") next = r.i + 1;
}
process.stdout.write(`start ${next} ${tornBytes}\n`);

const pad = "p".repeat(200);
let inFlight = 0;
const fill = (): void => {
  while (inFlight < 64) {
    inFlight++;
    const i = next++;
    journal.append({ i, pad: pad.slice(0, i % 200) }).then(
      () => {
        inFlight--;
        process.stdout.write(`ack ${i}\n`);
        fill();
      },
      (e: Error) => {
        process.stderr.write(`append ${i} failed: ${e.message}\n`);
        process.exit(1);
      },
    );
  }
};
fill();

if (mode === "compact") {
  const filler = "f".repeat(500);
  let running = false;
  setInterval(() => {
    if (running) return;
    running = true;
    const n = next;
    // About 1.3 MB of snapshot, so it is written in more than one chunk.
    const snapshot = [{ upTo: n }, ...Array.from({ length: 2500 }, (_, k) => ({ fill: k, filler }))];
    journal.compact(snapshot).then(
      () => {
        running = false;
        process.stdout.write(`compacted ${n}\n`);
      },
      (e: Error) => {
        process.stderr.write(`compact failed: ${e.message}\n`);
        process.exit(1);
      },
    );
  }, 25);
}
