"""Writing a benchmark's section of ``benchmarks/RESULTS.md`` (``--write-results``)."""

from __future__ import annotations

from pathlib import Path

RESULTS = Path(__file__).with_name("RESULTS.md")


def write_section(name: str, section: str, path: Path = RESULTS) -> None:
    """Put ``section`` (starting ``## name``) in place of the file's section of that name, or
    at the end; the other sections stay as they are."""
    text = path.read_text() if path.exists() else "# Benchmark results\n"
    head, marker, rest = text.partition(f"## {name}\n")
    if marker:
        following = rest.find("\n## ")
        tail = rest[following + 1 :] if following >= 0 else ""
        text = head + section + ("\n" + tail if tail else "")
    else:
        text = text.rstrip("\n") + "\n\n" + section
    path.write_text(text)
