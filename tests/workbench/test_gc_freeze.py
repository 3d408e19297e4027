"""The startup heap is frozen out of the GUI thread's periodic collections."""

from __future__ import annotations

import gc

from workbench import gc_guard


def test_freeze_startup_moves_live_objects_out_of_collection():
    keep = [object() for _ in range(1000)]  # long-lived objects made before the freeze
    try:
        gc_guard.freeze_startup()
        assert gc.get_freeze_count() >= len(keep)
        assert gc.get_count()[0] < 100  # collected first: nothing young left over
    finally:
        gc.unfreeze()
