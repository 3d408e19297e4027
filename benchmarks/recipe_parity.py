"""Does the engine train as PyTorch does, step for step? mnist-2conv (dropout off, so that no
random mask differs) from the same initial weights, on the same batches in the same order,
with Adam 1e-3: the loss of every step of both, and the largest relative difference of the
weights after N steps. A training loop that differed (an optimiser detail, a gradient, a
shuffle) shows as a drift; float32 rounding alone stays near 1e-4. Data: the Fashion-MNIST IDX
folder (`apt-get install dataset-fashion-mnist`) or any data set the engine reads.

    python benchmarks/recipe_parity.py [--data /usr/share/datasets/fashion-mnist] [--steps 300]
"""

from __future__ import annotations

import argparse
import sys
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

import engine  # noqa: I001  (thread pools before numpy)
import numpy as np
import torch

from engine.data import load_dataset
from engine.interop.torch_module import torch_module
from engine.optim import make_optimizer
from engine.spec import load_spec
from engine.training import default_preprocessing


def main() -> None:
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--data", default="/usr/share/datasets/fashion-mnist")
    p.add_argument("--steps", type=int, default=300)
    p.add_argument("--seed", type=int, default=0)
    args = p.parse_args()
    torch.set_num_threads(engine.config.THREADS)
    spec = load_spec("mnist-2conv")
    spec = spec.with_layers([lay.replace(rate=0.0) if lay.type == "dropout" else lay
                             for lay in spec.layers])  # fmt: skip
    ds = load_dataset(args.data, default_preprocessing(spec), val_fraction=0.1, seed=args.seed)
    net = engine.build(spec, seed=args.seed)
    model = torch_module(net)
    opt = make_optimizer("adam", lr=1e-3)
    topt = torch.optim.Adam(model.parameters(), lr=1e-3)
    rng = np.random.default_rng([args.seed, 1])
    batches = ds.iter_batches("train", 64, shuffle=True, rng=rng)
    worst_loss = 0.0
    for step, (x, y) in enumerate(batches, 1):
        loss, grads = net.loss_and_grads(x, y)[:2]
        opt.step(net.parameters(), grads)
        topt.zero_grad()
        tloss = torch.nn.functional.cross_entropy(model(torch.from_numpy(x)), torch.from_numpy(y))
        tloss.backward()
        topt.step()
        worst_loss = max(worst_loss, abs(loss - tloss.item()) / abs(tloss.item()))
        if step in (1, 2, 5, 10) or step % 50 == 0 or step == args.steps:
            ours = net.parameters()
            theirs = {k: v.detach().numpy() for k, v in model.state_dict().items()}
            drift = max(float(np.abs(ours[k] - theirs[k]).max() / (np.abs(theirs[k]).max() + 1e-12))
                        for k in ours)  # fmt: skip
            print(f"step {step:4d}: loss engine {loss:.5f} torch {tloss.item():.5f}; "
                  f"largest weight difference {drift:.2e} (relative to the tensor's largest)")
        if step == args.steps:
            break
    print(f"largest relative loss difference over {args.steps} steps: {worst_loss:.2e}")


if __name__ == "__main__":
    main()
