"""Reading a DBN file (``.dbn`` or zstd ``.dbn.zst``) as blocks of records, memory bounded.

The metadata header is decoded by ``databento_dbn``; the records of a historical file all have
one schema and one length, so each block is one ``np.frombuffer`` over the decompressed bytes
(what ``DBNStore.to_ndarray(count=N)`` does). We read the file ourselves rather than through
``DBNStore.from_file`` because that keeps the file open after use and only *warns* about a
truncated file; here the file is closed on exit and every fault is a ``BadDataError`` naming
the file: not DBN (or the legacy DBZ format), a corrupt zstd frame, a bad header, a record of
another type, a truncated last record.
"""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path
from types import TracebackType
from typing import IO, Any, Final, cast

import databento_dbn
import numpy as np
import numpy.typing as npt
import zstandard

from ticklane.core.errors import BadDataError
from ticklane.venues.databento.schemas import SCHEMAS, SchemaSpec

ZSTD_MAGIC: Final = b"\x28\xb5\x2f\xfd"
# Legacy DBZ files open with a zstd *skippable* frame (magic 0x184D2A50..5F, little endian).
_SKIPPABLE_MAGIC_TAIL: Final = b"\x2a\x4d\x18"
DBN_PREFIX: Final = b"DBN"
SUPPORTED_VERSIONS: Final = (1, 2, 3)
_READ_SIZE: Final = 1 << 20
# The stubs type the enum's members as int; the value is the enum member itself.
_AS_IS: Final = cast(databento_dbn.VersionUpgradePolicy, databento_dbn.VersionUpgradePolicy.AS_IS)

Records = npt.NDArray[Any]  # a structured array of a ``SchemaSpec.dtype``


class DbnFile:
    """An open DBN file: ``metadata``, its ``spec``, and ``blocks(rows)`` of records.

    Use as a context manager; ``name`` is how errors refer to the file (defaults to the file
    name).
    """

    def __init__(self, path: Path, *, name: str | None = None) -> None:
        self.path = path
        self.name = name or path.name
        self._raw: IO[bytes] | None = None
        self._stream: IO[bytes] | None = None
        self.metadata: databento_dbn.Metadata
        self.spec: SchemaSpec
        self.dtype: np.dtype[np.void]

    def __enter__(self) -> DbnFile:
        try:
            self._raw = open(self.path, "rb")  # closed in close()
        except OSError as error:
            raise BadDataError(
                f"{self.name}: cannot open: {error.strerror}", field="path", value=str(self.path)
            ) from None
        try:
            self._stream = self._open_stream(self._raw)
            self._read_metadata()
        except BaseException:
            self.close()
            raise
        return self

    def __exit__(
        self,
        kind: type[BaseException] | None,
        error: BaseException | None,
        trace: TracebackType | None,
    ) -> None:
        self.close()

    def close(self) -> None:
        if self._stream is not None and self._stream is not self._raw:
            self._stream.close()
        if self._raw is not None:
            self._raw.close()
        self._stream = self._raw = None

    def fail(self, problem: str) -> BadDataError:
        return BadDataError(f"{self.name}: {problem}", field="path", value=str(self.path))

    def blocks(self, rows: int) -> Iterator[Records]:
        """The records, ``rows`` (at least 1) at a time; the last block may be shorter."""
        size = self.dtype.itemsize
        want = size * max(rows, 1)
        pending = b""
        index = 0
        while True:
            data = pending + self._read(want - len(pending))
            if len(data) < want:
                data += self._read_rest(want - len(data))
            whole = len(data) - len(data) % size
            if whole:
                block = np.frombuffer(data, dtype=self.dtype, count=whole // size)
                self._check_block(block, index)
                index += len(block)
                yield block
            pending = data[whole:]
            if len(data) < want:  # end of file
                if pending:
                    raise self.fail(
                        f"truncated: the file ends {len(pending)} bytes into record {index} "
                        f"(records are {size} bytes)"
                    )
                return

    # --- internals -----------------------------------------------------------------------------

    def _open_stream(self, raw: IO[bytes]) -> IO[bytes]:
        head = raw.read(4)
        raw.seek(0)
        if head == ZSTD_MAGIC:
            return zstandard.ZstdDecompressor().stream_reader(
                raw, read_size=_READ_SIZE, read_across_frames=True, closefd=False
            )
        if head[:3] == DBN_PREFIX:
            return raw
        if len(head) == 4 and head[1:] == _SKIPPABLE_MAGIC_TAIL and 0x50 <= head[0] <= 0x5F:
            raise self.fail(
                "is in the legacy DBZ format, not DBN; convert it to DBN "
                "(e.g. with Databento's `dbn` tool) and try again"
            )
        raise self.fail(f"is not a DBN file (it starts with {head.hex() or 'nothing'})")

    def _read(self, count: int) -> bytes:
        assert self._stream is not None
        try:
            return self._stream.read(count)
        except zstandard.ZstdError as error:
            raise self.fail(f"corrupt zstd data: {error}") from None

    def _read_rest(self, count: int) -> bytes:
        """Keep reading until ``count`` more bytes or the end (a stream may return less)."""
        parts = []
        while count > 0:
            data = self._read(count)
            if not data:
                break
            parts.append(data)
            count -= len(data)
        return b"".join(parts)

    def _read_metadata(self) -> None:
        prefix = self._read_rest(8)
        if len(prefix) < 8 or prefix[:3] != DBN_PREFIX:
            raise self.fail("does not start with a DBN header (corrupt or not DBN)")
        version = prefix[3]
        if version not in SUPPORTED_VERSIONS:
            raise self.fail(f"is DBN version {version}; versions 1 to 3 are supported")
        length = int.from_bytes(prefix[4:8], "little")
        body = self._read_rest(length)
        if len(body) < length:
            raise self.fail(f"truncated inside its metadata header ({len(body)} of {length} bytes)")
        try:
            self.metadata = databento_dbn.Metadata.decode(prefix + body, upgrade_policy=_AS_IS)
        except Exception as error:  # DBNError: the header's contents are corrupt
            raise self.fail(f"corrupt DBN metadata: {error}") from None
        schema = self.metadata.schema
        if schema is None:
            raise self.fail("mixes several schemas (a live session file); not supported")
        spec = SCHEMAS.get(str(schema))
        if spec is None:
            raise self.fail(f"has schema {schema}; ticklane reads {', '.join(SCHEMAS)}")
        self.spec = spec
        fields = spec.dtype.descr + ([("ts_out", "<u8")] if self.metadata.ts_out else [])
        self.dtype = np.dtype(fields)

    def _check_block(self, block: Records, first_index: int) -> None:
        """Every record has the schema's type and length; else the file is corrupt."""
        wrong = ~np.isin(block["rtype"], self.spec.rtypes)
        length = block["length"].astype(np.int64) * 4
        # With ts_out, the length counts the record with or without the 8 trailing bytes.
        wrong |= (length != self.dtype.itemsize) & (length != self.spec.dtype.itemsize)
        if wrong.any():
            at = int(np.flatnonzero(wrong)[0])
            raise self.fail(
                f"record {first_index + at} has type 0x{int(block['rtype'][at]):02x} and length "
                f"{int(block['length'][at]) * 4}, not a {self.spec.name} record of "
                f"{self.dtype.itemsize} bytes (corrupt file)"
            )
