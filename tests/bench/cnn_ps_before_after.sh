#!/usr/bin/env bash
# PS-mode AlexNet step time before and after the data-plane work (issue 16;
# docs/benchmarks.md, "PS-mode AlexNet step time before and after"): one
# CNN_TRAIN job in PS mode (2 workers pulling every parameter from 2
# in-process shards and pushing every gradient to them, BSP, batch 64 per
# worker, synthetic 32x32 images; tests/bench/cnn_ps_step_bench.cc) built
# from REV (default f8376df, the base of issue 16's first step) and from
# this tree, the two binaries alternated ROUNDS times in one run. Prints
# every run, the medians and `uptime` at the start and the end.
#   tests/bench/cnn_ps_before_after.sh [--before REV] [--rounds N]
#       [--steps S] [--model alexnet|lenet5|vgg] [--worktree DIR]
# The before tree is a throwaway worktree (default /tmp/i16-before, created
# at REV when missing) into which this script copies the benchmark's source
# as the package //worker/ps_step_bench (the bench is newer than REV; the
# code it measures is REV's own). Builds both with -c opt.
set -euo pipefail
cd "$(dirname "$0")/../.."
rev=f8376df rounds=3 steps=5 model=alexnet wt=/tmp/i16-before
while [ $# -gt 0 ]; do
  case "$1" in
    --before) rev=$2; shift 2 ;;
    --rounds) rounds=$2; shift 2 ;;
    --steps) steps=$2; shift 2 ;;
    --model) model=$2; shift 2 ;;
    --worktree) wt=$2; shift 2 ;;
    -h|--help) sed -n '2,15p' "$0"; exit 0 ;;
    *) echo "unknown argument $1" >&2; exit 2 ;;
  esac
done
want=$(git rev-parse "$rev^{commit}")
[ -d "$wt" ] || git worktree add --detach "$wt" "$want" >&2
have=$(git -C "$wt" rev-parse HEAD)
if [ "$have" != "$want" ]; then
  echo "$wt is at $have, not $rev: remove it or pass --worktree" >&2
  exit 1
fi
mkdir -p "$wt/worker/ps_step_bench"
cp tests/bench/cnn_ps_step_bench.cc "$wt/worker/ps_step_bench/"
# The cc_binary of tests/bench/BUILD (its deps are absolute labels).
awk '/^cc_binary\(/ {block = ""; keep = 0; on = 1}
     on {block = block $0 "\n"}
     /name = "cnn_ps_step_bench"/ {keep = 1}
     on && /^\)/ {if (keep) printf "%s", block; on = 0}' tests/bench/BUILD \
  > "$wt/worker/ps_step_bench/BUILD"
grep -q cnn_ps_step_bench "$wt/worker/ps_step_bench/BUILD"
(cd "$wt" && bazel build -c opt //worker/ps_step_bench:cnn_ps_step_bench >&2)
BEFORE=$(cd "$wt" && bazel info -c opt bazel-bin 2>/dev/null)/worker/ps_step_bench/cnn_ps_step_bench
bazel build -c opt //tests/bench:cnn_ps_step_bench >&2
AFTER=$(bazel info -c opt bazel-bin 2>/dev/null)/tests/bench/cnn_ps_step_bench

flags=(--runs=1 --steps="$steps" --model="$model")
log=$(mktemp)
trap 'rm -f "$log"' EXIT
echo "before = $rev ($(git log -1 --format=%h "$want")), after = $(git rev-parse --short HEAD)$(git diff --quiet HEAD || echo ' + uncommitted changes')"
echo "uptime at start: $(uptime)"
"$AFTER" "${flags[@]}" --runs=0 2>/dev/null  # the header lines
declare -A step comm cpu
for ((r = 1; r <= rounds; r++)); do
  for build in before after; do
    bin=$BEFORE
    [ "$build" = after ] && bin=$AFTER
    if ! out=$("$bin" "${flags[@]}" --label="$build" 2>"$log"); then
      echo "$build run $r failed:" >&2
      tail -n 20 "$log" >&2
      exit 1
    fi
    line=$(tail -n 1 <<< "$out")
    echo "$line"
    read -r _ s c _ u <<< "$line"
    step[$build]="${step[$build]:-} $s"
    comm[$build]="${comm[$build]:-} $c"
    cpu[$build]="${cpu[$build]:-} $u"
  done
done
median() { tr ' ' '\n' | grep . | sort -g | awk '{a[NR]=$1} END {print a[int((NR+1)/2)]}'; }
echo "medians of $rounds rounds:"
printf '%-8s %10s %10s %8s\n' build ms/step "comm ms" "CPU s"
declare -A m
for build in before after; do
  for v in step comm cpu; do
    declare -n all=$v
    m[$build/$v]=$(median <<< "${all[$build]}")
  done
  printf '%-8s %10s %10s %8s\n' "$build" "${m[$build/step]}" "${m[$build/comm]}" "${m[$build/cpu]}"
done
awk -v a="${m[after/step]}" -v b="${m[before/step]}" -v ac="${m[after/comm]}" \
  -v bc="${m[before/comm]}" -v au="${m[after/cpu]}" -v bu="${m[before/cpu]}" \
  'BEGIN {printf "after / before: step %.3f, comm %.3f, CPU %.3f\n", a / b, ac / bc, au / bu}'
echo "uptime at end: $(uptime)"
