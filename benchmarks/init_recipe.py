"""Issue 9's initialisation check: mnist-2conv on Fashion-MNIST, Adam 1e-3, batch 64, 3 epochs,
test accuracy per seed and the mean, with the engine's default initialiser and with PyTorch's
default (kaiming_uniform_(a=sqrt(5)): weights and biases U(-1/sqrt(fan_in), 1/sqrt(fan_in)))
patched in over it. Data: `apt-get install dataset-fashion-mnist`.

    python benchmarks/init_recipe.py [--data /usr/share/datasets/fashion-mnist] [--seeds 0 1 2]

Each run is a `cnn-workbench train ... --json` in a subprocess (about 2 minutes on 2 cores).
"""

from __future__ import annotations

import argparse
import json
import math
import subprocess
import sys
import tempfile

PATCH = """
import math, sys
import numpy as np
import engine, engine.network as net_mod
from engine.commands.main import main

orig_build = net_mod.build

def build(spec, seed=0, *a, **k):
    net = orig_build(spec, seed, *a, **k)
    rng = np.random.default_rng(10_000 + int(seed))
    for layer in net.layers:
        p = getattr(layer, "params", {})
        if "weight" in p and hasattr(layer, "fan_in"):
            b = 1.0 / math.sqrt(layer.fan_in)
            p["weight"][...] = rng.uniform(-b, b, size=p["weight"].shape)
            if "bias" in p:
                p["bias"][...] = rng.uniform(-b, b, size=p["bias"].shape)
    return net

net_mod.build = engine.build = build
sys.exit(main(sys.argv[1:]))
"""
DEFAULT = "import sys\nfrom engine.commands.main import main\nsys.exit(main(sys.argv[1:]))\n"


def run(code: str, data: str, seed: int) -> float:
    out = tempfile.mkdtemp(prefix="init-recipe-")
    args = [
        "train",
        "mnist-2conv",
        "--data",
        data,
        "--epochs",
        "3",
        "--optimizer",
        "adam",
        "--lr",
        "0.001",
        "--batch-size",
        "64",
        "--seed",
        str(seed),
        "--out",
        out,
        "--json",
    ]
    done = subprocess.run([sys.executable, "-c", code, *args], capture_output=True, text=True,
                          check=True)  # fmt: skip
    return json.loads(done.stdout.strip().splitlines()[-1])["test_accuracy"]


def main() -> None:
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--data", default="/usr/share/datasets/fashion-mnist")
    p.add_argument("--seeds", type=int, nargs="+", default=[0, 1, 2])
    args = p.parse_args()
    for name, code in (("engine default", DEFAULT), ("PyTorch default init", PATCH)):
        accs = [run(code, args.data, s) for s in args.seeds]
        mean = math.fsum(accs) / len(accs)
        print(f"{name:22s} test accuracy {' '.join(f'{a:.4f}' for a in accs)}  mean {mean:.4f}")


if __name__ == "__main__":
    main()
