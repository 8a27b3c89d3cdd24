#!/usr/bin/env bash
# Quick start 2: install ticklane with its test tools into .venv and run every check:
# lint, formatting, strict types, then the whole test suite against real PostgreSQL and Redis
# (DATABASE_URL / REDIS_URL when they answer, else 127.0.0.1, else throwaway local servers).
# Extra arguments go to pytest, e.g.  scripts/test.sh -k sqlite -x
set -euo pipefail
source "$(dirname "$0")/_venv.sh"
install_ticklane "[test]"
cd "$REPO"
"$VENV/bin/ruff" check
"$VENV/bin/ruff" format --check --quiet
"$VENV/bin/mypy"
exec "$VENV/bin/pytest" "$@"
