// Node driver for the conformance table (cases.ts): one tap subtest per case. Bun and Deno run the
// same table with run.ts.

import t from "tap";
import { CASE_TIMEOUT_MS, cases } from "./cases.js";

for (const c of cases) {
  t.test(c.name, { timeout: CASE_TIMEOUT_MS + 5_000 }, async (t) => {
    await c.run();
    t.pass(c.name);
  });
}
