// Every complete example in the README must run as written. A ```js block that starts with an
// `import` line is a complete program: it is saved in the package root (so `import ... from "emq"`
// resolves to this package through its own "exports"), run with node, and its stdout must be exactly
// the lines its `// -> text` comments announce, in order. Blocks that do not start with `import` are
// fragments and are not run.

import t from "tap";
import { execFile } from "node:child_process";
import { readFileSync, writeFileSync, rmSync } from "node:fs";
import { fileURLToPath } from "node:url";
import { join } from "node:path";

const root = fileURLToPath(new URL("../", import.meta.url));
const readme = readFileSync(join(root, "README.md"), "utf8");

interface Example {
  heading: string;
  code: string;
  expected: string[];
}

function examples(): Example[] {
  const out: Example[] = [];
  let heading = "(top)";
  const re = /^(#{1,4}) (.*)$|^```js\n([\s\S]*?)^```$/gm;
  for (let m; (m = re.exec(readme)); ) {
    if (m[1]) {
      heading = m[2]!;
      continue;
    }
    const code = m[3]!;
    if (!code.startsWith("import ")) continue;
    const expected = [...code.matchAll(/\/\/ -> (.*)$/gm)].map((x) => x[1]!.trimEnd());
    out.push({ heading, code, expected });
  }
  return out;
}

const all = examples();

t.test("the README has runnable examples", async (t) => {
  t.ok(all.length >= 1, `found ${all.length}`);
  for (const ex of all) t.ok(ex.expected.length > 0, `"${ex.heading}" example announces its output with // -> comments`);
});

for (const [i, ex] of all.entries()) {
  t.test(`README example ${i + 1} (${ex.heading}) runs as written`, async (t) => {
    const file = join(root, `.readme-example-${process.pid}-${i}.mjs`);
    writeFileSync(file, ex.code);
    t.teardown(() => rmSync(file, { force: true }));
    const out = await new Promise<string>((resolve, reject) => {
      execFile(process.execPath, [file], { cwd: root, timeout: 20_000 }, (err, stdout, stderr) =>
        err ? reject(new Error(`${err.message}\n${stderr}`)) : resolve(stdout),
      );
    });
    t.same(out.trimEnd().split("\n"), ex.expected);
  });
}
