"""Checking single values of a spec against their FieldInfo, with messages that quote the
path and the offending value as the user wrote it (``layers[3].kernel: must be a positive
integer, got 0``). Used by engine.spec; every function appends to an error list rather than
raising, so that one pass reports every problem.
"""

from __future__ import annotations

import difflib
import json
from collections.abc import Iterable
from typing import Any

from engine.fields import FieldInfo

#: Longest quote of a bad value in a message: enough to recognise it, never the 50 MB string.
SHOW_LIMIT = 80


def show(value: Any, limit: int = SHOW_LIMIT) -> str:
    """A value as the user wrote it in JSON (true, not True; "same", not 'same'), shortened
    past ``limit`` characters to its start and its length, so one bad value of any size
    gives one readable line."""
    if isinstance(value, str) and len(value) > limit:
        value = value[: limit + 1]  # never serialise a huge string just to cut it
    elif isinstance(value, list | tuple | dict) and len(value) > limit:
        value = (
            list(value)[: limit + 1]
            if not isinstance(value, dict)
            else dict(list(value.items())[: limit + 1])
        )
    try:
        text = json.dumps(value)
    except (TypeError, ValueError, RecursionError):
        text = repr(value)
    if len(text) <= limit:
        return text
    return f"{text[: limit - 20]}... (shortened)"


def check_text(path: str, v: str, errors: list[str]) -> bool:
    """A string must be storable as UTF-8: JSON's "\\ud800" escape reads as an unpaired
    surrogate, which every later write (the spec, an ONNX file, a PyTorch project) would
    fail on. Appends a problem and returns False when it is not."""
    try:
        v.encode("utf-8")
    except UnicodeEncodeError as e:
        code = f"\\u{ord(v[e.start]):04x}"
        errors.append(f"{path}: holds an unpaired surrogate ({code} at character {e.start}), "
                      "which no UTF-8 file can store; remove it")  # fmt: skip
        return False
    return True


def is_int(v: Any) -> bool:
    return isinstance(v, int) and not isinstance(v, bool)


def is_number(v: Any) -> bool:
    return isinstance(v, int | float) and not isinstance(v, bool) and v == v  # NaN != NaN


def check_int(path: str, v: Any, info: FieldInfo, errors: list[str]) -> int | None:
    lo = int(info.minimum if info.minimum is not None else 0)
    what = "a positive integer" if lo >= 1 else "a non-negative integer"
    if not is_int(v):
        errors.append(f"{path}: must be {what}, got {show(v)}")
        return None
    if v < lo:
        errors.append(f"{path}: must be {what}, got {v}")
        return None
    if info.maximum is not None and v > info.maximum:
        errors.append(f"{path}: must be at most {int(info.maximum)}, got {v}")
        return None
    return v


def check_pair(path: str, v: Any, info: FieldInfo, errors: list[str]) -> tuple[int, int] | None:
    if isinstance(v, list | tuple):
        if len(v) != 2:
            errors.append(f"{path}: must be an integer or a [height, width] pair, got {show(v)}")
            return None
        n = len(errors)
        h = check_int(f"{path}[0]", v[0], info, errors)
        w = check_int(f"{path}[1]", v[1], info, errors)
        return None if len(errors) > n else (h, w)
    if is_int(v):
        x = check_int(path, v, info, errors)
        return None if x is None else (x, x)
    errors.append(f"{path}: must be an integer or a [height, width] pair, got {show(v)}")
    return None


def check_value(path: str, v: Any, info: FieldInfo, errors: list[str]) -> Any:
    kind = info.kind
    if kind == "int":
        return check_int(path, v, info, errors)
    if kind == "pair":
        return check_pair(path, v, info, errors)
    if kind == "optional_pair":
        return None if v is None else check_pair(path, v, info, errors)
    if kind == "padding":
        if isinstance(v, str):
            if v in info.choices:
                return v
            errors.append(
                f"{path}: must be an integer, a [height, width] pair, "
                f'"same" or "valid", got {show(v)}'
            )
            return None
        return check_pair(path, v, info, errors)
    if kind == "bool":
        if isinstance(v, bool):
            return v
        errors.append(f"{path}: must be true or false, got {show(v)}")
        return None
    if kind == "choice":
        if isinstance(v, str) and v in info.choices:
            return v
        options = ", ".join(f'"{c}"' for c in info.choices)
        errors.append(f"{path}: must be one of {options}, got {show(v)}")
        return None
    if kind == "float":
        if not is_number(v):
            errors.append(f"{path}: must be a number, got {show(v)}")
            return None
        lo, hi = info.minimum, info.maximum
        too_high = hi is not None and (v >= hi if info.exclusive_max else v > hi)
        if (lo is not None and v < lo) or too_high:
            upper = f"below {hi:g}" if info.exclusive_max else f"at most {hi:g}"
            errors.append(f"{path}: must be at least {lo:g} and {upper}, got {show(v)}")
            return None
        return float(v)
    raise AssertionError(f"unknown field kind {kind!r}")  # a bug in engine.fields


def unknown_key(path: str, key: str, known: Iterable[str]) -> str:
    known = list(known)
    if len(key) > SHOW_LIMIT:  # a 50 MB key is quoted by its start, not compared whole
        return f"{path}.{key[: SHOW_LIMIT - 20]}... (shortened): unknown field"
    near = difflib.get_close_matches(key, known, n=1)
    hint = f"; did you mean {near[0]!r}?" if near else ""
    listing = ", ".join(known) if known else "no fields"
    return f"{path}.{key}: unknown field (allowed: {listing}){hint}"
