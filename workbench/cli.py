"""`cnn-workbench`, the installed command: the window with no subcommand, the engine's
headless subcommands (summary, data, train, predict, ...) otherwise.

It lives above both packages (the GUI imports the engine, never the reverse), and imports Qt
only when the window is wanted, so the headless subcommands start without it.
"""

from __future__ import annotations

import sys

from engine.commands.main import NAMES
from engine.commands.main import main as run_command


def main(argv: list[str] | None = None) -> int:
    argv = sys.argv[1:] if argv is None else list(argv)
    if not argv or (argv[0] not in NAMES and argv[0] not in ("-h", "--help")):
        # No subcommand: the GUI (its own options: --screenshot PATH [SPEC], a spec/project).
        from workbench.app import main as gui_main

        return gui_main(argv)
    return run_command(argv)


if __name__ == "__main__":
    sys.exit(main())
