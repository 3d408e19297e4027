"""Files, safely: atomic writes (a temporary file in the same folder, fsync, then rename) and
bounded reads of regular files only.

A crash or a full disk mid-write leaves the previous file intact, never half a file. A read
never blocks on a FIFO, never follows a path into a device, never takes more than its limit.
"""

from __future__ import annotations

import errno
import os
import stat
import tempfile
from pathlib import Path


def atomic_write_bytes(path: str | os.PathLike[str], data: bytes) -> None:
    """Replace ``path`` with ``data`` atomically (same-folder temp file + os.replace). An
    OSError names ``path`` (with the system's reason), never the temporary file the user
    did not ask for."""
    p = Path(path)
    try:
        _atomic_write(p, data)
    except OSError as e:
        if e.errno is None or e.filename == str(p):
            raise
        raise OSError(e.errno, e.strerror, str(p)) from e  # PermissionError etc. kept


def _atomic_write(p: Path, data: bytes) -> None:
    p.parent.mkdir(parents=True, exist_ok=True)
    fd, tmp = tempfile.mkstemp(prefix=f".{p.name}.", suffix=".tmp", dir=p.parent)
    try:
        # mkstemp makes the file 0600; a document gets the mode any new file would (the
        # user's umask), or keeps the one the file it replaces had.
        try:
            mode = stat.S_IMODE(os.stat(p).st_mode)
        except OSError:
            mode = 0o666 & ~_umask()
        os.fchmod(fd, mode)
        with os.fdopen(fd, "wb") as f:
            f.write(data)
            f.flush()
            os.fsync(f.fileno())
        os.replace(tmp, p)
    except BaseException:
        try:
            os.unlink(tmp)
        except FileNotFoundError:
            pass
        raise


def _umask() -> int:
    """The process's umask, read without changing it where /proc says it (Linux)."""
    try:
        with open("/proc/self/status", encoding="ascii") as f:
            for line in f:
                if line.startswith("Umask:"):
                    return int(line.split()[1], 8)
    except (OSError, ValueError):
        pass
    mask = os.umask(0o022)  # elsewhere: set and restore (a brief, harmless race)
    os.umask(mask)
    return mask


def atomic_write_text(path: str | os.PathLike[str], text: str) -> None:
    """Replace ``path`` with UTF-8 ``text`` atomically."""
    atomic_write_bytes(path, text.encode("utf-8"))


# --------------------------------------------------------------------------- reading

#: What any single file we read may weigh unless the caller says otherwise: far above a spec,
#: a project or a checkpoint manifest, far below what would exhaust memory.
DEFAULT_READ_LIMIT = 64 * 1024 * 1024


class UnsafeFile(OSError):
    """A path that is not a regular file we may read whole: a FIFO, a device, a socket, a
    folder, a symlink loop, or a file larger than the limit. ``reason`` is short and human
    ("a named pipe (FIFO), not a file"); ``str()`` is one line naming the path."""

    def __init__(self, path: str | os.PathLike[str], reason: str) -> None:
        super().__init__(f"{path}: {reason}")
        self.path, self.reason = Path(path), reason
        self.filename, self.strerror = str(path), reason


def _kind(mode: int) -> str:
    if stat.S_ISFIFO(mode):
        return "a named pipe (FIFO), not a file"
    if stat.S_ISCHR(mode) or stat.S_ISBLK(mode):
        return "a device, not a file"
    if stat.S_ISSOCK(mode):
        return "a socket, not a file"
    if stat.S_ISDIR(mode):
        return "a folder, not a file"
    return "not a regular file"


def size_text(n: float) -> str:
    """Bytes as a person reads them: 512 B, 3.1 MiB, 11.4 TiB."""
    for unit in ("B", "KiB", "MiB", "GiB", "TiB", "PiB"):
        if n < 1024 or unit == "PiB":
            return f"{n:.0f} {unit}" if unit == "B" else f"{n:.1f} {unit}"
        n /= 1024
    raise AssertionError("unreachable")


def regular_file_problem(path: str | os.PathLike[str], limit: int | None = None) -> str | None:
    """Why ``path`` must not be read (see ``UnsafeFile``), or None for a regular file within
    ``limit`` bytes. Follows symlinks (a link to a regular file is fine) without opening, so
    listing a folder never blocks on a FIFO."""
    try:
        st = os.stat(path)
    except OSError as e:
        if e.errno == errno.ELOOP:
            return "a symlink loop (the link points back at itself)"
        return f"cannot be read ({e.strerror or e})"
    if not stat.S_ISREG(st.st_mode):
        return _kind(st.st_mode)
    if limit is not None and st.st_size > limit:
        return f"{size_text(st.st_size)}, larger than the {size_text(limit)} this file may be"
    return None


def read_regular_bytes(path: str | os.PathLike[str], limit: int = DEFAULT_READ_LIMIT) -> bytes:
    """The bytes of regular file ``path``, at most ``limit`` of them.

    Every reader of a user's file goes through here, so a FIFO cannot block it, /dev/zero or
    a link to it cannot fill memory, and a symlink loop gets a reason. Opened non-blocking
    and checked with fstat on the open descriptor (no race between check and read).

    Raises ``FileNotFoundError``/``PermissionError``/``OSError`` as ``open`` does, and
    ``UnsafeFile`` for anything but a regular file of at most ``limit`` bytes."""
    try:
        fd = os.open(path, os.O_RDONLY | os.O_NONBLOCK | getattr(os, "O_CLOEXEC", 0))
    except OSError as e:
        if e.errno == errno.ELOOP:
            raise UnsafeFile(path, "a symlink loop (the link points back at itself)") from None
        if e.errno == errno.ENXIO:  # a socket, or a FIFO opened for writing only
            raise UnsafeFile(path, "not a regular file") from None
        raise
    with os.fdopen(fd, "rb", buffering=0) as f:
        st = os.fstat(fd)
        if not stat.S_ISREG(st.st_mode):
            raise UnsafeFile(path, _kind(st.st_mode))
        if st.st_size > limit:
            raise UnsafeFile(
                path, f"{size_text(st.st_size)}, larger than the {size_text(limit)} allowed"
            )
        # One read of the size fstat gave (read(n) allocates n bytes up front, so never ask
        # for the limit itself); a file that grows meanwhile is read on, up to limit + 1.
        parts = [f.read(st.st_size + 1)]
        total = len(parts[0])
        while total > st.st_size and total <= limit:
            chunk = f.read(min(1 << 24, limit + 1 - total))
            if not chunk:
                break
            parts.append(chunk)
            total += len(chunk)
        data = parts[0] if len(parts) == 1 else b"".join(parts)
    if len(data) > limit:
        raise UnsafeFile(path, f"larger than the {size_text(limit)} allowed (it grew)")
    return data
