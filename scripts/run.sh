#!/usr/bin/env bash
# Quick start 1: install ticklane into .venv and run data-manager on the configured store
# (the embedded SQLite store unless DATABASE_URL is set; no server needed).
# No arguments: apply migrations and show what the store holds. Otherwise the arguments are a
# data-manager command, e.g.  scripts/run.sh import trades.csv --exchange binance --symbol BTCUSDT
set -euo pipefail
source "$(dirname "$0")/_venv.sh"
install_ticklane ""
if [ $# -eq 0 ]; then
    "$VENV/bin/data-manager" db migrate
    "$VENV/bin/data-manager" db stats
else
    exec "$VENV/bin/data-manager" "$@"
fi
