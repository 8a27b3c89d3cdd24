"""The ring's file: naming it, creating or reusing it for a writer, mapping it for a reader.

Why by hand: no maintained library offers a multi-process, one-writer many-reader ring to
Python (iceoryx2's binding measured at most ~170k records/s here, far below the target), so
the ring is a plain file under ``/dev/shm`` mapped with ``mmap`` and read and written with
``struct`` and numpy views. The layout is in ``ipc.layout``; the concurrency argument in
``ipc.writer`` and ``ipc.reader``.

Who owns the file, and what a writer restart does to it:

- An exclusive ``flock`` on the file is the writer's licence: one writer per segment, and the
  kernel drops it when the writer's process ends however it ends (SIGKILL included), so a
  reader tells a live writer from a dead one by trying a shared lock without blocking.
- A new file is built under a temporary name, fully initialised, and linked into place (the
  link fails if another writer got there first): a reader never maps a half-written header.
- An existing file of the same layout version and geometry is reused in place: its slots,
  cursor and instrument table stay; the new writer takes a new generation id and resumes at
  the first index the old one did not publish. Readers mapping it go on reading, and the
  generation id in each slot tells them exactly where the new writer's records begin.
- A file of another version or geometry is replaced (renamed over). Readers still mapping the
  old inode keep a valid mapping (the kernel keeps an unlinked file's pages while they are
  mapped), see its writer gone, notice that the name now leads to another inode and re-open.
"""

from __future__ import annotations

import contextlib
import fcntl
import mmap
import os
import secrets
import time
from pathlib import Path
from typing import Final, NamedTuple

import numpy as np
import numpy.typing as npt

from ticklane.core.errors import ConfigError, TransientError
from ticklane.ipc import layout

DEFAULT_DIR: Final = Path("/dev/shm")
DEFAULT_NAME: Final = "ticklane"


class SegmentBusyError(ConfigError):
    """Another live writer holds the segment: two writers were configured on one name."""


class SegmentFormatError(ConfigError):
    """The file is not a ticklane ring, or was written with another layout version."""


class WriterNotFoundError(TransientError):
    """No ring segment appeared within the attach timeout: start the writer, or retry."""


class Geometry(NamedTuple):
    capacity: int
    max_instruments: int
    slots_at: int
    size: int


def resolve_path(name: str) -> Path:
    """``name`` under ``/dev/shm`` when it is a bare name, else the path it spells."""
    if not isinstance(name, str) or not name or name in (".", ".."):
        raise ConfigError(f"ipc ring name: {name!r} is not a file name or path")
    return Path(name) if "/" in name else DEFAULT_DIR / name


def unlink_segment(name: str) -> bool:
    """Remove a segment's file; readers mapping it keep their mapping. True if it existed."""
    try:
        resolve_path(name).unlink()
    except FileNotFoundError:
        return False
    return True


def check_geometry(capacity: int, max_instruments: int) -> Geometry:
    """The geometry of a new segment, or ``ConfigError`` naming the option that is wrong."""
    if isinstance(capacity, bool) or not isinstance(capacity, int):
        raise ConfigError(f"ipc ring capacity: {capacity!r} is not an integer")
    if not 16 <= capacity <= 2**26 or capacity & (capacity - 1):
        raise ConfigError(f"ipc ring capacity: {capacity} is not a power of two from 16 to 2**26")
    if isinstance(max_instruments, bool) or not isinstance(max_instruments, int):
        raise ConfigError(f"ipc ring max_instruments: {max_instruments!r} is not an integer")
    if not 1 <= max_instruments <= 2**20:
        raise ConfigError(f"ipc ring max_instruments: {max_instruments} is not from 1 to 2**20")
    return Geometry(
        capacity,
        max_instruments,
        layout.slots_offset(max_instruments),
        layout.file_size(capacity, max_instruments),
    )


def read_geometry(header: bytes, file_size: int, path: Path) -> Geometry:
    """The geometry a header declares; ``SegmentFormatError`` if it is not a ring we read."""
    magic, version, slot_size, capacity, max_instruments, entry_size, slots_at, size = (
        layout.GEOMETRY.unpack_from(header)
    )
    if magic != layout.MAGIC:
        raise SegmentFormatError(f"{path} is not a ticklane ipc ring (magic {magic!r})")
    if version != layout.LAYOUT_VERSION:
        raise SegmentFormatError(
            f"{path} has ring layout version {version}; this build reads "
            f"version {layout.LAYOUT_VERSION}"
        )
    try:
        geometry = check_geometry(capacity, max_instruments)
    except ConfigError as error:
        raise SegmentFormatError(f"{path}: impossible header ({error})") from None
    if (slot_size, entry_size, slots_at, size) != (
        layout.SLOT_SIZE,
        layout.ENTRY_SIZE,
        geometry.slots_at,
        geometry.size,
    ) or file_size < size:
        raise SegmentFormatError(f"{path}: header and file size disagree")
    return geometry


class Segment:
    """A mapped ring file: its geometry, the views readers and writers use, its lock."""

    def __init__(self, path: Path, fd: int, geometry: Geometry, *, writable: bool) -> None:
        self.path = path
        self.fd = fd
        self.capacity = geometry.capacity
        self.mask = geometry.capacity - 1
        self.max_instruments = geometry.max_instruments
        self.slots_at = geometry.slots_at
        self.writable = writable
        stat = os.fstat(fd)
        self.identity = (stat.st_dev, stat.st_ino)
        # MAP_POPULATE: fault every page in now, not one at a time on the hot path.
        self.mm = mmap.mmap(
            fd,
            geometry.size,
            flags=mmap.MAP_SHARED | mmap.MAP_POPULATE,
            prot=mmap.PROT_READ | (mmap.PROT_WRITE if writable else 0),
        )
        self.words = memoryview(self.mm).cast("Q")
        # The slots as a (capacity, 10) grid of u64 words: batch copies are plain block
        # copies of whole rows (numpy copies a structured dtype field by field, far slower).
        self.ring: npt.NDArray[np.uint64] = np.frombuffer(
            self.mm, np.uint64, geometry.capacity * layout.SLOT_WORDS, geometry.slots_at
        ).reshape(geometry.capacity, layout.SLOT_WORDS)
        self.seqs: npt.NDArray[np.uint64] = self.ring[:, 0]

    def instrument_entry(self, index: int) -> bytes:
        start = layout.HEADER_SIZE + index * layout.ENTRY_SIZE
        return self.mm[start : start + layout.ENTRY_SIZE]

    def writer_holds_lock(self) -> bool:
        """Whether a writer process holds this file's licence (the kernel's answer, not ours).

        A shared lock is taken and dropped at once when free; a writer starting at that very
        moment retries its exclusive lock, so the probe cannot keep it out.
        """
        try:
            fcntl.flock(self.fd, fcntl.LOCK_SH | fcntl.LOCK_NB)
        except BlockingIOError:
            return True
        fcntl.flock(self.fd, fcntl.LOCK_UN)
        return False

    def replaced(self) -> bool:
        """Whether the name now leads to another file (a writer recreated it) or to none."""
        try:
            stat = os.stat(self.path)
        except FileNotFoundError:
            return True
        return (stat.st_dev, stat.st_ino) != self.identity

    def close(self) -> None:
        """Unmap and close. Views handed out earlier keep the mapping alive until dropped."""
        self.words.release()
        self.ring = self.seqs = np.empty(0, np.uint64)
        # An array still viewing the map keeps it; it is unmapped when that array goes.
        with contextlib.suppress(BufferError):
            self.mm.close()
        os.close(self.fd)


def open_for_reader(path: Path) -> Segment | None:
    """Map an existing segment read-only, or None while there is none (or it is empty)."""
    try:
        fd = os.open(path, os.O_RDONLY | os.O_CLOEXEC)
    except FileNotFoundError:
        return None
    try:
        size = os.fstat(fd).st_size
        if size < layout.HEADER_SIZE:
            os.close(fd)
            return None
        geometry = read_geometry(os.pread(fd, layout.GEOMETRY.size, 0), size, path)
        return Segment(path, fd, geometry, writable=False)
    except BaseException:
        os.close(fd)
        raise


def open_for_writer(
    path: Path, geometry: Geometry, *, mode: int, lock_timeout: float
) -> tuple[Segment, bool]:
    """The segment at ``path`` locked for writing, and whether an existing file was reused."""
    deadline = time.monotonic() + lock_timeout
    while True:
        try:
            fd = os.open(path, os.O_RDWR | os.O_CLOEXEC)
        except FileNotFoundError:
            created = _create(path, geometry, mode, replace=False)
            if created is not None:
                return created, False
            continue  # another writer linked its file first: contend for that one's lock
        taken = _take_over(fd, path, geometry, mode, deadline)
        if taken is not None:
            return taken


def _take_over(
    fd: int, path: Path, geometry: Geometry, mode: int, deadline: float
) -> tuple[Segment, bool] | None:
    """Lock the open file ``fd`` and reuse or replace it; None if it was replaced meanwhile.

    ``fd`` is consumed: it belongs to the returned segment or is closed, and the old file's
    lock is dropped only after the replacement is in place.
    """
    try:
        _lock_exclusive(fd, path, deadline)
        stat = os.fstat(fd)
        if (stat.st_dev, stat.st_ino) != _identity(path):
            return None  # replaced between our open and our lock: start over
        if _compatible(fd, stat.st_size, geometry, path):
            segment = Segment(path, fd, geometry, writable=True)
            fd = -1
            return segment, True
        created = _create(path, geometry, mode, replace=True)
        return None if created is None else (created, False)
    finally:
        if fd >= 0:
            os.close(fd)


def _identity(path: Path) -> tuple[int, int] | None:
    try:
        stat = os.stat(path)
    except FileNotFoundError:
        return None
    return (stat.st_dev, stat.st_ino)


def _lock_exclusive(fd: int, path: Path, deadline: float) -> None:
    while True:
        try:
            fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
            return
        except BlockingIOError:
            # Readers hold a shared lock for microseconds when probing; a writer holds it
            # for its life. Retry until the deadline to tell the two apart.
            if time.monotonic() >= deadline:
                pid = _writer_pid(fd)
                raise SegmentBusyError(
                    f"ipc ring {path} already has a live writer (pid {pid} in its own "
                    "namespace); configure another ring name or stop that writer"
                ) from None
            time.sleep(0.002)


def _writer_pid(fd: int) -> int:
    raw = os.pread(fd, 8, layout.PID_WORD * 8)
    return int.from_bytes(raw, "little") if len(raw) == 8 else 0


def _compatible(fd: int, size: int, geometry: Geometry, path: Path) -> bool:
    if size < layout.HEADER_SIZE:
        return False
    try:
        found = read_geometry(os.pread(fd, layout.GEOMETRY.size, 0), size, path)
    except SegmentFormatError:
        return False
    return found == geometry and size == geometry.size


def _create(path: Path, geometry: Geometry, mode: int, *, replace: bool) -> Segment | None:
    """A new, initialised, locked segment put in place at ``path``; None if one appeared."""
    temporary = path.with_name(f".{path.name}.{os.getpid()}.{secrets.token_hex(4)}.tmp")
    fd = os.open(temporary, os.O_RDWR | os.O_CREAT | os.O_EXCL | os.O_CLOEXEC, mode)
    try:
        os.fchmod(fd, mode)  # the umask must not keep a reader of another user out
        os.ftruncate(fd, geometry.size)
        fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
        header = layout.GEOMETRY.pack(
            layout.MAGIC,
            layout.LAYOUT_VERSION,
            layout.SLOT_SIZE,
            geometry.capacity,
            geometry.max_instruments,
            layout.ENTRY_SIZE,
            geometry.slots_at,
            geometry.size,
        )
        os.pwrite(fd, header, 0)
        if replace:
            os.replace(temporary, path)
        else:
            try:
                os.link(temporary, path)
            except FileExistsError:
                return None
        segment = Segment(path, fd, geometry, writable=True)
        fd = -1
        return segment
    finally:
        if fd >= 0:
            os.close(fd)
        temporary.unlink(missing_ok=True)
