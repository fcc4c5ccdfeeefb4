# Sourced by tests/bench/latency_side_by_side.sh and dense_side_by_side.sh:
# builds tests/bench/peers/pslite_latency_bench.cc against ps-lite's sources
# (../shared/peers/ps-lite, dmlc/ps-lite at 15b8adf, Apache-2.0) the way
# ../shared/peers/p3_side_by_side.sh builds its fair bench (Debian's
# protobuf, ZeroMQ and Abseil; g++ -O3), and runs it as a scheduler, 2
# servers and 1 worker on loopback.
#   pslite_default_src               -> ps-lite's source folder, or nothing
#   pslite_build SRC_DIR BUILD_DIR   -> sets PSLITE_BENCH (the binary)
#   pslite_run VAR=VALUE...          -> the worker's stdout; fails when any
#                                       of the four processes fails
#   side_by_side_setup SRC BUILD_DIR STRATA_BIN TARGET
#       -> builds the peer (SRC empty: pslite_default_src) and, when
#          STRATA_BIN is empty, //tests/bench:TARGET with -c opt; sets
#          PSLITE_BENCH and STRATA_BIN
#   median < NUMBERS                 -> their median (the lower of two)

# ps-lite's sources: ../shared/peers/ps-lite next to the project root, or
# next to the main checkout when this is a git worktree; empty if neither.
pslite_default_src() {
  local common
  common=$(git rev-parse --path-format=absolute --git-common-dir 2>/dev/null || true)
  for d in ../shared/peers/ps-lite "${common%/.git}/../shared/peers/ps-lite"; do
    [ -d "$d/src" ] && { echo "$d"; return; }
  done
  true
}

pslite_build() {  # PSLITE_SRC BUILD_DIR
  local src=$1 b=$2 here
  here=$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)
  [ -d "$src/src" ] || { echo "no ps-lite sources in $src" >&2; return 1; }
  if ! dpkg-query -W -f='${Status}' libzmq3-dev 2>/dev/null | grep -q "ok installed"; then
    echo "libzmq3-dev is not installed (apt-get install libzmq3-dev)" >&2
    return 1
  fi
  if [ ! -f "$b/libpslite.stamp" ]; then  # ps-lite itself, once
    rm -rf "$b"
    mkdir -p "$b"
    cp -r "$src/src" "$src/include" "$b/"
    protoc --cpp_out="$b/src" -I"$b/src" "$b/src/meta.proto"
    local f
    for f in "$b"/src/*.cc; do
      g++ -std=c++17 -O3 -w -I"$b/src" -I"$b/include" -c "$f" -o "$f.o"
    done
    touch "$b/libpslite.stamp"
  fi
  PSLITE_BENCH=$b/pslite_latency_bench
  if [ ! -x "$PSLITE_BENCH" ] || [ "$here/pslite_latency_bench.cc" -nt "$PSLITE_BENCH" ]; then
    g++ -std=c++17 -O3 -w -I"$b/src" -I"$b/include" \
      -c "$here/pslite_latency_bench.cc" -o "$b/bench.o"
    g++ -o "$PSLITE_BENCH" "$b"/src/*.o "$b/bench.o" -lprotobuf -lzmq \
      -labsl_hash -labsl_city -labsl_low_level_hash -labsl_raw_hash_set -pthread
  fi
}

# One run on a random root port; a run whose processes time out (exit 124:
# a lost process, e.g. the scheduler refused a port still in use, hangs the
# others) is tried once more on another port, saying so on stderr.
pslite_run() {  # VAR=VALUE... (the bench's environment)
  local rc attempt
  for attempt in 1 2; do
    rc=0
    pslite_run_once "$@" || rc=$?
    [ "$rc" = 124 ] && [ "$attempt" = 1 ] || break
    echo "ps-lite run timed out; trying once more on another port" >&2
  done
  return "$rc"
}

pslite_run_once() {  # VAR=VALUE...; exits 124 when a process timed out
  local dir rc=0
  dir=$(mktemp -d)
  (
    export DMLC_NUM_SERVER=2 DMLC_NUM_WORKER=1 DMLC_PS_ROOT_URI=127.0.0.1
    export DMLC_PS_ROOT_PORT=$((8100 + RANDOM % 800))
    export "$@"
    t=${PSLITE_TIMEOUT_S:-900}  # a lost process would hang the others
    DMLC_ROLE=scheduler timeout "$t" "$PSLITE_BENCH" 2>"$dir/scheduler.err" &
    s=$!
    DMLC_ROLE=server timeout "$t" "$PSLITE_BENCH" 2>"$dir/server0.err" &
    s0=$!
    DMLC_ROLE=server timeout "$t" "$PSLITE_BENCH" 2>"$dir/server1.err" &
    s1=$!
    DMLC_ROLE=worker timeout "$t" "$PSLITE_BENCH" 2>"$dir/worker.err" &
    w=$!
    for p in "$w" "$s0" "$s1" "$s"; do
      wait "$p" || { e=$?; kill "$w" "$s0" "$s1" "$s" 2>/dev/null; exit "$e"; }
    done
  ) || rc=$?
  if [ "$rc" != 0 ]; then
    echo "ps-lite bench failed ($*):" >&2
    tail -n 5 "$dir"/*.err >&2
  fi
  rm -rf "$dir"
  return "$rc"
}

side_by_side_setup() {  # PSLITE_SRC BUILD_DIR STRATA_BIN TARGET
  local src=$1
  [ -n "$src" ] || src=$(pslite_default_src)
  pslite_build "$src" "$2"
  STRATA_BIN=$3
  if [ -z "$STRATA_BIN" ]; then
    bazel build -c opt "//tests/bench:$4" >&2
    STRATA_BIN=$(bazel info -c opt bazel-bin 2>/dev/null)/tests/bench/$4
  fi
}

median() {
  tr ' ' '\n' | grep . | sort -g | awk '{a[NR]=$1} END {print a[int((NR+1)/2)]}'
}
