// Shared by the deploy/ tests: what a missing tool means. Outside CI a missing kubectl or npm
// package skips the test (exit 77, CTest's SKIP_RETURN_CODE); with CI=true it fails it, as the
// IMGORIGIN_REQUIRE_SERVICE tests do.
import { createRequire } from "node:module";
import { spawnSync } from "node:child_process";

export const kSkip = 77;

export function missing(what) {
  const inCi = process.env.CI === "true";
  console.error(`${inCi ? "FAIL" : "SKIP"}: ${what} (scripts/setup installs it)`);
  process.exit(inCi ? 1 : kSkip);
}

// The npm package from tests/node_modules, or missing().
export async function requirePackage(name) {
  const require = createRequire(new URL("../package.json", import.meta.url));
  let path;
  try {
    path = require.resolve(name);
  } catch {
    missing(`npm package ${name} is not installed in tests/node_modules`);
  }
  return import(path);
}

// Runs a program, bounded in time; returns {status, stdout, stderr} or missing() if absent.
export function run(program, args, { timeoutMs = 30000, input } = {}) {
  const r = spawnSync(program, args, { encoding: "utf8", timeout: timeoutMs, input });
  if (r.error && r.error.code === "ENOENT") missing(`${program} is not on PATH`);
  if (r.error) throw new Error(`${program} ${args.join(" ")}: ${r.error.message}`);
  return r;
}

// Collects failures so that one run reports all of them.
export class Checks {
  constructor() { this.failures = []; }
  expect(cond, message) { if (!cond) this.failures.push(message); return cond; }
  report(label) {
    for (const f of this.failures) console.error(`FAIL ${label}: ${f}`);
    return this.failures.length === 0;
  }
}
