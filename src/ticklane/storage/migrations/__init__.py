"""Versioned SQL migrations, one folder per backend.

File names are ``NNNN_name.sql`` or ``NNNN_name.VARIANT.sql``. A version with variants exists
once per table layout (``partitioned``, ``timescaledb``); the store applies the one matching
its layout. ``{placeholders}`` are filled from the storage settings.
"""

from __future__ import annotations

import hashlib
import re
from importlib import resources
from typing import Final

import msgspec

from ticklane.core.errors import MigrationError

_NAME_RE: Final = re.compile(r"^(\d{4})_([a-z0-9_]+)(?:\.([a-z0-9_]+))?\.sql$")


class Migration(msgspec.Struct, frozen=True):
    version: int
    name: str
    sql: str
    checksum: str


def load_migrations(backend: str, layout: str, params: dict[str, object]) -> list[Migration]:
    """The migrations of ``backend`` for ``layout``, in version order, placeholders filled."""
    folder = resources.files(__package__).joinpath(backend)
    by_version: dict[int, Migration] = {}
    variants_seen: dict[int, list[str]] = {}
    for entry in sorted(folder.iterdir(), key=lambda item: item.name):
        match = _NAME_RE.match(entry.name)
        if match is None:
            continue
        version, name, variant = int(match.group(1)), match.group(2), match.group(3)
        if variant is not None:
            variants_seen.setdefault(version, []).append(variant)
            if variant != layout:
                continue
            name = f"{name}.{variant}"
        text = entry.read_text(encoding="utf-8")
        try:
            sql = text.format(**params) if "{" in text else text
        except KeyError as missing:
            raise MigrationError(f"migration {entry.name} needs the setting {missing}") from None
        checksum = hashlib.sha256(text.encode()).hexdigest()
        if version in by_version:
            raise MigrationError(f"two migrations share version {version:04d} in {backend}")
        by_version[version] = Migration(version, name, sql, checksum)
    for version, variants in variants_seen.items():
        if version not in by_version:
            raise MigrationError(
                f"migration {version:04d} has variants {', '.join(variants)} but none for "
                f"layout {layout!r}"
            )
    return [by_version[version] for version in sorted(by_version)]


def check_applied(applied: dict[int, tuple[str, str]], migrations: list[Migration]) -> None:
    """Refuse to go on if a migration was edited after it was applied (checksums differ)."""
    for migration in migrations:
        recorded = applied.get(migration.version)
        if recorded is not None and recorded[1] != migration.checksum:
            raise MigrationError(
                f"migration {migration.version:04d} ({recorded[0]}) was changed after it was "
                "applied; write a new migration instead of editing an applied one"
            )
