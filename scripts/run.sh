#!/usr/bin/env bash
# Quick start 1: install ticklane into .venv and run the live platform.
# No arguments: data-manager serve streams BTCUSDT and ETHUSDT from Binance into the configured
# tick store (the embedded SQLite store unless DATABASE_URL is set) and the shared-memory ring,
# and trading-core live paper-trades the [paper_trading] strategy on what it reads; Ctrl-C stops
# both. `scripts/run.sh demo` does the same offline, on a local synthetic market.
# Other arguments are a data-manager command, e.g.
#     scripts/run.sh import trades.csv --exchange binance --symbol BTCUSDT
set -euo pipefail
source "$(dirname "$0")/_venv.sh"
install_ticklane ""
if [ $# -gt 0 ] && [ "$1" != "demo" ]; then
    exec "$VENV/bin/data-manager" "$@"
fi
# Both processes stop on Ctrl-C (the terminal sends SIGINT to both) or on SIGTERM here.
"$VENV/bin/trading-core" live --paper-trading --symbols BTCUSDT,ETHUSDT &
trader=$!
trap 'kill -TERM "$trader" 2>/dev/null || true' TERM EXIT
if [ "${1:-}" = "demo" ]; then
    "$VENV/bin/data-manager" demo --symbols BTCUSDT,ETHUSDT || status=$?
else
    "$VENV/bin/data-manager" serve --live --provider binance --symbols BTCUSDT,ETHUSDT \
        --ipc --persist || status=$?
fi
# The first failure decides the exit status: data-manager's, else trading-core's.
wait "$trader" || status=${status:-$?}
exit "${status:-0}"
