"""Run the installed console scripts as real processes, in a scratch directory."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path
from typing import Any

REPO = Path(__file__).resolve().parent.parent
BIN = Path(sys.executable).parent


class Cli:
    """``cli("db", "stats")`` runs ``data-manager db stats`` with the test settings."""

    def __init__(self, cwd: Path, database_url: str | None) -> None:
        self.cwd = cwd
        self.env = {
            key: value
            for key, value in os.environ.items()
            if key not in {"DATABASE_URL", "REDIS_URL", "RUN_MODE", "DATA_MANAGER_CONFIG_DIR"}
        }
        self.env.update(RUN_MODE="test", DATA_MANAGER_CONFIG_DIR=str(REPO / "config"))
        if database_url:
            self.env["DATABASE_URL"] = database_url

    def run(self, *args: str, program: str = "data-manager") -> subprocess.CompletedProcess[str]:
        return subprocess.run(
            [str(BIN / program), *args],
            cwd=self.cwd,
            env=self.env,
            capture_output=True,
            text=True,
            timeout=120,
        )

    def json(self, *args: str) -> Any:
        result = self.run(*args, "--format", "json")
        assert result.returncode == 0, result.stderr
        return json.loads(result.stdout)
