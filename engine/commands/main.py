"""The headless half of `cnn-workbench`: summary, data, train and predict.

``workbench.cli.main`` is the installed entry point: it opens the window when no subcommand is
given and hands everything else to :func:`main` here, so the engine never imports the GUI.
Bad input prints one clear line on stderr and exits non-zero, never a traceback.
"""

from __future__ import annotations

import argparse
import importlib
import sys

# Subcommand modules in engine/commands/, in the order --help lists them.
COMMANDS = (
    "summary", "data", "train", "predict", "compare", "export", "import_model", "baseline",
)  # fmt: skip
#: The subcommands as they are typed, in that order (``import_model`` registers ``import``).
NAMES = tuple("import" if name == "import_model" else name for name in COMMANDS)


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="cnn-workbench",
        description="Design, train and inspect convolutional neural networks. "
        "With no subcommand, opens the workbench window.",
        epilog="window: cnn-workbench [SPEC_OR_PROJECT] [--screenshot PATH] "
        "[--theme light|dark|system]",
    )
    sub = parser.add_subparsers(dest="command", metavar="COMMAND")
    for name in COMMANDS:
        try:
            module = importlib.import_module(f"engine.commands.{name}")
        except ModuleNotFoundError as e:
            if e.name != f"engine.commands.{name}":
                raise
            continue
        module.register(sub)
    return parser


def main(argv: list[str] | None = None) -> int:
    """Run one subcommand (``argv`` without the program name); returns the exit code."""
    argv = sys.argv[1:] if argv is None else list(argv)
    parser = build_parser()
    args = parser.parse_args(argv)
    if not getattr(args, "func", None):
        parser.print_help()
        return 2
    from engine.spec import SpecError

    _printable_output()
    try:
        return int(args.func(args) or 0)
    except SpecError as e:
        for line in e.problems:
            print(f"cnn-workbench {args.command}: {line}", file=sys.stderr)
        return 1
    except KeyboardInterrupt:
        print(f"cnn-workbench {args.command}: interrupted", file=sys.stderr)
        return 130
    except BrokenPipeError:
        # Output piped into `head` and the reader went away: not an error worth a traceback.
        # Point stdout at devnull so the interpreter's final flush does not raise again.
        import os

        os.dup2(os.open(os.devnull, os.O_WRONLY), sys.stdout.fileno())
        return 0


def _printable_output() -> None:
    """File names are printed as they are: on an ASCII or Latin-1 terminal (LANG=C, a
    redirected Windows console) a name it cannot encode is printed with backslash escapes
    instead of ending the command in UnicodeEncodeError."""
    for stream in (sys.stdout, sys.stderr):
        if getattr(stream, "errors", "") == "strict" and hasattr(stream, "reconfigure"):
            stream.reconfigure(errors="backslashreplace")


if __name__ == "__main__":
    sys.exit(main())
