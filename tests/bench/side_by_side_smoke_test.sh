#!/usr/bin/env bash
# Smoke test of tests/bench/latency_side_by_side.sh and
# dense_side_by_side.sh at tiny sizes: both build the ps-lite peer (from
# ../shared/peers/ps-lite, next to the source tree), run Strata's benches
# (the built binaries given with --strata_bin) and ps-lite's, and print
# their medians; a failed build or run fails the script and this test.
# Skips (passes, saying why) when ps-lite's sources or libzmq3-dev are
# absent. Checks no figure: no timed assertions.
set -euo pipefail
RUNFILES=${TEST_SRCDIR:-$PWD/..}/strata
cd "$RUNFILES"
tmp=${TEST_TMPDIR:-$(mktemp -d)}

# The source tree: where the runfiles' copy of this script points.
src=$(cd "$(dirname "$(readlink -f tests/bench/latency_side_by_side.sh)")/../.." && pwd)
source tests/bench/peers/pslite_lib.sh
pslite_src=$(cd "$src" && pslite_default_src)
if [ -z "$pslite_src" ]; then
  echo "SKIPPED: no ps-lite sources (../shared/peers/ps-lite) next to $src"
  exit 0
fi
pslite_src=$(cd "$src" && cd "$pslite_src" && pwd)
if ! dpkg-query -W -f='${Status}' libzmq3-dev 2>/dev/null | grep -q "ok installed"; then
  echo "SKIPPED: libzmq3-dev is not installed (ps-lite needs ZeroMQ)"
  exit 0
fi

# Tiny runs take seconds: a ps-lite process lost (a port clash) fails or
# is retried within a minute instead of outlasting the test's timeout.
export PSLITE_TIMEOUT_S=60
out=$(tests/bench/latency_side_by_side.sh --rounds 1 --rows 4096 --pulls 20 \
  --push_batch 1024 --pslite_src "$pslite_src" --build_dir "$tmp/pslite" \
  --strata_bin tests/bench/pull_latency_bench)
echo "$out"
for want in "^strata +plain +idle " "^strata +saec +push load " \
    "^ps-lite +plain +idle " "^ps-lite +plain +push load "; do
  grep -Eq "$want" <<< "$out" || { echo "FAIL: no line /$want/"; exit 1; }
done

out=$(tests/bench/dense_side_by_side.sh --rounds 1 --floats 131072 \
  --chunk 4096 --seconds 0.2 --pslite_src "$pslite_src" \
  --build_dir "$tmp/pslite" --strata_bin tests/bench/dense_bench)
echo "$out"
for want in "^pull +[0-9.]+ +[0-9.]+ " "^push +[0-9.]+ +[0-9.]+ "; do
  grep -Eq "$want" <<< "$out" || { echo "FAIL: no line /$want/"; exit 1; }
done

# A failed ps-lite run fails the script: FLOATS not a multiple of CHUNK.
if tests/bench/dense_side_by_side.sh --rounds 1 --floats 1000 --chunk 64 \
    --seconds 0.2 --pslite_src "$pslite_src" --build_dir "$tmp/pslite" \
    --strata_bin tests/bench/dense_bench > "$tmp/bad.out" 2>&1; then
  echo "FAIL: dense_side_by_side.sh exited 0 on a failed ps-lite run"
  exit 1
fi
echo PASS
