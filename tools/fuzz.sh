#!/usr/bin/env bash
# Runs Strata's libFuzzer targets (docs/fuzzing.md).
#   tools/fuzz.sh [--seconds N] [--runs N] [--merge] [TARGET...]
# TARGET is a Bazel label of a fuzz target (default: all of them, found by
# `bazel query`). Each runs until N executions (--runs, default 1000000) or
# N seconds (--seconds, default 600), whichever comes first, starting from
# its seed corpus (testdata/<name>_corpus beside its BUILD file). New inputs
# go to a scratch corpus; --merge adds the ones that reach new coverage to
# the seed corpus. Prints one line per target: executions, rate, result.
# Exits 1 if any target crashed; the crashing input is kept under
# $STRATA_FUZZ_OUT (default /tmp/strata-fuzz).
# The fuzz build uses its own Bazel output base (clang, ASan + UBSan), so it
# does not evict the regular build.
set -euo pipefail
cd "$(dirname "$0")/.."

seconds=600
runs=1000000
merge=0
targets=()
while [ $# -gt 0 ]; do
  case "$1" in
    --seconds) seconds="$2"; shift 2 ;;
    --runs) runs="$2"; shift 2 ;;
    --merge) merge=1; shift ;;
    -h|--help) sed -n '2,14p' "$0"; exit 0 ;;
    *) targets+=("$1"); shift ;;
  esac
done

tools/setup.sh >/dev/null
BAZEL=(bazel --output_base="${STRATA_FUZZ_OUTPUT_BASE:-${HOME}/.cache/bazel-strata-fuzz}")
if [ ${#targets[@]} -eq 0 ]; then
  # The source folders, not //...: a bazel-<workspace> link made by another
  # output base would be read as a package tree.
  mapfile -t targets < <("${BAZEL[@]}" query --noshow_progress \
    'attr(name, "_fuzz$", kind("cc_binary", set(//compression/... //proto/...
     //server/... //worker/... //tools/... //tests/...)))' 2>/dev/null)
fi
if [ ${#targets[@]} -eq 0 ]; then
  echo "fuzz.sh: found no fuzz targets" >&2
  exit 1
fi
"${BAZEL[@]}" build --config=fuzz --symlink_prefix=/ "${targets[@]}"
bin=$("${BAZEL[@]}" info --config=fuzz bazel-bin 2>/dev/null)
out="${STRATA_FUZZ_OUT:-/tmp/strata-fuzz}"
mkdir -p "$out"
# A UBSan report is a crash (UBSan alone only prints and goes on).
export UBSAN_OPTIONS="${UBSAN_OPTIONS:-halt_on_error=1:print_stacktrace=1}"

failed=0
printf '%-42s %12s %10s %8s  %s\n' target executions exec/s seconds result
for t in "${targets[@]}"; do
  pkg="${t#//}"; pkg="${pkg%%:*}"; name="${t##*:}"
  seed="$pkg/testdata/${name}_corpus"
  scratch="$out/$name/corpus"; crashes="$out/$name/crashes"
  mkdir -p "$scratch" "$crashes"
  log="$out/$name/log"
  set +e
  "$bin/$pkg/$name" -runs="$runs" -max_total_time="$seconds" \
    -artifact_prefix="$crashes/" -print_final_stats=1 \
    "$scratch" "$seed" >"$log" 2>&1
  rc=$?
  set -e
  execs=$(grep -aoE 'stat::number_of_executed_units: *[0-9]+' "$log" |
          grep -oE '[0-9]+$' | tail -1 || true)
  secs=$(grep -aoE 'Done [0-9]+ runs in [0-9]+ second' "$log" |
         grep -oE 'in [0-9]+' | grep -oE '[0-9]+' | tail -1 || true)
  rate=$(grep -aoE 'stat::average_exec_per_sec: *[0-9]+' "$log" |
         grep -oE '[0-9]+$' | tail -1 || true)
  if [ $rc -eq 0 ]; then result="ok, no crash"; else
    result="CRASH (log: $log, inputs: $crashes)"; failed=1
  fi
  printf '%-42s %12s %10s %8s  %s\n' "$t" "${execs:-?}" "${rate:-?}" \
    "${secs:-?}" "$result"
  if [ $merge -eq 1 ] && [ $rc -eq 0 ]; then
    "$bin/$pkg/$name" -merge=1 "$seed" "$scratch" >>"$log" 2>&1
  fi
done
exit $failed
