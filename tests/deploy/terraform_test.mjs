// Parses every .tf file of deploy/terraform with @cdktf/hcl2json (HashiCorp's HCL parser built
// to WebAssembly) and checks the module: every var., local., module., data. and resource
// reference resolves to a declaration; every variable has a description and a type and is used;
// every output has a description; resources belong to a required provider; file() reads files
// that exist. Then checks deploy/aws-batch: the job definition is valid JSON for an
// `imgorigin batch` array job, and the submit-job example names it.
//   node tests/deploy/terraform_test.mjs deploy
// Before checking the module, the checker is shown a few broken copies and must reject each.
import { existsSync, readdirSync, readFileSync } from "node:fs";
import { join } from "node:path";
import { Checks, requirePackage } from "./require.mjs";

const deployDir = process.argv[2];
if (!deployDir) {
  console.error("usage: terraform_test.mjs <deploy directory>");
  process.exit(2);
}
const tfDir = join(deployDir, "terraform");
const { parse } = await requirePackage("@cdktf/hcl2json");

async function parseModule(files) {
  const blocks = [];
  for (const [name, text] of Object.entries(files)) blocks.push(await parse(name, text));
  return blocks;
}

// Every string anywhere under `node` (HCL expressions come as "${…}" strings).
function* strings(node) {
  if (typeof node === "string") yield node;
  else if (Array.isArray(node)) for (const v of node) yield* strings(v);
  else if (node && typeof node === "object") for (const v of Object.values(node)) yield* strings(v);
}

function declarations(blocks) {
  const d = { variable: new Map(), local: new Set(), module: new Set(), output: new Map(),
              resource: new Set(), data: new Set(), providers: new Set() };
  for (const b of blocks) {
    for (const [name, body] of Object.entries(b.variable ?? {})) d.variable.set(name, body[0]);
    for (const locals of b.locals ?? []) for (const name of Object.keys(locals)) d.local.add(name);
    for (const name of Object.keys(b.module ?? {})) d.module.add(name);
    for (const [name, body] of Object.entries(b.output ?? {})) d.output.set(name, body[0]);
    for (const [type, byName] of Object.entries(b.resource ?? {})) {
      for (const name of Object.keys(byName)) d.resource.add(`${type}.${name}`);
    }
    for (const [type, byName] of Object.entries(b.data ?? {})) {
      for (const name of Object.keys(byName)) d.data.add(`${type}.${name}`);
    }
    for (const t of b.terraform ?? []) {
      for (const rp of t.required_providers ?? []) for (const p of Object.keys(rp)) d.providers.add(p);
    }
  }
  return d;
}

const kRef = /(?<![\w.])(data\.[a-z][\w-]*\.[\w-]+|var\.[\w-]+|local\.[\w-]+|module\.[\w-]+|[a-z][a-z0-9]*_[\w-]+\.[\w-]+)/g;
const kBuiltin = /^(each|count|path|self|terraform)\./;

function checkModule(blocks, dir, c) {
  const d = declarations(blocks);
  const used = new Set();
  c.expect(d.resource.size > 0, "no resources");
  for (const s of strings(blocks)) {
    if (!s.includes("${")) continue;
    for (const [, ref] of s.matchAll(kRef)) {
      if (kBuiltin.test(ref)) continue;
      const [head, name] = ref.split(".");
      if (head === "var") { used.add(name); c.expect(d.variable.has(name), `var.${name} is not declared`); }
      else if (head === "local") c.expect(d.local.has(name), `local.${name} is not declared`);
      else if (head === "module") c.expect(d.module.has(name), `module.${name} is not declared`);
      else if (head === "data") c.expect(d.data.has(ref.slice(5)), `${ref} is not declared`);
      else c.expect(d.resource.has(ref), `${ref} is not declared`);
    }
    for (const [, path] of s.matchAll(/file\("\$\{path\.module\}\/([^"]+)"\)/g)) {
      c.expect(existsSync(join(dir, path)), `file() reads ${path}, which does not exist`);
    }
  }
  for (const [name, v] of d.variable) {
    c.expect(typeof v.description === "string" && v.description.length > 10,
             `variable ${name} has no description`);
    c.expect(v.type, `variable ${name} has no type`);
    c.expect(used.has(name), `variable ${name} is never used`);
  }
  for (const [name, o] of d.output) c.expect(o.description, `output ${name} has no description`);
  for (const r of [...d.resource, ...d.data]) {
    c.expect(d.providers.has(r.split("_")[0]), `${r}: provider ${r.split("_")[0]} not required`);
  }
  return d;
}

// What issue #17 asks of the AWS module, by resource.
function checkArchitecture(blocks, d, c) {
  const resources = (type) => blocks.flatMap((b) => Object.values(b.resource?.[type] ?? {}).flat());
  for (const type of ["aws_cloudfront_distribution", "aws_cloudfront_function",
                      "aws_cloudfront_cache_policy", "aws_ecs_service", "aws_lb",
                      "aws_appautoscaling_policy", "aws_elasticache_replication_group",
                      "aws_s3_bucket", "aws_s3_bucket_lifecycle_configuration", "aws_sqs_queue",
                      "aws_s3_bucket_notification", "aws_sns_topic", "aws_iam_role",
                      "aws_cloudwatch_log_group"]) {
    c.expect(resources(type).length > 0, `no ${type}`);
  }
  const [dist] = resources("aws_cloudfront_distribution");
  if (dist) {
    c.expect(dist.origin?.[0]?.origin_shield?.[0]?.enabled === true, "no Origin Shield");
    const behaviour = dist.default_cache_behavior?.[0] ?? {};
    c.expect(behaviour.compress === false, "CloudFront compresses images");
    c.expect(behaviour.function_association?.[0]?.event_type === "viewer-request",
             "the Accept function is not a viewer-request function");
  }
  const [policy] = resources("aws_cloudfront_cache_policy");
  const params = policy?.parameters_in_cache_key_and_forwarded_to_origin?.[0] ?? {};
  c.expect(params.headers_config?.[0]?.headers?.[0]?.items?.includes("Accept"),
           "the cache policy is not keyed on Accept");
  c.expect(params.enable_accept_encoding_gzip === false &&
           params.enable_accept_encoding_brotli === false, "the cache key has Accept-Encoding");
  const lifecycle = resources("aws_s3_bucket_lifecycle_configuration")[0];
  c.expect(lifecycle?.rule?.[0]?.filter?.[0]?.prefix === "${var.result_prefix}",
           "the lifecycle rule is not on the result prefix");
  c.expect(resources("aws_sqs_queue").some((q) => String(q.redrive_policy).includes("deadLetterTargetArn")),
           "no queue has a dead-letter queue");
}

function checkBatch(dir, c) {
  let def, submit;
  try {
    def = JSON.parse(readFileSync(join(dir, "aws-batch/job-definition.json"), "utf8"));
    submit = JSON.parse(readFileSync(join(dir, "aws-batch/submit-job.json"), "utf8"));
  } catch (e) {
    c.expect(false, `aws-batch: ${e.message}`);
    return;
  }
  const cp = def.containerProperties ?? {};
  const cmd = cp.command ?? [];
  const value = (flag) => {
    const v = cmd[cmd.indexOf(flag) + 1] ?? "";
    return v.startsWith("Ref::") ? def.parameters?.[v.slice(5)] ?? "" : v;
  };
  c.expect(def.type === "container" && def.jobDefinitionName, "job definition: type/name");
  c.expect(cmd[0] === "batch", `job definition runs "${cmd[0]}", not batch`);
  c.expect(/^s3:\/\/./.test(value("--from")) && /^s3:\/\/./.test(value("--to")),
           "job definition needs --from s3://… --to s3://…");
  c.expect(cmd.includes("--preset") || cmd.includes("--options"), "job definition names no preset");
  c.expect(cmd.includes("--resume"), "job definition is not --resume");
  c.expect(!cmd.includes("--shard"), "job definition passes --shard: the index comes from AWS Batch");
  for (const ref of cmd.filter((a) => a.startsWith("Ref::"))) {
    c.expect(def.parameters?.[ref.slice(5)] !== undefined, `${ref} has no default parameter`);
  }
  const needs = Object.fromEntries((cp.resourceRequirements ?? []).map((r) => [r.type, r.value]));
  c.expect(needs.VCPU && needs.MEMORY, "job definition has no VCPU/MEMORY");
  c.expect(cp.jobRoleArn, "job definition has no job role");
  c.expect(!(cp.environment ?? []).some((e) => e.name.startsWith("AWS_BATCH_")),
           "job definition sets AWS_BATCH_* (reserved)");
  c.expect(submit.jobDefinition === def.jobDefinitionName, "submit-job names another definition");
  c.expect(submit.arrayProperties?.size >= 2, "submit-job is not an array job");
  // AWS Batch passes the index only: the count comes from --shards, which must be the array size.
  const shards = cmd[cmd.indexOf("--shards") + 1] ?? "";
  c.expect(cmd.includes("--shards"), "job definition passes no --shards (the array size)");
  c.expect(!shards.startsWith("Ref::") ||
           String(submit.parameters?.[shards.slice(5)] ?? def.parameters?.[shards.slice(5)]) ===
               String(submit.arrayProperties?.size),
           "submit-job's shards parameter is not its array size");
}

function check(blocks) {
  const c = new Checks();
  const d = checkModule(blocks, tfDir, c);
  checkArchitecture(blocks, d, c);
  return c;
}

const files = Object.fromEntries(readdirSync(tfDir).filter((f) => f.endsWith(".tf"))
  .map((f) => [f, readFileSync(join(tfDir, f), "utf8")]));
const blocks = await parseModule(files);

// Broken copies the checker must reject.
const extra = {
  "a reference to an undeclared resource": 'output "x" {\n description = "x"\n value = aws_sqs_queue.nope.arn\n}\n',
  "an undeclared variable": 'output "y" {\n description = "y"\n value = var.nope\n}\n',
  "a variable without description": 'variable "z" {\n type = string\n}\noutput "z" {\n description = "z"\n value = var.z\n}\n',
  "an undeclared local": 'output "w" {\n description = "w"\n value = local.nope\n}\n',
};
let ok = true;
for (const [name, text] of Object.entries(extra)) {
  const broken = [...blocks, ...(await parseModule({ "broken.tf": text }))];
  if (check(broken).failures.length === 0) {
    console.error(`FAIL self-check: the checker accepts a module with ${name}`);
    ok = false;
  }
}

const c = check(blocks);
checkBatch(deployDir, c);
ok = c.report("deploy/terraform") && ok;
const d = declarations(blocks);
console.log(`${ok ? "ok" : "FAILED"}: ${Object.keys(files).length} .tf files, ${d.resource.size} ` +
            `resources, ${d.data.size} data sources, ${d.variable.size} variables; aws-batch checked`);
process.exit(ok ? 0 : 1);
