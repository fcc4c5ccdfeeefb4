#!/usr/bin/env bash
# The short chaos soak of CI (tests/chaos/chaos.py): a CTR_TRAIN and a
# STANZA CNN_TRAIN job on a supervised loopback cluster survive SIGKILLs of
# each kind of daemon (shard, worker, conv worker, FC node, coordinator),
# with quality within bounds of an undisturbed run.
set -euo pipefail
RUNFILES=${TEST_SRCDIR:-$PWD/..}/strata
exec python3 "$RUNFILES/tests/chaos/chaos.py" --repo "$RUNFILES" \
  --bin_dir "$RUNFILES" --dir "${TEST_TMPDIR:-/tmp}/chaos.$$" --scale 1 \
  --kill_every_s 3 --first_kill_after_s 6 --max_kills 6 --seed 1
