"""The one JSON reader for every file CNN Workbench reads: specs, projects, autosaves,
checkpoint manifests, cache metadata.

Python's ``json`` accepts input that hurts us: 100,000 nested brackets raise ``RecursionError``
(a traceback, or an abort at every start when it is an autosave); an integer of 5,000 digits
raises ``ValueError`` (CPython's int-digits guard); a repeated key silently keeps the last
value (``"kernel": 3, "kernel": 5``); a file of any size is read whole. Here each of those is
refused with one line naming the file and what is wrong, before anything is built from it.
"""

from __future__ import annotations

import json
import os
import re
from typing import Any

from engine.io import UnsafeFile, read_regular_bytes, size_text

__all__ = [
    "MAX_BYTES",
    "MAX_DEPTH",
    "MAX_INT_DIGITS",
    "JSONInputError",
    "load_json_file",
    "loads",
]

#: Largest JSON file read. A big spec is a few kB and a long run's manifest well under 1 MB.
MAX_BYTES = 32 * 1024 * 1024
#: Deepest nesting of objects/lists accepted; our files nest a handful of levels.
MAX_DEPTH = 100
#: Longest integer literal accepted: 2**64 has 20 digits; nothing we store needs more.
MAX_INT_DIGITS = 40

# One left-to-right pass over the text, every position in exactly one token: a run of plain
# characters, a whole string literal (possessive, so it never backtracks), a bracket, or a
# lone quote (an unterminated string: nothing after it is outside a string). Matching each
# token where the previous ended keeps the scan linear; a search for strings anywhere would
# restart inside '"\\"\\"\\"...' at every quote and take quadratic time.
_TOKEN = re.compile(r'[^"\[\]{}]++|"[^"\\]*+(?:\\.[^"\\]*+)*+"|[\[\]{}]|"', re.DOTALL)


class JSONInputError(ValueError):
    """JSON that must not be used. The message is one line naming the file (when known) and
    the problem; callers wrap it in their own error type (SpecError, CheckpointError).
    ``reason`` is the problem alone; ``syntax`` is True when the text is not JSON at all
    (as opposed to a file that cannot be read, or JSON refused by a limit)."""

    def __init__(self, prefix: str, reason: str, *, syntax: bool = False) -> None:
        super().__init__(f"{prefix}{reason}")
        self.reason, self.syntax = reason, syntax


class _Refused(Exception):
    """Raised inside the parser's hooks; turned into JSONInputError with the file's name."""


def _depth(text: str) -> int:
    """The deepest nesting of [ and { in ``text``, outside string literals; stops counting
    (returns early) once past MAX_DEPTH, so a 100,000-level file costs little."""
    depth = deepest = 0
    for m in _TOKEN.finditer(text):
        c = text[m.start()]
        if c == '"':
            if m.end() - m.start() == 1:
                break  # unterminated string: the parser will say so
        elif c in "[{":
            depth += 1
            if depth > deepest:
                deepest = depth
                if deepest > MAX_DEPTH:
                    return deepest
        elif c in "]}":
            depth -= 1
    return deepest


def _pairs(pairs: list[tuple[str, Any]]) -> dict[str, Any]:
    out: dict[str, Any] = {}
    for key, value in pairs:
        if key in out:
            shown = key if len(key) <= 60 else key[:57] + "..."
            raise _Refused(
                f'duplicate key "{shown}" in one object (JSON would silently keep the last '
                "value); keep only one"
            )
        out[key] = value
    return out


def _int(literal: str) -> int:
    digits = len(literal.lstrip("-"))
    if digits > MAX_INT_DIGITS:
        raise _Refused(
            f"an integer of {digits} digits ({literal[:12]}...); numbers in these files have "
            f"at most {MAX_INT_DIGITS} digits"
        )
    return int(literal)


def loads(text: str | bytes, source: str = "", *, limit: int = MAX_BYTES) -> Any:
    """Parse ``text`` (str, or UTF-8 bytes) as JSON with the limits above.

    Raises ``JSONInputError`` whose message starts with ``source:`` (when given): not UTF-8,
    not valid JSON (with line and column), nested deeper than MAX_DEPTH, a duplicate key,
    an integer longer than MAX_INT_DIGITS, or more than ``limit`` bytes."""
    prefix = f"{source}: " if source else ""
    if len(text) > limit:
        raise JSONInputError(
            prefix,
            f"{size_text(len(text))} of JSON, more than the {size_text(limit)} "
            "a CNN Workbench file may be",
        )
    if isinstance(text, bytes | bytearray):
        try:
            text = bytes(text).decode("utf-8")
        except UnicodeDecodeError as e:
            raise JSONInputError(
                prefix, f"not UTF-8 text (byte {e.start}); save the file as UTF-8"
            ) from None
    depth = _depth(text)
    if depth > MAX_DEPTH:
        raise JSONInputError(
            prefix,
            f"nested more than {MAX_DEPTH} levels deep; this is not a CNN Workbench "
            "file (a real one nests a few levels)",
        )
    try:
        return json.loads(text, object_pairs_hook=_pairs, parse_int=_int)
    except _Refused as e:
        raise JSONInputError(prefix, str(e)) from None
    except json.JSONDecodeError as e:
        raise JSONInputError(
            prefix, f"not valid JSON: line {e.lineno} column {e.colno}: {e.msg}", syntax=True
        ) from None
    except (RecursionError, ValueError) as e:  # a guard we did not foresee: still one line
        raise JSONInputError(prefix, f"cannot be parsed as JSON ({type(e).__name__})") from None


def load_json_file(path: str | os.PathLike[str], *, limit: int = MAX_BYTES) -> Any:
    """Read and parse the JSON file ``path`` (regular files only, at most ``limit`` bytes).

    Raises ``JSONInputError`` naming the file for every failure: missing, a folder, a FIFO
    or device, a symlink loop, unreadable, too large, or refused by ``loads``."""
    try:
        data = read_regular_bytes(path, limit)
    except FileNotFoundError:
        raise JSONInputError(f"{path}: ", "no such file") from None
    except IsADirectoryError:
        raise JSONInputError(f"{path}: ", "is a folder, not a file") from None
    except UnsafeFile as e:
        raise JSONInputError(f"{path}: ", e.reason) from None
    except OSError as e:
        raise JSONInputError(f"{path}: ", f"cannot be read ({e.strerror or e})") from None
    return loads(data, source=str(path), limit=limit)
