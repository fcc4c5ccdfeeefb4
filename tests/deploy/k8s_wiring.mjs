// Checks how deploy/k8s fits together (beyond the API schemas):
//   node k8s_wiring.mjs NODE_MODULES DEPLOY_K8S_DIR STUB_BIN_DIR
// - StatefulSet strata-ps replicas == STRATA_NUM_SHARDS of the ConfigMap,
//   its serviceName is a headless Service;
// - every probe port and prometheus.io/port is a containerPort; no probe is
//   a gRPC probe (the kubelet's speak plaintext, the ports only TLS);
// - conv workers request nvidia.com/gpu;
// - each container's `sh -c` command, run with stub binaries that print
//   their arguments, gives the flags expected (shard id from the ordinal);
// - mutual TLS (docs/security.md): every container, in every pod of a
//   StatefulSet, passes --tls_ca/--tls_cert/--tls_key naming ca.crt,
//   tls.crt and tls.key of a mounted Secret that a cert-manager Certificate
//   of these manifests writes, with the identity that workload must have
//   (spiffe://strata/<role>/<name>) and, for servers, the name clients dial
//   among its DNS names; nothing passes --insecure.
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
const namespace = YAML.parse(fs.readFileSync(path.join(dir, "kustomization.yaml"), "utf8")).namespace;
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
check(namespace && find("Namespace", namespace), `kustomization's namespace ${namespace} is a Namespace`);
check(!Object.values(cm).some((v) => v.includes("--insecure")), "the ConfigMap passes no --insecure");

// cert-manager: Certificates by Secret name, each with one Strata identity.
const issuers = new Set(objs.filter((o) => o.kind === "Issuer").map((o) => o.metadata.name));
const certBySecret = new Map();
for (const cert of objs.filter((o) => o.kind === "Certificate")) {
  const name = cert.metadata.name;
  check(issuers.has(cert.spec.issuerRef.name), `Certificate ${name}: its Issuer exists`);
  if (cert.spec.isCA) continue;
  const uris = cert.spec.uris || [];
  check(uris.length === 1 && /^spiffe:\/\/strata\/(admin|operator|reader|worker|shard|coordinator)\/[A-Za-z0-9][A-Za-z0-9_.-]{0,62}$/.test(uris[0]),
        `Certificate ${name}: one identity URI SAN (${uris})`);
  check((cert.spec.usages || []).includes("client auth"), `Certificate ${name}: usage client auth`);
  certBySecret.set(cert.spec.secretName, cert);
}

// The Secret key a file of a container comes from: {secret, key} or null.
function secretFile(pod, ctr, file) {
  for (const m of ctr.volumeMounts || []) {
    if (!file.startsWith(`${m.mountPath}/`)) continue;
    const rel = file.slice(m.mountPath.length + 1);
    const vol = (pod.spec.volumes || []).find((v) => v.name === m.name);
    if (vol?.secret) {
      const item = (vol.secret.items || []).find((i) => i.path === rel);
      return { secret: vol.secret.secretName, key: item ? item.key : rel };
    }
    for (const src of vol?.projected?.sources || []) {
      const item = (src.secret?.items || []).find((i) => i.path === rel);
      if (item) return { secret: src.secret.name, key: item.key };
    }
  }
  return null;
}

// Checks a container's TLS flags; returns the Certificate they load.
function checkTls(who, pod, ctr, argv) {
  check(!argv.some((a) => a.startsWith("--insecure")), `${who}: no --insecure`);
  let cert = null;
  for (const [flag, key] of [["--tls_ca", "ca.crt"], ["--tls_cert", "tls.crt"], ["--tls_key", "tls.key"]]) {
    const values = argv.filter((a) => a.startsWith(`${flag}=`)).map((a) => a.slice(flag.length + 1));
    const src = values.length === 1 ? secretFile(pod, ctr, values[0]) : null;
    const c = src && src.key === key ? certBySecret.get(src.secret) : null;
    check(Boolean(c) && (!cert || c === cert),
          `${who}: ${flag}=${values} is ${key} of a Certificate's Secret (${src ? `${src.secret}/${src.key}` : "not mounted"})`);
    cert = cert || c;
  }
  return cert;
}

// A server's certificate carries the name clients dial it by.
function checkServes(who, cert, address) {
  const host = address.replace(/:\d+$/, "");
  check(Boolean(cert) && (cert.spec.usages || []).includes("server auth") && (cert.spec.dnsNames || []).includes(host),
        `${who}: its certificate ${cert?.metadata.name} serves ${host}`);
}
const flag = (argv, name) => (argv.find((a) => a.startsWith(`--${name}=`)) || "").slice(name.length + 3);
const identity = (cert) => (cert ? cert.spec.uris[0] : "");

// Runs a container's command with stubs; returns the argv it would exec.
function argvOf(container, env) {
  const [sh, c] = container.command;
  const script = container.args[0].replaceAll("/opt/strata/bin/", `${stubDir}/`);
  const out = execFileSync(sh, [c, script], { env: { ...cm, ...env, PATH: `${stubDir}:${process.env.PATH}` } });
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
      check(!p.grpc, `${o.metadata.name}: ${kind} is not a gRPC probe (the kubelet's are plaintext)`);
      const port = (p.grpc || p.tcpSocket || p.httpGet).port;
      check(ports.has(port) || names.has(port), `${o.metadata.name}: ${kind} port ${port} is a containerPort`);
    }
    check(ann["prometheus.io/scrape"] === "true" && ports.get(Number(ann["prometheus.io/port"])) === "metrics",
          `${o.metadata.name}: prometheus annotations name the metrics port`);
    check(ctr.resources && ctr.resources.requests && ctr.resources.requests.cpu && ctr.resources.requests.memory,
          `${o.metadata.name}: cpu and memory requests`);
    // Every pod of a StatefulSet (its own ordinal), one of a Deployment.
    const pods = o.kind === "StatefulSet" ? [...Array(o.spec.replicas).keys()] : [0];
    for (const i of pods) {
      const podName = `${o.metadata.name}-${i}`;
      const fqdn = o.kind === "StatefulSet" ? `${podName}.${o.spec.serviceName}.${namespace}.svc.cluster.local` : podName;
      const a = argvOf(ctr, { POD_NAME: podName, POD_NAMESPACE: namespace, POD_IP: "10.1.2.3", STUB_FQDN: fqdn });
      const cert = checkTls(podName, pod, ctr, a);
      if (o.metadata.name === "strata-ps") {
        check(identity(cert) === `spiffe://strata/shard/ps-${i}`, `${podName}: identity ${identity(cert)}`);
        checkServes(podName, cert, flag(a, "advertise"));
      } else if (o.metadata.name === "strata-coordinator") {
        check(identity(cert) === "spiffe://strata/coordinator/coordinator", `${podName}: identity ${identity(cert)}`);
        checkServes(podName, cert, cm.STRATA_COORDINATOR);
      } else {
        check(identity(cert).startsWith("spiffe://strata/worker/"), `${podName}: identity ${identity(cert)}`);
        if (flag(a, "listen")) checkServes(podName, cert, flag(a, "listen"));
      }
    }
    const argv = argvOf(ctr, { POD_NAME: `${o.metadata.name}-12`, POD_NAMESPACE: "ns", POD_IP: "10.1.2.3",
                               STUB_FQDN: `${o.metadata.name}-12.${o.spec.serviceName}.ns.svc.cluster.local` });
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
      check(argv[0] === "worker" && argv.includes("--role=fc") &&
            argv.includes("--listen=strata-fc-12.strata-fc.ns.svc.cluster.local:7080"),
            `fc runs ${argv.join(" ")}`);
    } else if (o.metadata.name === "strata-conv") {
      check(argv[0] === "worker" && argv.includes("--role=conv"), `conv runs ${argv.join(" ")}`);
      check(String(ctr.resources.limits["nvidia.com/gpu"]) === "1", "conv: nvidia.com/gpu limit 1");
    }
  }
}
console.log(failures ? `${failures} wiring checks failed` : "wiring ok");
process.exit(failures ? 1 : 0);
