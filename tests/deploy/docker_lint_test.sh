#!/usr/bin/env bash
# Runs docker_lint_test.py (structural lint of deploy/docker/Dockerfile).
set -euo pipefail
RUNFILES=${TEST_SRCDIR:-}/strata
[[ -f "$RUNFILES/tests/deploy/docker_lint_test.py" ]] || RUNFILES="$(cd "$(dirname "$0")/../.." && pwd)"
exec python3 "$RUNFILES/tests/deploy/docker_lint_test.py"
