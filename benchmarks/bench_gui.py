"""Responsiveness of the window while a network trains, and what the GUI costs the training.

    QT_QPA_PLATFORM=offscreen .venv/bin/python benchmarks/bench_gui.py
        [--spec mnist-2conv] [--data resources/sample] [--epochs 2] [--batch-size 64] [--json]

In one process and one run:

1. headless: ``engine.training.fit`` as the CLI runs it (checkpoints, no probe, no snapshots);
2. GUI: the main window with every view open (Train page: curves and feature maps; the
   filters, confusion matrix and predict views in a second window beside it, all fed) trains
   the same spec on the same data with the same settings, while a 10 ms ``QTimer`` measures
   the event loop: a tick's lateness is how much later than 10 ms after the previous one it
   fired, so a stall of the GUI thread shows as a late tick;
3. headless again; the two headless runs are averaged, so a neighbour's load drifting over
   the run biases neither side.

Throughput is training images per second of the engine's own clock (``EpochEnd.elapsed_s``
of the last epoch: batches, validation and checkpoints, pauses excluded), measured in the
training thread in both cases. Targets: max stall <= 50 ms, GUI/headless >= 0.90. Exit status
1 when a target is missed.
"""

from __future__ import annotations

import argparse
import json
import os
import sys
import tempfile
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))
os.environ.setdefault("QT_QPA_PLATFORM", "offscreen")

import engine  # noqa: E402, I001  (sets the thread pools before numpy loads)
import numpy as np  # noqa: E402
from PySide6.QtCore import QElapsedTimer, QEventLoop, Qt, QTimer  # noqa: E402
from PySide6.QtWidgets import QApplication, QGridLayout, QWidget  # noqa: E402

from engine.data import Preprocessing, load_dataset  # noqa: E402
from engine.network import warm_up  # noqa: E402
from engine.training import EpochEnd, TrainConfig, fit  # noqa: E402

MAX_STALL_MS = 50.0
MIN_RATIO = 0.90


def headless(spec, data_path: str, cfg: TrainConfig, pre: Preprocessing) -> float:
    """Training images/s of one fit() run without Qt, as the CLI runs it."""
    ds = load_dataset(data_path, pre, val_fraction=cfg.val_split, seed=cfg.seed)
    with tempfile.TemporaryDirectory() as out:
        last = None
        for event in fit(spec, ds, cfg, out_dir=out, snapshot_interval_s=None):
            if isinstance(event, EpochEnd):
                last = event
    return len(ds.splits["train"]) * cfg.epochs / last.elapsed_s


def with_gui(spec_name: str, data_path: str, cfg: TrainConfig) -> dict:
    """Train in the window with every view open; the event loop's lateness and throughput."""
    from workbench.app import create_main_window
    from workbench.training_ui import install_training

    app = QApplication.instance()
    window = create_main_window(spec_name, autosave=False)
    controller = install_training(window)
    controller.update_hidden_views = True
    controller.runs_root = Path(tempfile.mkdtemp(prefix="bench-gui-runs-"))
    panel = controller.training_panel
    panel.set_config(cfg)
    with_views = QWidget()  # the Inspect views, opened beside the main window
    with_views.setWindowTitle("Inspect views")
    grid = QGridLayout(with_views)
    for i, view in enumerate((controller.filters, controller.confusion, controller.predict)):
        grid.addWidget(view, i // 2, i % 2)
    window.resize(1400, 900)
    window.show()
    with_views.resize(1200, 800)
    with_views.show()
    window.pages.setCurrentIndex(controller.train_index)
    controller.dataset_panel.set_source(data_path)
    controller.dataset_panel.wait()
    controller.estimator.wait()
    app.processEvents()

    lateness: list[float] = []
    clock = QElapsedTimer()
    tick = QTimer()
    tick.setTimerType(Qt.TimerType.PreciseTimer)
    tick.setInterval(10)
    last = [0]

    def on_tick() -> None:
        now = clock.nsecsElapsed()
        lateness.append(max(0.0, (now - last[0]) / 1e6 - 10.0))
        last[0] = now

    tick.timeout.connect(on_tick)
    epochs: list[EpochEnd] = []
    controller.runner.epochEnded.connect(epochs.append)
    clock.start()
    last[0] = clock.nsecsElapsed()
    tick.start()
    lateness.clear()
    loop = QEventLoop()
    controller.runner.stateChanged.connect(lambda state: loop.quit() if state == "idle" else None)
    if not controller.start_training():
        raise SystemExit(f"bench_gui: could not start: {panel.blocker_label.text()}")
    loop.exec()
    tick.stop()
    num_train = len(controller.dataset_panel.loaded.dataset.splits["train"])
    result = {
        "ticks": len(lateness),
        "max_stall_ms": float(np.max(lateness)),
        "p99_stall_ms": float(np.percentile(lateness, 99)),
        "images_per_s": num_train * cfg.epochs / epochs[-1].elapsed_s,
        "status": window.document.runs[-1]["status"],
    }
    controller.shutdown()
    window.document.undo_stack.setClean()
    with_views.close()
    window.close()
    return result


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--spec", default="mnist-2conv")
    parser.add_argument("--data", default=str(ROOT / "resources" / "sample"))
    parser.add_argument("--epochs", type=int, default=2)
    parser.add_argument("--batch-size", type=int, default=64)
    parser.add_argument("--json", action="store_true", help="one JSON object instead of lines")
    args = parser.parse_args(argv)

    from workbench.app import application

    application()
    spec = engine.load_spec(args.spec)
    cfg = TrainConfig(epochs=args.epochs, batch_size=args.batch_size, val_split=0.1, seed=0)
    c, h, w = spec.input.shape
    pre = Preprocessing(c, h, w, resize="stretch", center="channel", standardize=True)
    warm_up()
    first = headless(spec, args.data, cfg, pre)
    gui = with_gui(args.spec, args.data, cfg)
    second = headless(spec, args.data, cfg, pre)
    base = (first + second) / 2
    report = {
        "spec": args.spec,
        "epochs": args.epochs,
        "batch_size": args.batch_size,
        "headless_images_per_s": [round(first, 1), round(second, 1)],
        "gui_images_per_s": round(gui["images_per_s"], 1),
        "throughput_ratio": round(gui["images_per_s"] / base, 3),
        "max_stall_ms": round(gui["max_stall_ms"], 1),
        "p99_stall_ms": round(gui["p99_stall_ms"], 1),
        "timer_ticks": gui["ticks"],
        "gui_run": gui["status"],
    }
    ok = report["max_stall_ms"] <= MAX_STALL_MS and report["throughput_ratio"] >= MIN_RATIO
    if args.json:
        print(json.dumps({**report, "ok": ok}))
    else:
        print(f"{args.spec}, {args.epochs} epochs at batch {args.batch_size} on {args.data}")
        print(f"headless fit(): {first:,.0f} and {second:,.0f} images/s")
        print(f"GUI, every view open: {gui['images_per_s']:,.0f} images/s")
        print(f"throughput GUI / headless: {report['throughput_ratio']:.3f} "
              f"(target >= {MIN_RATIO})")  # fmt: skip
        print(f"event-loop stall (10 ms timer lateness over {gui['ticks']} ticks): "
              f"max {report['max_stall_ms']:.1f} ms, p99 {report['p99_stall_ms']:.1f} ms "
              f"(target max <= {MAX_STALL_MS:.0f} ms)")  # fmt: skip
        print("targets met" if ok else "TARGET MISSED")
    return 0 if ok else 1


if __name__ == "__main__":
    sys.exit(main())
