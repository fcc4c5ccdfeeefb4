#!/usr/bin/env bash
# ps_load for a few seconds: every call succeeds (exit 0 means no errors and
# no memory growth past the bound). Memory over 3 s is noisy; the bound is
# for the 60 s run, so allow more here.
set -euo pipefail
"${TEST_SRCDIR:-$PWD/..}/strata/tests/load/ps_load" --clients=8 --seconds=3 \
  --keys_per_table=20000 --max_memory_growth=1.0
