#!/usr/bin/env bash
# Validates deploy/k8s offline against the Kubernetes API schemas with
# validators from the npm registry (kubernetes-models: JSON schemas;
# @kubernetes/client-node: field lists for strict unknown-field checks), then
# checks the wiring (k8s_wiring.mjs), then that deliberately broken manifests
# are rejected. The packages are installed into $STRATA_NPM_DIR (default: the
# test's tmp dir). SKIPS (exit 0, with the reason) when node/npm or the
# registry is unavailable.
set -euo pipefail

HERE="$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)"
RUNFILES=${TEST_SRCDIR:-}/strata
[[ -d "$RUNFILES/deploy/k8s" ]] || RUNFILES="$(cd "$HERE/../.." && pwd)"
K8S=$RUNFILES/deploy/k8s
TESTS=$RUNFILES/tests/deploy
TMP=${TEST_TMPDIR:-$(mktemp -d)}
NPM_DIR=${STRATA_NPM_DIR:-$TMP/npm}
# Pinned: kubernetes-models 4.5.1 carries the Kubernetes 1.27 schemas,
# @kubernetes/client-node 2.0.1 the 1.36 OpenAPI models.
# @kubernetes-models/cert-manager 6.0.0: cert-manager's CRD schemas.
PACKAGES=(kubernetes-models@4.5.1 @kubernetes/client-node@2.0.1 yaml@2.9.1 @kubernetes-models/cert-manager@6.0.0)

skip() { echo "SKIP: $*"; exit 0; }
fail() { echo "FAIL: $*" >&2; exit 1; }

command -v node >/dev/null || skip "node is not installed (apt-get install nodejs npm)"
command -v npm >/dev/null || skip "npm is not installed (apt-get install npm)"
node -e 'process.exit(Number(process.versions.node.split(".")[0]) >= 18 ? 0 : 1)' ||
  skip "node $(node --version) is older than 18"

# Bazel runs tests with a clean environment: keep TLS working where the
# registry is reached through an intercepting proxy whose CA is in the
# system bundle (pass HTTPS_PROXY with --test_env where one is needed).
if [[ -z "${NODE_EXTRA_CA_CERTS:-}" && -f /etc/ssl/certs/ca-certificates.crt ]]; then
  export NODE_EXTRA_CA_CERTS=/etc/ssl/certs/ca-certificates.crt
fi

MODULES=$NPM_DIR/node_modules
if ! [[ -f "$MODULES/kubernetes-models/package.json" && -f "$MODULES/@kubernetes/client-node/package.json" &&
        -f "$MODULES/yaml/package.json" && -f "$MODULES/@kubernetes-models/cert-manager/package.json" ]]; then
  mkdir -p "$NPM_DIR"
  echo '{"name":"strata-k8s-validate","private":true}' > "$NPM_DIR/package.json"
  echo "installing ${PACKAGES[*]} into $NPM_DIR"
  if ! timeout 120 npm install --fetch-retries=1 --fetch-timeout=30000 --prefix "$NPM_DIR" --cache "$NPM_DIR/.cache" \
      --no-audit --no-fund --ignore-scripts --loglevel=error "${PACKAGES[@]}" \
      > "$NPM_DIR/install.log" 2>&1; then
    tail -5 "$NPM_DIR/install.log"
    skip "npm install failed (no registry access?); see above"
  fi
fi

echo "--- deploy/k8s against the Kubernetes schemas"
node "$TESTS/validate_k8s.mjs" "$MODULES" "$K8S"/*.yaml || fail "deploy/k8s does not validate"

echo "--- wiring: shard ids, ports, probes, annotations, GPUs, certificates"
STUBS=$TMP/stubs
mkdir -p "$STUBS"
for b in ps_server strata_coordinator worker stratactl; do
  # shellcheck disable=SC2016  # the stub's own $@ and $a
  printf '#!/bin/sh\necho %s\nfor a in "$@"; do echo "$a"; done\n' "$b" > "$STUBS/$b"
  chmod +x "$STUBS/$b"
done
# hostname -f: the pod's FQDN, as the kubelet writes it to /etc/hosts.
# shellcheck disable=SC2016  # the stub's own $STUB_FQDN
printf '#!/bin/sh\necho "$STUB_FQDN"\n' > "$STUBS/hostname"
chmod +x "$STUBS/hostname"
node "$TESTS/k8s_wiring.mjs" "$MODULES" "$K8S" "$STUBS" || fail "deploy/k8s wiring"

echo "--- broken manifests must be rejected"
BROKEN=$TMP/broken
mkdir -p "$BROKEN"
expect_rejected() {
  local name="$1" sed_expr="$2" file="$3"
  sed -e "$sed_expr" "$K8S/$file" > "$BROKEN/$name.yaml"
  cmp -s "$K8S/$file" "$BROKEN/$name.yaml" && fail "$name: the edit changed nothing"
  if node "$TESTS/validate_k8s.mjs" "$MODULES" "$BROKEN/$name.yaml" > "$BROKEN/$name.out"; then
    cat "$BROKEN/$name.out"
    fail "$name: the validator accepted a broken manifest"
  fi
  echo "rejected as expected: $name: $(grep -m1 -A1 FAIL "$BROKEN/$name.out" | tail -1 | sed 's/^ *//')"
}
expect_rejected replicas-string 's/^  replicas: 2$/  replicas: two/' ps.yaml
expect_rejected mode-string 's/^            defaultMode: 288$/            defaultMode: "0440"/' ps.yaml
expect_rejected misspelt-field 's/^          livenessProbe:$/          livenesProbe:/' coordinator.yaml
expect_rejected missing-selector '/^  selector:$/,+2d' conv-workers.yaml
expect_rejected bad-kind 's/^kind: Deployment$/kind: Deploymnet/' conv-workers.yaml
expect_rejected cert-usage 's/client auth\]/client authn]/' certificates.yaml
expect_rejected cert-misspelt-field 's/^  dnsNames:$/  dnsName:/' certificates.yaml
expect_rejected cert-no-secret '/^  secretName: strata-conv-tls$/d' certificates.yaml

echo "--- wiring breaks must be caught"
expect_miswired() {
  local name="$1" sed_expr="$2" file="$3" w="$TMP/miswired-$1"
  rm -rf "$w"
  cp -r "$K8S" "$w"
  chmod -R u+w "$w"
  sed -i -e "$sed_expr" "$w/$file"
  cmp -s "$K8S/$file" "$w/$file" && fail "$name: the edit changed nothing"
  if node "$TESTS/k8s_wiring.mjs" "$MODULES" "$w" "$STUBS" > "$w.out"; then
    cat "$w.out"
    fail "$name: the wiring check accepted it"
  fi
  echo "caught as expected: $name: $(grep -m1 FAIL "$w.out")"
}
expect_miswired insecure 's#^              --tls_key=/etc/strata/tls/tls.key$#&\n              --insecure#' coordinator.yaml
expect_miswired no-tls-key '/^              --tls_key=/d' conv-workers.yaml
expect_miswired unmounted-secret '/^            - name: tls$/,+2d' fc.yaml
expect_miswired wrong-shard-cert 's#spiffe://strata/shard/ps-1#spiffe://strata/shard/ps-0#' certificates.yaml
expect_miswired missing-dns-name '/^    - strata-ps-1.strata-ps.strata.svc$/d' certificates.yaml
expect_miswired grpc-probe '0,/^            tcpSocket:$/s//            grpc:/' ps.yaml
echo "PASS"
