#!/usr/bin/env bash
# tests/multihost/time_to_accuracy.sh end to end on a tiny generated CIFAR-10
# directory (the real one is not on the build machines): both modes train
# the VGG preset (its FC part is smaller than AlexNet-style's 33.6M
# parameters, which take minutes per PS step here) at one link rate, the report prints both rows and the speed-up
# line, the PNG is drawn (where matplotlib imports), and the FC-node scaling
# mode runs with 1 and 2 conv workers. Fails when a job fails or the report
# misses a line. SKIPs (exit 0) where network namespaces cannot be made.
set -euo pipefail

RUNFILES=${TEST_SRCDIR:-$PWD/..}/strata
HERE=$RUNFILES/tests/multihost
# shellcheck source=netns_lib.sh
source "$HERE/netns_lib.sh"
if ! why=$(mh_can_run); then
  echo "SKIP: time-to-accuracy test needs network namespaces: $why"
  exit 0
fi

DIR=${TEST_TMPDIR:-/tmp}/tta_test.$$
mkdir -p "$DIR/cifar"
# 2 training batches of 32 records and a test batch of 32: label k % 10,
# pixels of the class's template plus noise (learnable in a few steps).
python3 - "$DIR/cifar" <<'PY'
import random, sys
rng = random.Random(1)
templates = [bytes(rng.randrange(256) for _ in range(3072)) for _ in range(10)]
def batch(path, n):
    with open(path, "wb") as f:
        for k in range(n):
            t = templates[k % 10]
            f.write(bytes([k % 10]) +
                    bytes(min(255, max(0, p + rng.randrange(-8, 9))) for p in t))
for i in (1, 2):
    batch("%s/data_batch_%d.bin" % (sys.argv[1], i), 32)
batch("%s/test_batch.bin" % sys.argv[1], 32)
PY

out=$DIR/out.txt
STRATA_BIN_DIR=$RUNFILES BENCH_DIR=$DIR/run "$HERE/time_to_accuracy.sh" \
  --cifar10_dir "$DIR/cifar" --model vgg --lr 0.002 --rates 10gbit --steps 6 --eval_every 2 \
  --batch 4 --target 0 --scaling "1 2" --scaling_steps 3 --out "$DIR/out" \
  > "$out" 2>&1 || { cat "$out"; exit 1; }
cat "$out"
fail() { echo "FAIL: $*"; exit 1; }
grep -q "^model vgg on $DIR/cifar" "$out" || fail "no CIFAR-10 header"
for mode in STANZA PS; do
  grep -Eq "^10gbit +$mode +[0-9.]+s +[0-9]+ +[0-9.]+% " "$out" ||
    fail "no $mode row with a time to target"
  grep -q "cifar10_dir: \"$DIR/cifar\"" "$DIR/out/tta-10gbit-$mode.textproto" ||
    fail "$mode spec does not read the CIFAR-10 directory"
done
grep -q "^10gbit: STANZA - PS final accuracy .* expected from bytes" "$out" ||
  fail "no speed-up line"
for w in 1 2; do
  grep -Eq "^$w +[0-9]+ " "$out" || fail "no scaling row for $w conv workers"
done
if /usr/bin/python3 -c 'import matplotlib' 2>/dev/null; then
  [[ -s $DIR/out/time_to_accuracy.png ]] || fail "no PNG"
fi
echo PASS
