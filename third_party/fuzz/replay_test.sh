#!/usr/bin/env bash
# Replays a fuzz target's seed corpus: replay_test.sh BINARY CORPUS_DIR.
# Fails on a crash (or a sanitizer report) and on an empty corpus.
set -euo pipefail
binary="$1"
corpus="$2"
count=$(find -L "$corpus" -type f | wc -l)
if [ "$count" -eq 0 ]; then
  echo "no seed inputs in $corpus" >&2
  exit 1
fi
"$binary" "$corpus"
