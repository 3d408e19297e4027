"""QObject workers that run engine generators in QThreads and re-emit their events as signals.

A worker is handed a frozen job, never a widget; everything it learns leaves it through a
queued signal carrying an immutable event or a copy of an array.
"""
