"""The one exception the dataset layer raises for bad data, and why a single file is skipped.

``DatasetError`` stops a load: its message is one line that names the file or folder and says
what would fix it, so the CLI prints it as is. ``UnusableImage`` never leaves the package: the
readers catch it, record ``(path, reason)`` in the health report and go on with the rest.
"""

from __future__ import annotations

__all__ = ["DatasetError", "UnusableImage"]


class DatasetError(ValueError):
    """A dataset that cannot be used at all: missing, empty, one class, nothing readable, or a
    file that is malformed (IDX header, CIFAR pickle). The message is one line."""


class UnusableImage(Exception):
    """One image file that cannot be used; ``reason`` is short and human ("zero bytes")."""

    def __init__(self, reason: str) -> None:
        super().__init__(reason)
        self.reason = reason
