// Validates Kubernetes manifests offline against the Kubernetes API schemas.
//   node validate_k8s.mjs NODE_MODULES FILE.yaml...
// Two checks per object, both from npm packages installed by k8s_test.sh:
//  1. kubernetes-models: the JSON schemas of the Kubernetes API (types,
//     required fields, formats) as compiled validators;
//  2. @kubernetes/client-node's generated models (field lists of the
//     OpenAPI spec): every field must exist, like `kubectl --validate=strict`,
//     so a misspelt key fails instead of being dropped by the API server.
// cert-manager's objects (cert-manager.io/v1 Certificate, Issuer) are checked
// against @kubernetes-models/cert-manager's schemas (types, enums, required
// fields) and, for unknown fields, against CERT_MANAGER_FIELDS below.
// Prints one line per object; exits 1 if any object is invalid.
import fs from "node:fs";
import path from "node:path";
import { createRequire } from "node:module";
import { pathToFileURL } from "node:url";

const [nodeModules, ...files] = process.argv.slice(2);
const require = createRequire(path.join(nodeModules, "noop.js"));
const YAML = require("yaml");
const modelsDir = path.join(nodeModules, "@kubernetes/client-node/dist/gen/models");

// apiVersion -> kubernetes-models path prefix and client-node class prefix.
function typeNames(apiVersion, kind) {
  const [group, version] = apiVersion.includes("/") ? apiVersion.split("/") : ["", apiVersion];
  const cap = (s) => s.charAt(0).toUpperCase() + s.slice(1);
  const models = group ? `kubernetes-models/${group}/${version}/${kind}` : `kubernetes-models/${version}/${kind}`;
  return { models, client: `${cap(version)}${kind}` };
}

// cert-manager.io/v1 fields (https://cert-manager.io/docs/reference/api-docs/)
// of the objects deploy/k8s uses, for the unknown-field check, which
// cert-manager's schemas do not make.
const CERT_MANAGER_FIELDS = {
  top: ["apiVersion", "kind", "metadata", "spec"],
  CertificateSpec: ["additionalOutputFormats", "commonName", "dnsNames", "duration",
    "emailAddresses", "encodeUsagesInRequest", "ipAddresses", "isCA", "issuerRef", "keystores",
    "literalSubject", "nameConstraints", "otherNames", "privateKey", "renewBefore",
    "renewBeforePercentage", "revisionHistoryLimit", "secretName", "secretTemplate", "signatureAlgorithm",
    "subject", "uris", "usages"],
  IssuerSpec: ["acme", "ca", "selfSigned", "vault", "venafi"],
  issuerRef: ["group", "kind", "name"],
  privateKey: ["algorithm", "encoding", "rotationPolicy", "size"],
};

function certManagerUnknownFields(obj, errors) {
  const unknown = (value, allowed, where) => {
    for (const k of Object.keys(value || {})) {
      if (!allowed.includes(k)) errors.push(`${where}: unknown field "${k}"`);
    }
  };
  unknown(obj, CERT_MANAGER_FIELDS.top, "/");
  if (obj.kind === "Certificate") {
    unknown(obj.spec, CERT_MANAGER_FIELDS.CertificateSpec, "/spec");
    unknown(obj.spec?.issuerRef, CERT_MANAGER_FIELDS.issuerRef, "/spec/issuerRef");
    unknown(obj.spec?.privateKey, CERT_MANAGER_FIELDS.privateKey, "/spec/privateKey");
  } else {
    unknown(obj.spec, CERT_MANAGER_FIELDS.IssuerSpec, "/spec");
  }
}

async function validateCertManager(obj, errors) {
  const file = path.join(nodeModules, "@kubernetes-models/cert-manager/cert-manager.io/v1", `${obj.kind}.js`);
  if (obj.apiVersion !== "cert-manager.io/v1" || !["Certificate", "Issuer"].includes(obj.kind) ||
      !fs.existsSync(file)) {
    errors.push(`unknown apiVersion/kind ${obj.apiVersion} ${obj.kind}`);
    return;
  }
  const Model = (await import(pathToFileURL(file).href))[obj.kind];
  try {
    new Model(obj).validate();
  } catch (e) {
    errors.push(`schema: ${e.message}`);
  }
  certManagerUnknownFields(obj, errors);
}

const typeCache = new Map();
async function attributes(type) {
  if (!typeCache.has(type)) {
    const file = path.join(modelsDir, `${type}.js`);
    let attrs = null;
    if (fs.existsSync(file)) {
      const mod = await import(pathToFileURL(file).href);
      attrs = mod[type]?.getAttributeTypeMap?.() ?? null;
    }
    typeCache.set(type, attrs);
  }
  return typeCache.get(type);
}

// Reports fields of `value` that type `type` does not have.
async function unknownFields(value, type, where, errors) {
  let m;
  if ((m = /^Array<(.+)>$/.exec(type))) {
    if (Array.isArray(value)) {
      for (let i = 0; i < value.length; i++) await unknownFields(value[i], m[1], `${where}/${i}`, errors);
    }
    return;
  }
  if ((m = /^\{ \[key: string\]: (.+); \}$/.exec(type))) {
    if (value && typeof value === "object") {
      for (const [k, v] of Object.entries(value)) await unknownFields(v, m[1], `${where}/${k}`, errors);
    }
    return;
  }
  if (!value || typeof value !== "object" || Array.isArray(value)) return;
  const attrs = await attributes(type);
  if (!attrs) return; // a leaf type (string, IntOrString, any, ...)
  const byName = new Map(attrs.map((a) => [a.baseName, a.type]));
  for (const [k, v] of Object.entries(value)) {
    if (!byName.has(k)) errors.push(`${where || "/"}: unknown field "${k}" (${type})`);
    else await unknownFields(v, byName.get(k), `${where}/${k}`, errors);
  }
}

let bad = 0;
let count = 0;
for (const file of files) {
  const docs = YAML.parseAllDocuments(fs.readFileSync(file, "utf8"));
  for (const doc of docs) {
    if (doc.errors.length) {
      console.log(`FAIL ${file}: YAML: ${doc.errors.map((e) => e.message).join("; ")}`);
      bad++;
      continue;
    }
    const obj = doc.toJS();
    if (obj == null) continue;
    count++;
    const label = `${file}: ${obj.kind}/${obj.metadata?.name}`;
    if (!obj.apiVersion || !obj.kind) {
      console.log(`FAIL ${label}: no apiVersion or kind`);
      bad++;
      continue;
    }
    if (obj.kind === "Kustomization") {
      // Not an API object: check that every resource it names exists.
      const missing = (obj.resources || []).filter((r) => !fs.existsSync(path.join(path.dirname(file), r)));
      if (missing.length) { console.log(`FAIL ${label}: missing resources ${missing}`); bad++; }
      else console.log(`ok   ${label}`);
      continue;
    }
    const errors = [];
    if (obj.apiVersion.startsWith("cert-manager.io/")) {
      await validateCertManager(obj, errors);
      console.log(errors.length ? `FAIL ${label}\n  ${errors.join("\n  ")}` : `ok   ${label}`);
      if (errors.length) bad++;
      continue;
    }
    const names = typeNames(obj.apiVersion, obj.kind);
    let Model;
    try {
      Model = require(names.models)[obj.kind];
    } catch (e) {
      errors.push(`unknown apiVersion/kind ${obj.apiVersion} ${obj.kind}`);
    }
    if (Model) {
      try {
        new Model(obj).validate();
      } catch (e) {
        errors.push(`schema: ${e.message}`);
      }
    }
    if (!(await attributes(names.client))) {
      errors.push(`no OpenAPI model ${names.client}`);
    } else {
      await unknownFields(obj, names.client, "", errors);
    }
    if (errors.length) {
      console.log(`FAIL ${label}\n  ${errors.join("\n  ")}`);
      bad++;
    } else {
      console.log(`ok   ${label}`);
    }
  }
}
console.log(`${count} objects, ${bad} invalid`);
process.exit(bad ? 1 : count ? 0 : 1);
