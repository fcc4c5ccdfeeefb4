#!/usr/bin/env bash
# docs/jobs.md must be exactly what //server/jobs:job_reference prints.
set -euo pipefail
generator="$1"
doc="$2"
if ! diff -u "$doc" <("$generator"); then
  echo "docs/jobs.md is stale: bazel run //server/jobs:job_reference > docs/jobs.md" >&2
  exit 1
fi
echo "docs/jobs.md is up to date"
