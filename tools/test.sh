#!/usr/bin/env bash
# Builds and runs every test. Used by .ci/run.
#   tools/test.sh            set-up, bazel test //... (seed corpora of the
#                            fuzz targets included), each fuzz target for a
#                            few seconds, CUDA build if nvcc exists
# Environment: STRATA_BAZEL_FLAGS adds flags to every bazel command;
# STRATA_FUZZ_SECONDS (default 10) is each fuzz target's time.
set -euo pipefail
cd "$(dirname "$0")/.."

tools/setup.sh

BAZEL_FLAGS=(${STRATA_BAZEL_FLAGS:-})
log=$(mktemp)
trap 'rm -f "$log"' EXIT

echo "=== bazel test //... (CPU build)"
set +e
bazel test "${BAZEL_FLAGS[@]}" //... 2>&1 | tee "$log"
rc=${PIPESTATUS[0]}
set -e

summary=$(grep -E "^Executed [0-9]+ out of [0-9]+ tests?" "$log" | tail -1 || true)
passed=$(grep -cE "^//.* PASSED in" "$log" || true)
failed=$(grep -cE "^//.* (FAILED|TIMEOUT|NO STATUS|INCOMPLETE)( in|$)" "$log" || true)

if [ ! -x /usr/local/cuda/bin/nvcc ]; then
  cuda_note="CUDA build skipped: /usr/local/cuda/bin/nvcc not found"
elif [ $rc -ne 0 ]; then
  cuda_note="CUDA build skipped: CPU tests failed"
else
  echo "=== bazel build --config=cuda //... (nvcc found)"
  bazel build "${BAZEL_FLAGS[@]}" --config=cuda //...
  echo "=== GPU tests (they skip with a message where no GPU is visible)"
  # Tests tagged "gpu"; without a visible GPU they skip with a message.
  bazel test "${BAZEL_FLAGS[@]}" --config=cuda --test_tag_filters=gpu \
    --test_output=all //... 2>&1 | grep -E "SKIPPED|PASSED|FAILED|^\[  |Skipped|skip" || true
  cuda_note="CUDA build OK (GPU tests skip where no GPU is visible)"
fi

fuzz_note="fuzz targets not run: CPU tests failed"
if [ $rc -eq 0 ]; then
  echo "=== fuzz targets, briefly (clang + libFuzzer + ASan/UBSan; docs/fuzzing.md)"
  if tools/fuzz.sh --seconds "${STRATA_FUZZ_SECONDS:-10}" --runs 200000; then
    fuzz_note="fuzz targets: no crash"
  else
    fuzz_note="fuzz targets: CRASH (see above)"
    rc=1
    failed=$((failed + 1))
  fi
fi

echo "=== $summary"
echo "=== $fuzz_note"
echo "=== $cuda_note"
echo "tests: $passed passed, $failed failed"
exit $rc
