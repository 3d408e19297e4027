"""Text from a spec file (a network's name, description, layer ids: anything a file holds)
made safe to write into generated Python source, where a newline in a comment or a \"\"\" in
a docstring would turn the rest of the text into code that runs when the file is imported
(the PyTorch project's model.py is even executed here, to check it)."""

from __future__ import annotations

__all__ = ["inert"]


def inert(text: str, docstring: bool = False) -> str:
    """``text`` (a name or id from a spec file, so anything) as it may stand in a comment or
    a docstring of generated source without ending it: characters that are not printable (a
    newline would end the comment, and what follows would run as code) written as their
    escapes, and in a docstring backslashes and double quotes escaped (a \"\"\" would end it)."""
    out = []
    for ch in str(text):
        if docstring and ch in '\\"':
            out.append("\\" + ch)
        elif ch.isprintable():
            out.append(ch)
        else:
            out.append(ch.encode("unicode_escape", "backslashreplace").decode("ascii"))
    return "".join(out)
