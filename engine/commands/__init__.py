"""Subcommands of `cnn-workbench`. Each module has register(subparsers) and a run(args)."""
