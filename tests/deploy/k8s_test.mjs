// Renders a Kustomize overlay of deploy/k8s with `kubectl kustomize` and checks the manifests
// structurally: probes, resources and a non-root security context on every workload, selectors
// that match their pods, the Service, PodDisruptionBudget, HorizontalPodAutoscaler and
// ServiceMonitor pointing at what exists, the batch Job Indexed and running `imgorigin batch`,
// every ConfigMap, Secret, volume and service account a pod names present.
//   node tests/deploy/k8s_test.mjs deploy/k8s/overlays/production
// kubectl is $IMGORIGIN_KUBECTL or the one on PATH (Debian's kubernetes-client 1.20 is enough).
// Before checking the overlay, the checker is shown a few broken copies of it and must reject each.
import { Checks, requirePackage, run } from "./require.mjs";

const overlay = process.argv[2];
if (!overlay) {
  console.error("usage: k8s_test.mjs <kustomize directory>");
  process.exit(2);
}
const YAML = await requirePackage("yaml");

function render(dir) {
  const kubectl = process.env.IMGORIGIN_KUBECTL || "kubectl";
  const r = run(kubectl, ["kustomize", dir]);
  if (r.status !== 0) throw new Error(`${kubectl} kustomize ${dir} failed:\n${r.stderr}`);
  return YAML.parseAllDocuments(r.stdout).map((d) => {
    if (d.errors.length) throw new Error(`rendered YAML: ${d.errors[0].message}`);
    return d.toJS();
  }).filter(Boolean);
}

const ns = (o) => o.metadata?.namespace ?? "";
const find = (docs, kind, name, namespace) =>
  docs.find((d) => d.kind === kind && d.metadata.name === name && ns(d) === namespace);
const matches = (selector, labels) =>
  !!selector && Object.keys(selector).length > 0 &&
  Object.entries(selector).every(([k, v]) => labels?.[k] === v);
const podSpecOf = (w) => w.spec.template.spec;

function checkCommon(docs, c) {
  const seen = new Set();
  for (const d of docs) {
    c.expect(d.apiVersion && d.kind && d.metadata?.name, `object without apiVersion/kind/name`);
    const id = `${d.kind}/${ns(d)}/${d.metadata?.name}`;
    c.expect(!seen.has(id), `${id} twice`);
    seen.add(id);
  }
}

function declaredPorts(pod) {
  return pod.containers.flatMap((ct) => ct.ports ?? []);
}
const portIn = (ports, ref) => ports.some((p) => p.name === ref || p.containerPort === ref);

// Resources, security context, probes and every name a pod refers to.
function checkPod(docs, w, c) {
  const where = `${w.kind} ${w.metadata.name}`;
  const pod = podSpecOf(w);
  const namespace = ns(w);
  const psc = pod.securityContext ?? {};
  const volumes = new Set((pod.volumes ?? []).map((v) => v.name));
  for (const ct of pod.containers) {
    const at = `${where} container ${ct.name}`;
    const csc = ct.securityContext ?? {};
    const runAsNonRoot = csc.runAsNonRoot ?? psc.runAsNonRoot;
    const runAsUser = csc.runAsUser ?? psc.runAsUser;
    c.expect(runAsNonRoot === true, `${at}: runAsNonRoot is not true`);
    c.expect(Number.isInteger(runAsUser) && runAsUser !== 0, `${at}: runAsUser ${runAsUser}`);
    c.expect(csc.allowPrivilegeEscalation === false, `${at}: allowPrivilegeEscalation not false`);
    c.expect(csc.capabilities?.drop?.includes("ALL"), `${at}: capabilities not dropped`);
    const res = ct.resources ?? {};
    c.expect(res.requests?.cpu && res.requests?.memory, `${at}: no cpu/memory requests`);
    c.expect(res.limits?.memory, `${at}: no memory limit`);
    c.expect(ct.image && /[:@]/.test(ct.image), `${at}: image "${ct.image}" has no tag`);
    for (const m of ct.volumeMounts ?? []) {
      c.expect(volumes.has(m.name), `${at}: mounts volume ${m.name} that the pod lacks`);
    }
    for (const e of ct.envFrom ?? []) {
      if (e.secretRef) {
        c.expect(find(docs, "Secret", e.secretRef.name, namespace),
                 `${at}: Secret ${e.secretRef.name} does not exist`);
      }
      if (e.configMapRef) {
        c.expect(find(docs, "ConfigMap", e.configMapRef.name, namespace),
                 `${at}: ConfigMap ${e.configMapRef.name} does not exist`);
      }
    }
    if (w.kind === "Deployment") {
      c.expect(ct.readinessProbe, `${at}: no readinessProbe`);
      if ((ct.ports ?? []).length) c.expect(ct.livenessProbe, `${at}: serves but has no livenessProbe`);
      for (const probe of [ct.livenessProbe, ct.readinessProbe, ct.startupProbe].filter(Boolean)) {
        const port = probe.httpGet?.port ?? probe.tcpSocket?.port;
        if (port !== undefined) {
          c.expect(portIn(ct.ports ?? [], port), `${at}: a probe targets undeclared port ${port}`);
        }
      }
    }
  }
  for (const v of pod.volumes ?? []) {
    if (v.configMap) {
      c.expect(find(docs, "ConfigMap", v.configMap.name, namespace),
               `${where}: volume ${v.name}: ConfigMap ${v.configMap.name} does not exist`);
    }
    if (v.secret) {
      c.expect(find(docs, "Secret", v.secret.secretName, namespace),
               `${where}: volume ${v.name}: Secret ${v.secret.secretName} does not exist`);
    }
  }
  const sa = pod.serviceAccountName;
  if (sa) c.expect(find(docs, "ServiceAccount", sa, namespace), `${where}: no ServiceAccount ${sa}`);
}

function checkDeployments(docs, c) {
  const deployments = docs.filter((d) => d.kind === "Deployment");
  c.expect(deployments.length >= 2, "fewer than two Deployments (origin and worker)");
  for (const d of deployments) {
    c.expect(matches(d.spec.selector?.matchLabels, d.spec.template.metadata?.labels),
             `Deployment ${d.metadata.name}: selector does not match its pod labels`);
    checkPod(docs, d, c);
  }
  return deployments;
}

const byComponent = (docs, kind, component) => docs.filter(
  (d) => d.kind === kind && d.spec.template?.metadata?.labels?.["app.kubernetes.io/component"] === component);

function checkOrigin(docs, c) {
  const [origin] = byComponent(docs, "Deployment", "origin");
  if (!c.expect(origin, "no origin Deployment (component: origin)")) return;
  const name = origin.metadata.name;
  const namespace = ns(origin);
  const pod = podSpecOf(origin);
  const labels = origin.spec.template.metadata.labels;
  const ct = pod.containers[0];
  c.expect(ct.args?.[0] === "serve", `origin runs "${ct.args?.[0]}", not serve`);
  c.expect(ct.livenessProbe?.httpGet?.path === "/health", "origin liveness probe is not /health");
  c.expect(ct.readinessProbe?.httpGet?.path === "/ready", "origin readiness probe is not /ready");
  c.expect(csOk(pod.securityContext), "origin pod securityContext lacks runAsNonRoot");
  const spread = pod.topologySpreadConstraints ?? [];
  c.expect(spread.some((t) => t.topologyKey === "topology.kubernetes.io/zone"),
           "origin is not spread over zones");
  for (const t of spread) {
    c.expect(matches(t.labelSelector?.matchLabels, labels), "a topology spread selects other pods");
  }

  const services = docs.filter((d) => d.kind === "Service" && ns(d) === namespace &&
                                      matches(d.spec.selector, labels));
  if (c.expect(services.length === 1, `${services.length} Services select the origin pods`)) {
    for (const p of services[0].spec.ports) {
      c.expect(portIn(declaredPorts(pod), p.targetPort ?? p.port),
               `Service port ${p.name}: targetPort ${p.targetPort} is no origin container port`);
    }
    const monitors = docs.filter((d) => d.kind === "ServiceMonitor");
    c.expect(monitors.length === 1, "no ServiceMonitor");
    for (const m of monitors) {
      c.expect(matches(m.spec.selector?.matchLabels, services[0].metadata.labels),
               "the ServiceMonitor does not select the origin Service");
      for (const e of m.spec.endpoints ?? []) {
        c.expect(services[0].spec.ports.some((p) => p.name === e.port),
                 `ServiceMonitor port ${e.port} is not a Service port`);
        c.expect(e.path === "/metrics", `ServiceMonitor path ${e.path}`);
      }
    }
  }

  const pdbs = docs.filter((d) => d.kind === "PodDisruptionBudget");
  c.expect(pdbs.length === 1 && matches(pdbs[0].spec.selector?.matchLabels, labels) &&
           ns(pdbs[0]) === namespace, "no PodDisruptionBudget selecting the origin pods");
  const hpas = docs.filter((d) => d.kind === "HorizontalPodAutoscaler");
  if (c.expect(hpas.length === 1, "no HorizontalPodAutoscaler")) {
    const t = hpas[0].spec.scaleTargetRef;
    c.expect(t.kind === "Deployment" && t.name === name && ns(hpas[0]) === namespace,
             `the HPA scales ${t.kind} ${t.name}, not the origin ${name}`);
    c.expect(hpas[0].spec.minReplicas >= 1 &&
             hpas[0].spec.minReplicas <= hpas[0].spec.maxReplicas, "HPA min/max replicas");
    c.expect((hpas[0].spec.metrics ?? []).some((m) => m.resource?.name === "cpu"),
             "the HPA does not scale on CPU");
    c.expect(ct.resources?.requests?.cpu, "HPA on CPU needs a CPU request");
  }
  checkConfig(docs, origin, c);
}

function csOk(sc) { return sc?.runAsNonRoot === true; }

// The config the origin mounts: its bind port is the container port, and the disk cache it
// names is a writable volume (the root filesystem is read-only).
function checkConfig(docs, origin, c) {
  const pod = podSpecOf(origin);
  const ct = pod.containers[0];
  const configIdx = ct.args.indexOf("--config");
  const configPath = ct.args[configIdx + 1];
  const mount = (ct.volumeMounts ?? []).find((m) => configPath?.startsWith(m.mountPath + "/"));
  if (!c.expect(mount, `origin --config ${configPath} is on no volume`)) return;
  const volume = pod.volumes.find((v) => v.name === mount.name);
  const cm = volume?.configMap && find(docs, "ConfigMap", volume.configMap.name, ns(origin));
  const toml = cm?.data?.[configPath.slice(mount.mountPath.length + 1)];
  if (!c.expect(toml, `ConfigMap for ${configPath} lacks the file`)) return;
  const bind = /^\s*bind\s*=\s*"[^"]*:(\d+)"/m.exec(toml);
  c.expect(bind && portIn(declaredPorts(pod), Number(bind[1])),
           `imgorigin.toml binds ${bind?.[1]}, not a container port`);
  c.expect(/^\s*bind\s*=\s*"0\.0\.0\.0:/m.test(toml), "imgorigin.toml does not bind 0.0.0.0");
  const disk = /^\s*disk_dir\s*=\s*"([^"]+)"/m.exec(toml);
  if (disk) {
    const m = (ct.volumeMounts ?? []).find((v) => disk[1] === v.mountPath ||
                                                   disk[1].startsWith(v.mountPath + "/"));
    const vol = m && pod.volumes.find((v) => v.name === m.name);
    c.expect(vol?.emptyDir || vol?.persistentVolumeClaim,
             `cache.disk_dir ${disk[1]} is not on a writable volume`);
  }
  const secret = docs.find((d) => d.kind === "Secret" &&
    (ct.envFrom ?? []).some((e) => e.secretRef?.name === d.metadata.name));
  const keys = Object.keys({ ...secret?.data, ...secret?.stringData });
  c.expect(keys.includes("IMGORIGIN_KEY") && keys.includes("IMGORIGIN_SALT"),
           "the origin's Secret has no IMGORIGIN_KEY/IMGORIGIN_SALT");
}

function checkWorkerAndBatch(docs, c) {
  const workers = byComponent(docs, "Deployment", "worker");
  c.expect(workers.length === 1 && podSpecOf(workers[0]).containers[0].args?.[0] === "worker",
           "no Deployment running imgorigin worker");
  const [job] = byComponent(docs, "Job", "batch");
  if (!c.expect(job, "no batch Job (component: batch)")) return;
  const s = job.spec;
  c.expect(s.completionMode === "Indexed", `batch Job completionMode ${s.completionMode}`);
  c.expect(Number.isInteger(s.completions) && s.completions >= 1, "batch Job has no completions");
  c.expect(s.parallelism >= 1 && s.parallelism <= s.completions, "batch Job parallelism");
  c.expect(s.backoffLimitPerIndex >= 0 || s.backoffLimit >= 0, "batch Job has no backoff limit");
  if (s.backoffLimitPerIndex !== undefined) {
    c.expect(podSpecOf(job).restartPolicy === "Never",
             "backoffLimitPerIndex needs restartPolicy Never");
  }
  const args = podSpecOf(job).containers[0].args ?? [];
  const after = (flag) => args[args.indexOf(flag) + 1];
  c.expect(args[0] === "batch", `batch Job runs "${args[0]}"`);
  c.expect(/^s3:\/\/./.test(after("--from") ?? "") && /^s3:\/\/./.test(after("--to") ?? ""),
           "batch Job needs --from s3://… --to s3://…");
  c.expect(args.includes("--preset") || args.includes("--options"), "batch Job names no preset");
  c.expect(args.includes("--resume"), "batch Job is not --resume (a retried shard redoes all)");
  c.expect(!args.includes("--shard"), "batch Job passes --shard: the index comes from the Job");
  // Kubernetes sets JOB_COMPLETION_INDEX only: the count must be passed, and equal completions.
  const env = podSpecOf(job).containers[0].env ?? [];
  const count = env.find((e) => e.name === "JOB_COMPLETIONS")?.value ?? after("--shards");
  c.expect(String(count) === String(s.completions),
           `batch Job's shard count (JOB_COMPLETIONS or --shards: ${count}) is not completions`);
  checkPod(docs, job, c);
}

function checkAll(docs) {
  const c = new Checks();
  checkCommon(docs, c);
  checkDeployments(docs, c);
  checkOrigin(docs, c);
  checkWorkerAndBatch(docs, c);
  return c;
}

// Broken copies the checker must reject, so that a check which stopped looking is noticed.
const breakages = {
  "origin without readiness probe": (docs) => {
    delete byComponent(docs, "Deployment", "origin")[0].spec.template.spec.containers[0].readinessProbe;
  },
  "Service targeting a wrong port": (docs) => {
    docs.find((d) => d.kind === "Service" && d.spec.ports[0].name === "http").spec.ports[0].targetPort = 9;
  },
  "worker as root": (docs) => {
    byComponent(docs, "Deployment", "worker")[0].spec.template.spec.securityContext.runAsUser = 0;
  },
  "Job not Indexed": (docs) => { byComponent(docs, "Job", "batch")[0].spec.completionMode = "NonIndexed"; },
  "Job shard count not completions": (docs) => { byComponent(docs, "Job", "batch")[0].spec.completions = 5; },
  "missing ConfigMap": (docs) => { docs.splice(docs.findIndex((d) => d.kind === "ConfigMap"), 1); },
  "HPA on another Deployment": (docs) => {
    docs.find((d) => d.kind === "HorizontalPodAutoscaler").spec.scaleTargetRef.name = "other";
  },
};

const docs = render(overlay);
let ok = true;
for (const [name, breakIt] of Object.entries(breakages)) {
  const copy = structuredClone(docs);
  breakIt(copy);
  if (checkAll(copy).failures.length === 0) {
    console.error(`FAIL self-check: the checker accepts a copy with ${name}`);
    ok = false;
  }
}
ok = checkAll(docs).report(overlay) && ok;
console.log(`${ok ? "ok" : "FAILED"}: ${overlay}: ${docs.length} objects ` +
            `(${[...new Set(docs.map((d) => d.kind))].join(", ")})`);
process.exit(ok ? 0 : 1);
