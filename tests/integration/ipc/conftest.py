"""A ring segment name of the test's own under /dev/shm, removed afterwards."""

from __future__ import annotations

import secrets
from collections.abc import Iterator

import pytest

from ticklane.ipc import resolve_path, unlink_segment


@pytest.fixture
def ring_name() -> Iterator[str]:
    name = f"ticklane-test-{secrets.token_hex(6)}"
    try:
        yield name
    finally:
        unlink_segment(name)
        for leftover in resolve_path(name).parent.glob(f".{name}.*.tmp"):
            leftover.unlink(missing_ok=True)
