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
# PyTorch end to end: the same data, preprocessing and split (the engine's readers), the
# same network (built from our spec), but PyTorch's own initialisation, shuffling and loop.
TORCH = """
import sys, json, numpy as np, torch
import engine
from engine.data import load_dataset
from engine.interop.torch_module import torch_module
from engine.training import default_preprocessing
from engine.spec import load_spec
data, seed = sys.argv[1], int(sys.argv[2])
torch.manual_seed(seed); torch.set_num_threads(engine.config.THREADS)
spec = load_spec("mnist-2conv")
ds = load_dataset(data, default_preprocessing(spec), val_fraction=0.1, seed=seed)
model = torch_module(engine.build(spec, seed=seed))
for m in model.modules():
    if hasattr(m, "reset_parameters") and m is not model:
        m.reset_parameters()
opt = torch.optim.Adam(model.parameters(), lr=1e-3)
def arrays(split):
    xs, ys = zip(*ds.iter_batches(split, 4096))
    return torch.from_numpy(np.concatenate(xs)), torch.from_numpy(np.concatenate(ys))
x, y = arrays("train")
xt, yt = arrays("test")
g = torch.Generator().manual_seed(seed)
for epoch in range(3):
    model.train()
    for idx in torch.randperm(len(y), generator=g).split(64):
        opt.zero_grad()
        torch.nn.functional.cross_entropy(model(x[idx]), y[idx]).backward()
        opt.step()
model.eval()
with torch.no_grad():
    acc = float((model(xt).argmax(1) == yt).float().mean())
print(json.dumps({"test_accuracy": acc}))
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


def run_torch(data: str, seed: int) -> float:
    done = subprocess.run([sys.executable, "-c", TORCH, data, str(seed)], capture_output=True,
                          text=True, check=True)  # fmt: skip
    return json.loads(done.stdout.strip().splitlines()[-1])["test_accuracy"]


def main() -> None:
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--data", default="/usr/share/datasets/fashion-mnist")
    p.add_argument("--seeds", type=int, nargs="+", default=[0, 1, 2])
    p.add_argument("--only", choices=("engine", "patched", "torch"), nargs="+",
                   default=["engine", "patched", "torch"])  # fmt: skip
    args = p.parse_args()
    rows = {
        "engine": ("engine default", lambda s: run(DEFAULT, args.data, s)),
        "patched": ("PyTorch default init", lambda s: run(PATCH, args.data, s)),
        "torch": ("PyTorch end to end", lambda s: run_torch(args.data, s)),
    }
    for key in args.only:
        name, one = rows[key]
        accs = [one(s) for s in args.seeds]
        mean = math.fsum(accs) / len(accs)
        print(f"{name:22s} test accuracy {' '.join(f'{a:.4f}' for a in accs)}  mean {mean:.4f}")


if __name__ == "__main__":
    main()
