"""CNN Workbench's window: all Qt. Adapters and views over the engine, no numerics of its own.

from workbench.app import create_main_window
window = create_main_window("alexnet")   # a MainWindow, not yet shown
"""
