#!/usr/bin/env bash
# Builds and runs every test. Used by .ci/run.
#   tools/test.sh            set-up, bazel test //... (seed corpora of the
#                            fuzz targets included), each fuzz target for a
#                            few seconds, CUDA build if nvcc exists
# Environment: STRATA_BAZEL_FLAGS adds flags to every bazel command;
# STRATA_FUZZ_SECONDS (default 10) is each fuzz target's time;
# STRATA_SANITIZERS=0 skips the ASan/UBSan subset.
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

asan_note="ASan/UBSan subset not run: CPU tests failed"
if [ $rc -eq 0 ] && [ "${STRATA_SANITIZERS:-1}" = 1 ]; then
  # The parsers, storage, job specs, task processes and every fuzz corpus under
  # AddressSanitizer + UndefinedBehaviorSanitizer (docs/fuzzing.md has the
  # whole-suite figures); its own output base keeps the regular build.
  echo "=== ASan + UBSan subset"
  if bazel --output_base="${HOME}/.cache/bazel-strata-asan" test \
      "${BAZEL_FLAGS[@]}" --config=asan --symlink_prefix=/ \
      //server/jobs/... //server/storage/... //proto/... //compression/... \
      //worker/nn:data_test //worker/ctr:criteo_test \
      //worker/nn:idx_fuzz_corpus_test //worker/nn:cifar_fuzz_corpus_test \
      //worker/ctr:criteo_fuzz_corpus_test \
      //worker/internal/... //worker:task_process_test //worker/cnn:fc_proxy_test; then
    asan_note="ASan/UBSan subset: passed"
  else
    asan_note="ASan/UBSan subset: FAILED (see above)"
    rc=1
    failed=$((failed + 1))
  fi
fi

echo "=== $summary"
echo "=== $fuzz_note"
echo "=== $asan_note"
echo "=== $cuda_note"
echo "tests: $passed passed, $failed failed"
exit $rc
