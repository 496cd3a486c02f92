// The settings deploy/ hands to imgorigin, checked by imgorigin itself and by its reference:
//  - every imgorigin.toml under deploy/k8s loads (`imgorigin sign --config FILE` validates the
//    whole config, unknown keys included) with the variables the manifests set;
//  - compose.yaml's environment loads the same way;
//  - every IMGORIGIN_* variable that compose, the Kubernetes manifests, the systemd unit, the
//    Terraform module and the AWS Batch job definition set is one conf/reference.toml documents.
//   node tests/deploy/config_test.mjs <imgorigin binary> <source dir>
// A broken config is shown first and must be refused, so the check cannot pass by not looking.
import { execFileSync, spawnSync } from "node:child_process";
import { readdirSync, readFileSync, statSync, writeFileSync, mkdtempSync, rmSync } from "node:fs";
import { tmpdir } from "node:os";
import { join, relative, resolve } from "node:path";
import { Checks, requirePackage } from "./require.mjs";

const [binary, root] = process.argv.slice(2).map((p) => p && resolve(p));
if (!binary || !root) {
  console.error("usage: config_test.mjs <imgorigin binary> <source dir>");
  process.exit(2);
}
const YAML = await requirePackage("yaml");
const deploy = join(root, "deploy");
const scratch = mkdtempSync(join(tmpdir(), "imgorigin-deploy-config-"));
process.on("exit", () => rmSync(scratch, { recursive: true, force: true }));

function* walk(dir) {
  for (const name of readdirSync(dir)) {
    const path = join(dir, name);
    if (statSync(path).isDirectory()) yield* walk(path);
    else yield path;
  }
}

// Variables every run gets: keys and an API key (the manifests take them from Secrets).
const secrets = { IMGORIGIN_KEY: "6b6579", IMGORIGIN_SALT: "73616c74", IMGORIGIN_API_KEY: "k" };

// Loads a config through the binary; returns its error text, "" when it loaded.
function load(configFile, env) {
  const args = configFile ? ["sign", "--config", configFile] : ["sign"];
  const r = spawnSync(binary, [...args, "/rs:fit:10:10/plain/local:///a.jpg"], {
    encoding: "utf8", timeout: 10000, cwd: scratch,
    env: { PATH: process.env.PATH, ...secrets, ...env },
  });
  if (r.error) throw new Error(`${binary}: ${r.error.message}`);
  return r.status === 0 ? "" : (r.stderr || `exit ${r.status}`).trim();
}

const documented = new Set(
  [...readFileSync(join(root, "conf/reference.toml"), "utf8").matchAll(/# (IMGORIGIN_[A-Z0-9_]+):/g)]
    .map((m) => m[1]));

const c = new Checks();
c.expect(documented.size > 50, `conf/reference.toml documents only ${documented.size} variables`);

// Self-check: an unknown key must be refused.
const bad = join(scratch, "bad.toml");
writeFileSync(bad, "[cache]\nmemory_sise = \"1MiB\"\n");
c.expect(load(bad, {}) !== "", "imgorigin accepted a config with an unknown key: the check is blind");

// Every imgorigin.toml the Kubernetes manifests mount.
for (const file of [...walk(join(deploy, "k8s"))].filter((f) => f.endsWith(".toml"))) {
  const error = load(file, {});
  c.expect(error === "", `${relative(root, file)}: ${error}`);
}

// compose.yaml's environment (merge keys resolved, ${VAR:?…} filled in).
const compose = YAML.parse(readFileSync(join(deploy, "compose.yaml"), "utf8"), { merge: true });
const composeEnv = Object.fromEntries(Object.entries(compose.services.imgorigin.environment)
  .map(([k, v]) => [k, String(v).replace(/^\$\{([A-Z_]+)[:?-][^}]*\}$/, (_, name) => secrets[name] ?? "x")]));
composeEnv.IMGORIGIN_LOCAL_ROOT = scratch;  // /images does not exist here
const composeError = load("", composeEnv);
c.expect(composeError === "", `compose.yaml environment: ${composeError}`);

// Variable names set anywhere in deploy/ must be documented ones.
const setNames = new Map();  // name -> file
const note = (name, file) => { if (!setNames.has(name)) setNames.set(name, relative(root, file)); };
for (const file of walk(deploy)) {
  const text = readFileSync(file, "utf8");
  if (/\.(ya?ml|tf|json|service)$|Dockerfile$/.test(file)) {
    // Assignments only: `NAME:`/`NAME=`/`NAME =`/"name": "NAME" — not mentions in comments.
    for (const line of text.split("\n").filter((l) => !/^\s*#/.test(l))) {
      for (const m of line.matchAll(/\b(IMGORIGIN_[A-Z0-9_]+)\s*[:=]|"name":\s*"(IMGORIGIN_[A-Z0-9_]+)"|name:\s*(IMGORIGIN_[A-Z0-9_]+)\b|-\s*(IMGORIGIN_[A-Z0-9_]+)=/g)) {
        note(m[1] ?? m[2] ?? m[3] ?? m[4], file);
      }
    }
  }
}
for (const key of ["IMGORIGIN_KEY", "IMGORIGIN_SALT"]) {
  c.expect(setNames.has(key), `nothing in deploy/ sets ${key}`);
}
for (const [name, file] of setNames) {
  c.expect(documented.has(name), `${file} sets ${name}, which conf/reference.toml does not document`);
}

const ok = c.report("deploy config");
console.log(`${ok ? "ok" : "FAILED"}: k8s configs and compose environment load; ` +
            `${setNames.size} IMGORIGIN_* variables set in deploy/ are documented`);
process.exit(ok ? 0 : 1);
