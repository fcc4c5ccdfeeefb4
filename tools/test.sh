#!/usr/bin/env bash
# Builds and runs every test. Used by .ci/run.
#   tools/test.sh            set-up, bazel test //..., CUDA build if nvcc exists
# Environment: STRATA_BAZEL_FLAGS adds flags to every bazel command.
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

echo "=== $summary"
echo "=== $cuda_note"
echo "tests: $passed passed, $failed failed"
exit $rc
