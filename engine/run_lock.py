"""One writer per run folder: a lock file that names the process holding it.

Two ``train`` processes pointed at the same ``--out`` used to race: one crashed in the rename
of its checkpoint, or both exited 0 and the folder kept only one run. Whoever trains into a
folder takes ``DIR/.lock`` (an advisory ``flock``, released by the kernel when the process
dies, so a kill -9 never leaves a stale lock behind); a second process is refused with the PID
of the first. The file stays when released: unlinking it would let a third process lock a
fresh file while a second still waits on the old one.
"""

from __future__ import annotations

import errno
import os
from pathlib import Path

__all__ = ["LOCK_NAME", "RunFolderBusy", "RunLock"]

LOCK_NAME = ".lock"

try:
    import fcntl
except ImportError:  # not POSIX: no lock, as before
    fcntl = None


class RunFolderBusy(ValueError):
    """The run folder is locked by another live process. One line naming folder and PID."""


class RunLock:
    """``with RunLock(folder):`` holds the run folder's lock for the block.

    Creates ``folder`` when missing. Raises ``RunFolderBusy`` when another process holds
    it, and ``OSError`` (with ``filename``) when the folder cannot be created or written:
    ``--out`` names a file, or a folder the user may not write."""

    def __init__(self, folder: str | os.PathLike[str]) -> None:
        self.folder = Path(folder)
        self._fd: int | None = None

    def acquire(self) -> RunLock:
        self.folder.mkdir(parents=True, exist_ok=True)
        path = self.folder / LOCK_NAME
        fd = os.open(path, os.O_RDWR | os.O_CREAT | getattr(os, "O_CLOEXEC", 0), 0o644)
        if fcntl is not None:
            try:
                fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
            except OSError as e:
                holder = os.read(fd, 32).decode("ascii", "replace").strip() or "unknown"
                os.close(fd)
                if e.errno not in (errno.EWOULDBLOCK, errno.EAGAIN, errno.EACCES):
                    raise
                raise RunFolderBusy(
                    f"{self.folder}: another training (process {holder}) is writing to this "
                    "run folder; wait for it to finish or choose another --out"
                ) from None
        os.ftruncate(fd, 0)
        os.write(fd, f"{os.getpid()}\n".encode("ascii"))
        self._fd = fd
        return self

    def release(self) -> None:
        if self._fd is not None:
            os.close(self._fd)  # closing drops the flock
            self._fd = None

    def __enter__(self) -> RunLock:
        return self.acquire()

    def __exit__(self, *exc) -> None:
        self.release()
