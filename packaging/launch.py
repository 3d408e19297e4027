"""Entry point for frozen builds (PyInstaller): the same as the `cnn-workbench` script."""

import sys

from workbench.cli import main

if __name__ == "__main__":
    sys.exit(main())
