#!/usr/bin/env bash
# Quick start 1: install ticklane into .venv and stream live market data.
# No arguments: data-manager serve streams BTCUSDT and ETHUSDT from Binance into the configured
# tick store (the embedded SQLite store unless DATABASE_URL is set) and the shared-memory ring,
# until Ctrl-C. `scripts/run.sh demo` does the same offline, on a local synthetic market.
# Other arguments are a data-manager command, e.g.
#     scripts/run.sh import trades.csv --exchange binance --symbol BTCUSDT
set -euo pipefail
source "$(dirname "$0")/_venv.sh"
install_ticklane ""
if [ $# -eq 0 ]; then
    exec "$VENV/bin/data-manager" serve --live --provider binance --symbols BTCUSDT,ETHUSDT \
        --ipc --persist
else
    exec "$VENV/bin/data-manager" "$@"
fi
