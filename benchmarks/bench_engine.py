"""Throughput of the engine against PyTorch (CPU) on the same networks, shapes and weights.

    .venv/bin/pip install torch==2.13.0      # once; the benchmark's only extra dependency
    .venv/bin/python benchmarks/bench_engine.py [--presets lenet5 mnist-2conv] [--rounds 5]

For each preset it measures, in one run and on one machine:

- a training step: batch 64, forward + mean cross-entropy + backward + SGD (momentum 0.9)
  update, float32, training mode (dropout on);
- inference: batch 256, evaluation mode, logits only.

Both libraries use the same thread count (engine.config.THREADS; torch.set_num_threads) and
the same initial weights (our state_dict loaded into an nn.Sequential). Timings alternate
between the two libraries in rounds, and each figure is the median over rounds of the mean
time per iteration, so a noisy neighbour on a shared machine hits both alike. Prints
images/s and the ratio engine / PyTorch (above 1 means the engine is faster), with targets.

PyTorch runs in a process of its own, as its users run it (``--torch-process own``, the
default): importing the engine tunes glibc's allocator for the whole process
(engine/config.py), which speeds PyTorch up too (resnet20 inference 1.7x), so beside the
engine it would not be PyTorch as shipped. ``--torch-process shared`` times it in this
process, tuned, the stricter comparison; both are worth reading.
"""

from __future__ import annotations

import argparse
import json
import os
import statistics
import subprocess
import sys
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

# engine first: it sets the thread pools before numpy and torch load their BLAS.
import engine

# isort: split
import numpy as np

from engine.network import warm_up
from engine.optim import SGD

try:
    import torch
    from torch import nn

    from engine.interop.torch_module import torch_module
except ImportError:  # pragma: no cover - a message, not a failure mode worth testing
    sys.exit("PyTorch is needed for the comparison: .venv/bin/pip install torch==2.13.0")

FIRST_STEP_TARGET = 0.5  # seconds, with a warm on-disk compile cache
TRAIN_BATCH = 64
INFER_BATCH = 256
TARGETS = {  # engine images/s over PyTorch images/s, at least
    ("lenet5", "train"): 1.5,
    ("mnist-2conv", "train"): 1.2,
    ("lenet5", "infer"): 1.3,
    ("mnist-2conv", "infer"): 1.3,
    ("resnet20", "train"): 1.2,
    ("resnet20", "infer"): 1.3,
    ("bn-cifar", "train"): 1.2,
    ("bn-cifar", "infer"): 1.3,
}
#: A batch-norm network at 3×32×32 (not a preset): four 3×3 convs with batch norm, max
#: pools, dense 256, dropout.
BN_CIFAR = {
    "format": "cnn-workbench/network",
    "version": 1,
    "name": "bn-cifar",
    "input": {"channels": 3, "height": 32, "width": 32},
    "layers": [
        *[
            layer
            for filters, pool in ((32, False), (32, True), (64, False), (64, True))
            for layer in (
                {"type": "conv2d", "filters": filters, "kernel": 3, "padding": 1, "bias": False},
                {"type": "batch_norm"},
                {"type": "relu"},
                *([{"type": "max_pool2d", "size": 2}] if pool else []),
            )
        ],
        {"type": "flatten"},
        {"type": "dense", "units": 256},
        {"type": "relu"},
        {"type": "dropout", "rate": 0.5},
        {"type": "dense", "units": 10},
    ],
}
EXTRA = {"bn-cifar": BN_CIFAR}


def _time(fn, iterations: int, clock=time.perf_counter) -> float:
    start = clock()
    for _ in range(iterations):
        fn()
    return (clock() - start) / iterations


def bench_preset(name: str, rounds: int, seconds: float) -> list[tuple[str, str, float, float]]:
    """(name, task, engine images/s, PyTorch images/s) for "train" and "infer" of a preset
    (or of a network in EXTRA)."""
    return [(name, *row) for row in compare(EXTRA.get(name, name), rounds, seconds)]


#: Where PyTorch runs: "own", a process of its own with glibc's default allocator, as a
#: PyTorch user runs it; or "shared", this process, where the engine's allocator tuning
#: (``mallopt`` at import, engine/config.py) speeds PyTorch up as well (its resnet20
#: inference 1.7x: 272 -> 154 ms a batch of 256; training barely changes). ``--torch-process``.
TORCH_PROCESS = "own"


def _workload(spec):
    """The same inputs for both libraries: (x_train, y_train, x_infer) from seed 0."""
    rng = np.random.default_rng(0)
    classes = engine.build(spec, seed=0).num_classes
    x_train = rng.standard_normal((TRAIN_BATCH, *spec.input.shape)).astype(np.float32)
    y_train = rng.integers(0, classes, TRAIN_BATCH)
    x_infer = rng.standard_normal((INFER_BATCH, *spec.input.shape)).astype(np.float32)
    return x_train, y_train, x_infer


def torch_tasks(spec) -> dict:
    """PyTorch's "train" and "infer" calls for ``spec``, with the engine's seed-0 weights."""
    x_train, y_train, x_infer = _workload(spec)
    model = torch_module(engine.build(spec, seed=0))
    topt = torch.optim.SGD(model.parameters(), lr=0.01, momentum=0.9)
    tx_train, ty_train = torch.from_numpy(x_train), torch.from_numpy(y_train)
    tx_infer = torch.from_numpy(x_infer)

    def torch_train():
        model.train()
        topt.zero_grad(set_to_none=True)
        loss = nn.functional.cross_entropy(model(tx_train), ty_train)
        loss.backward()
        topt.step()

    def torch_infer():
        model.eval()
        with torch.no_grad():
            model(tx_infer)

    return {"train": torch_train, "infer": torch_infer}


_TORCH_WORKER = """
import json, sys, time
sys.path.insert(0, {root!r})
sys.path.insert(0, {here!r})
import engine
import torch
import bench_engine
torch.set_num_threads(engine.config.THREADS)
tasks = bench_engine.torch_tasks(engine.load_spec(json.loads(sys.stdin.readline())))
clock = getattr(time, {clock!r})
print("ready", flush=True)
for line in sys.stdin:
    task, count = line.split()
    print(bench_engine._time(tasks[task], int(count), clock), flush=True)
"""


class _TorchProcess:
    """PyTorch's calls for one spec in a process of its own (glibc's default allocator:
    ``CNN_WORKBENCH_MALLOC=0``), timed there on the same clock; used like the dict of
    :func:`torch_tasks` through :meth:`time`."""

    def __init__(self, spec, clock):
        here = str(Path(__file__).resolve().parent)
        code = _TORCH_WORKER.format(root=str(Path(here).parent), here=here,
                                    clock=clock.__name__)  # fmt: skip
        env = {**os.environ, "CNN_WORKBENCH_MALLOC": "0"}
        self.proc = subprocess.Popen([sys.executable, "-c", code], stdin=subprocess.PIPE,
                                     stdout=subprocess.PIPE, text=True, env=env)  # fmt: skip
        self.proc.stdin.write(json.dumps(spec.to_dict()) + "\n")
        self.proc.stdin.flush()
        if self.proc.stdout.readline().strip() != "ready":
            raise RuntimeError("the PyTorch worker process did not start")

    def time(self, task: str, iterations: int) -> float:
        self.proc.stdin.write(f"{task} {iterations}\n")
        self.proc.stdin.flush()
        return float(self.proc.stdout.readline())

    def close(self) -> None:
        self.proc.stdin.close()
        self.proc.wait(timeout=60)


def compare(
    spec, rounds: int, seconds: float, clock=time.perf_counter
) -> list[tuple[str, float, float]]:
    """(task, engine images/s, PyTorch images/s) for "train" and "infer" of ``spec`` (a
    NetworkSpec, preset name, path or dict), timed in ``rounds`` alternating rounds within
    about ``seconds`` per task; each figure is the median over rounds. ``clock``:
    ``time.perf_counter`` (wall time) or ``time.process_time`` (CPU time of all threads,
    which a busy machine disturbs far less; images per CPU second then). PyTorch runs where
    :data:`TORCH_PROCESS` says."""
    spec = engine.load_spec(spec)
    x_train, y_train, x_infer = _workload(spec)
    net = engine.build(spec, seed=0)
    opt = SGD(lr=0.01, momentum=0.9)

    def ours_train():
        _, grads = net.loss_and_grads(x_train, y_train)
        opt.step(net.parameters(), grads)

    def ours_infer():
        net.forward(x_infer, train=False)

    if TORCH_PROCESS == "own":
        worker = _TorchProcess(spec, clock)
        theirs_time, close = worker.time, worker.close
    else:
        tasks = torch_tasks(spec)

        def theirs_time(task, iterations):
            return _time(tasks[task], iterations, clock)

        def close():
            pass

    results = []
    try:
        for task, ours, batch in (
            ("train", ours_train, TRAIN_BATCH),
            ("infer", ours_infer, INFER_BATCH),
        ):
            # Warm both (JIT, allocator, oneDNN primitive caches), then size the rounds.
            once = max(_time(ours, 2), theirs_time(task, 2))
            iterations = max(3, int(seconds / rounds / 2 / max(once, 1e-4)))
            ours_t, theirs_t = [], []
            for _ in range(rounds):
                ours_t.append(_time(ours, iterations, clock))
                theirs_t.append(theirs_time(task, iterations))
            ours_ips = batch / statistics.median(ours_t)
            theirs_ips = batch / statistics.median(theirs_t)
            results.append((task, ours_ips, theirs_ips))
    finally:
        close()
    return results


_FIRST_STEP = """
import sys, time
sys.path.insert(0, {root!r})
import engine
import numpy as np
from engine.optim import SGD
net = engine.build({name!r}, seed=0)
rng = np.random.default_rng(0)
x = rng.standard_normal(({batch}, *net.input_shape)).astype(np.float32)
y = rng.integers(0, net.num_classes, {batch})
opt = SGD(lr=0.01, momentum=0.9)
start = time.perf_counter()
_, grads = net.loss_and_grads(x, y)
opt.step(net.parameters(), grads)
print(time.perf_counter() - start)
"""


def first_step_seconds(name: str) -> float:
    """Seconds of the first training step in a fresh process (kernels load from the on-disk
    cache that this process's warm_up filled; nothing is compiled), without warm_up."""
    root = str(Path(__file__).resolve().parents[1])
    code = _FIRST_STEP.format(root=root, name=name, batch=TRAIN_BATCH)
    out = subprocess.run(
        [sys.executable, "-c", code], capture_output=True, text=True, check=True, timeout=300
    )
    return float(out.stdout.strip().splitlines()[-1])


def add_torch_process_option(parser) -> None:
    parser.add_argument("--torch-process", choices=("own", "shared"), default="own",
                        help="PyTorch in a process of its own with glibc's default allocator "
                             "(as its users run it; default), or in this one, which the "
                             "engine's allocator tuning speeds up too")  # fmt: skip


def use_torch_process(where: str) -> None:
    """Set :data:`TORCH_PROCESS` and say so in the output."""
    global TORCH_PROCESS
    TORCH_PROCESS = where
    if where == "own":
        print("PyTorch runs in a process of its own (glibc's default allocator)")
    else:
        print("PyTorch runs in this process (its allocator tuned by the engine's import)")


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument(
        "--presets", nargs="+", default=["lenet5", "mnist-2conv", "resnet20", "bn-cifar"]
    )
    parser.add_argument("--rounds", type=int, default=5, help="alternating timing rounds")
    parser.add_argument("--seconds", type=float, default=6.0, help="budget per task and preset")
    add_torch_process_option(parser)
    args = parser.parse_args(argv)
    use_torch_process(args.torch_process)

    torch.set_num_threads(engine.config.THREADS)
    start = time.perf_counter()
    warm_up()
    print(f"warm_up: {time.perf_counter() - start:.2f} s")
    settings = engine.config.settings()
    print(
        f"threads: engine {settings['threads']} (numba layer "
        f"{settings.get('numba_threading_layer')}, BLAS {settings['env']['OPENBLAS_NUM_THREADS']}"
        f"), torch {torch.get_num_threads()}; torch {torch.__version__}, numpy {np.__version__}"
    )
    if settings["numpy_loaded_before_config"]:
        print("warning: numpy was imported before engine.config; thread settings came too late")
    load = " ".join(f"{v:.2f}" for v in os.getloadavg())
    print(f"load average (1, 5, 15 min): {load} on {os.cpu_count()} cores")
    print(f"{'network':<14}{'task':<8}{'engine img/s':>14}{'torch img/s':>14}{'ratio':>8}  target")
    ok = True
    for name in args.presets:
        for preset, task, ours, theirs in bench_preset(name, args.rounds, args.seconds):
            ratio = ours / theirs
            target = TARGETS.get((preset, task))
            verdict = (
                ""
                if target is None
                else f"≥ {target:.1f} " + ("met" if ratio >= target else "MISSED")
            )
            ok &= target is None or ratio >= target
            print(f"{preset:<14}{task:<8}{ours:>14.0f}{theirs:>14.0f}{ratio:>8.2f}  {verdict}")
    for name in [n for n in args.presets if n not in EXTRA]:
        seconds = first_step_seconds(name)
        met = seconds <= FIRST_STEP_TARGET
        ok &= met
        verdict = f"≤ {FIRST_STEP_TARGET} s " + ("met" if met else "MISSED")
        print(
            f"{name:<14}first training step, fresh process, warm cache: {seconds:.3f} s  {verdict}"
        )
    print(f"load average after: {' '.join(f'{v:.2f}' for v in os.getloadavg())}")
    return 0 if ok else 1


if __name__ == "__main__":
    sys.exit(main())
