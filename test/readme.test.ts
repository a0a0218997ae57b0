// The README's example must run as written: extract it, run it from the package root (so that
// `import ... from "emq"` resolves to this package through its own "exports"), check its output.

import t from "tap";
import { execFile } from "node:child_process";
import { readFileSync, writeFileSync, rmSync } from "node:fs";
import { fileURLToPath } from "node:url";
import { join } from "node:path";

const root = fileURLToPath(new URL("../", import.meta.url));

t.test("README example runs as written", async (t) => {
  const readme = readFileSync(join(root, "README.md"), "utf8");
  const section = readme.slice(readme.indexOf("## Example"));
  const m = /```js\n([\s\S]*?)```/.exec(section);
  t.ok(m, "README has a js example under ## Example");
  const file = join(root, `.readme-example-${process.pid}.mjs`);
  writeFileSync(file, m![1]!);
  t.teardown(() => rmSync(file, { force: true }));
  const out = await new Promise<string>((resolve, reject) => {
    execFile(process.execPath, [file], { cwd: root, timeout: 20_000 }, (err, stdout, stderr) =>
      err ? reject(new Error(`${err.message}\n${stderr}`)) : resolve(stdout),
    );
  });
  t.same(out.trim().split("\n"), ["worker-1 says hello world", "welcome"]);
});
