// Checks how deploy/k8s fits together (beyond the API schemas):
//   node k8s_wiring.mjs NODE_MODULES DEPLOY_K8S_DIR STUB_BIN_DIR
// - StatefulSet strata-ps replicas == STRATA_NUM_SHARDS of the ConfigMap,
//   its serviceName is a headless Service;
// - every grpc probe port and prometheus.io/port is a containerPort;
// - conv workers request nvidia.com/gpu;
// - each container's `sh -c` command, run with stub binaries that print
//   their arguments, gives the flags expected (shard id from the ordinal).
import fs from "node:fs";
import path from "node:path";
import { createRequire } from "node:module";
import { execFileSync } from "node:child_process";

const [nodeModules, dir, stubDir] = process.argv.slice(2);
const YAML = createRequire(path.join(nodeModules, "noop.js"))("yaml");
const objs = [];
for (const f of fs.readdirSync(dir).filter((f) => f.endsWith(".yaml") && f !== "kustomization.yaml")) {
  for (const d of YAML.parseAllDocuments(fs.readFileSync(path.join(dir, f), "utf8"))) objs.push(d.toJS());
}
const find = (kind, name) => objs.find((o) => o.kind === kind && o.metadata.name === name);
let failures = 0;
const check = (cond, what) => { console.log(`${cond ? "ok  " : "FAIL"} ${what}`); if (!cond) failures++; };

const cm = find("ConfigMap", "strata-config").data;
const ps = find("StatefulSet", "strata-ps");
check(String(ps.spec.replicas) === cm.STRATA_NUM_SHARDS, "ps replicas == STRATA_NUM_SHARDS");
const headless = find("Service", ps.spec.serviceName);
check(headless && headless.spec.clusterIP === "None", "ps serviceName is a headless Service");
check(cm.STRATA_PS_SERVICE === ps.spec.serviceName, "STRATA_PS_SERVICE names the headless Service");
check(/^strata-coordinator:7070$/.test(cm.STRATA_COORDINATOR) && find("Service", "strata-coordinator"),
      "STRATA_COORDINATOR is the coordinator Service");

// Runs a container's command with stubs; returns the argv it would exec.
function argvOf(container, env) {
  const [sh, c] = container.command;
  const script = container.args[0].replaceAll("/opt/strata/bin/", `${stubDir}/`);
  const out = execFileSync(sh, [c, script], { env: { ...cm, ...env, PATH: process.env.PATH } });
  return out.toString().trim().split("\n");
}

for (const o of objs.filter((o) => ["Deployment", "StatefulSet"].includes(o.kind))) {
  const pod = o.spec.template;
  check(JSON.stringify(o.spec.selector.matchLabels) === JSON.stringify(
    Object.fromEntries(Object.keys(o.spec.selector.matchLabels).map((k) => [k, pod.metadata.labels[k]]))),
    `${o.metadata.name}: selector matches the pod labels`);
  const ann = pod.metadata.annotations || {};
  for (const ctr of pod.spec.containers) {
    const ports = new Map(ctr.ports.map((p) => [p.containerPort, p.name]));
    const names = new Set(ctr.ports.map((p) => p.name));
    for (const kind of ["startupProbe", "readinessProbe", "livenessProbe"]) {
      const p = ctr[kind];
      if (!p) continue;
      const port = p.grpc ? p.grpc.port : p.httpGet.port;
      check(ports.has(port) || names.has(port), `${o.metadata.name}: ${kind} port ${port} is a containerPort`);
    }
    check(ann["prometheus.io/scrape"] === "true" && ports.get(Number(ann["prometheus.io/port"])) === "metrics",
          `${o.metadata.name}: prometheus annotations name the metrics port`);
    check(ctr.resources && ctr.resources.requests && ctr.resources.requests.cpu && ctr.resources.requests.memory,
          `${o.metadata.name}: cpu and memory requests`);
    const argv = argvOf(ctr, { POD_NAME: `${o.metadata.name}-12`, POD_NAMESPACE: "ns", POD_IP: "10.1.2.3" });
    const metricsPort = ann["prometheus.io/port"];
    check(argv.includes(`--metrics_port=${metricsPort}`) && argv.includes("--metrics_address=0.0.0.0"),
          `${o.metadata.name}: serves metrics on ${metricsPort} for scrapes`);
    if (o.metadata.name === "strata-ps") {
      check(argv[0] === "ps_server" && argv.includes("--shard_id=12") && argv.includes("--num_shards=2") &&
            argv.includes("--advertise=strata-ps-12.strata-ps.ns.svc:7071") &&
            argv.includes("--coordinator=strata-coordinator:7070"),
            `strata-ps: pod strata-ps-12 runs ${argv.join(" ")}`);
    } else if (o.metadata.name === "strata-coordinator") {
      check(argv[0] === "strata_coordinator" && argv.includes("--listen=0.0.0.0:7070"), `coordinator runs ${argv.join(" ")}`);
    } else if (o.metadata.name === "strata-fc") {
      check(argv[0] === "worker" && argv.includes("--role=fc") && argv.includes("--listen=10.1.2.3:7080"),
            `fc runs ${argv.join(" ")}`);
    } else if (o.metadata.name === "strata-conv") {
      check(argv[0] === "worker" && argv.includes("--role=conv"), `conv runs ${argv.join(" ")}`);
      check(String(ctr.resources.limits["nvidia.com/gpu"]) === "1", "conv: nvidia.com/gpu limit 1");
    }
  }
}
console.log(failures ? `${failures} wiring checks failed` : "wiring ok");
process.exit(failures ? 1 : 0);
