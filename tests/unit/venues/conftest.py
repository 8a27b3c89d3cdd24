"""Venue protocol tests: make the shared helpers (recordings, local HTTP server) importable."""

from __future__ import annotations

import sys
from pathlib import Path

sys.path.insert(0, str(Path(__file__).parent))
