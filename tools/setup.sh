#!/usr/bin/env bash
# Installs exactly the Debian 12 packages Strata needs to build, test and run
# its demo. Idempotent: installs only what is missing, and does nothing (no
# apt-get update, no network) when everything is already there.
set -euo pipefail

PACKAGES=(
  # Build: Bazel 4.2 and the local rule repositories it needs offline.
  bazel-bootstrap bazel-platforms bazel-skylib bazel-rules-java
  g++
  # Libraries.
  libgrpc++-dev protobuf-compiler-grpc libprotobuf-dev protobuf-compiler
  libabsl-dev libgoogle-glog-dev libgflags-dev
  libgtest-dev libgmock-dev libbenchmark-dev
  libopenblas-dev prometheus-cpp-dev zlib1g-dev
  # The coordinator's state store (--state_dir, docs/coordinator.md).
  libleveldb-dev
  # Saec's key index: BBHash minimal perfect hashing (header-only), and
  # CMPH, which saec_bench compares it with (docs/saec.md, "Key index").
  libbbhash-dev libcmph-dev
  # Fuzzing (tools/fuzz.sh, --config=fuzz): clang with libFuzzer and the
  # sanitizer runtimes.
  clang libfuzzer-14-dev
  # Scripts and plots.
  python3 python3-matplotlib procps
  # Real images for the demo's Stanza part (tools/demo.sh): Fashion-MNIST
  # in /usr/share/datasets/fashion-mnist/ (MNIST's four file names, .gz).
  dataset-fashion-mnist
  # Certificates for mutual TLS (tools/certs.sh, docs/security.md).
  openssl
  # Deployment tests (tests/deploy): a one-node Slurm cluster on localhost.
  # (The Kubernetes manifest test also uses node/npm when present and skips
  # with a message otherwise.)
  munge slurmctld slurmd slurm-client
)

missing=()
for p in "${PACKAGES[@]}"; do
  if ! dpkg-query -W -f='${Status}' "$p" 2>/dev/null | grep -q "ok installed"; then
    missing+=("$p")
  fi
done

if [ ${#missing[@]} -eq 0 ]; then
  echo "setup: all ${#PACKAGES[@]} packages present"
  exit 0
fi

echo "setup: installing ${missing[*]}"
SUDO=""
if [ "$(id -u)" -ne 0 ]; then
  if command -v sudo >/dev/null; then SUDO="sudo"; else
    echo "setup: need root (or sudo) to install: ${missing[*]}" >&2
    exit 1
  fi
fi
export DEBIAN_FRONTEND=noninteractive
$SUDO apt-get update -q
$SUDO apt-get install -y -q --no-install-recommends "${missing[@]}" </dev/null
echo "setup: done"
