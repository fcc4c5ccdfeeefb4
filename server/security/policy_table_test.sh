#!/usr/bin/env bash
# docs/security.md's policy table must be exactly what
# //server/security:policy_table prints (between its two marker lines).
set -euo pipefail
generator="$1"
doc="$2"
table="$(sed -n '/^<!-- policy table begin/,/^<!-- policy table end/p' "$doc" | sed '1d;$d')"
if ! diff -u <(echo "$table") <("$generator"); then
  echo "docs/security.md's policy table is stale: paste the output of" >&2
  echo "  bazel run //server/security:policy_table" >&2
  exit 1
fi
echo "docs/security.md's policy table is up to date"
