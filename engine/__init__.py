"""CNN Workbench's engine: networks as data, shape inference, layers, training. No Qt.

import engine
spec = engine.load_spec("lenet5")        # preset name, path or dict
rows = engine.infer_shapes(spec)
net = engine.build(spec, seed=0)         # raises engine.SpecError listing every problem
logits = net.forward(x, train=False)     # (N, C, H, W) float32 -> (N, classes)
loss, grads = net.loss_and_grads(x, y)
"""

# Thread-pool settings must be in the environment before numpy loads OpenBLAS.
from engine import config as config  # must stay first
from engine.spec import (
    LayerSpec,
    NetworkSpec,
    SpecError,
    load_spec,
    preset_names,
)

__all__ = [
    "LayerSpec",
    "Network",
    "NetworkSpec",
    "SpecError",
    "build",
    "fit",
    "infer_shapes",
    "load_spec",
    "preset_names",
    "template",
]

# Heavier parts load on first use, so `import engine` for a spec or a summary stays fast.
_LAZY = {
    "build": ("engine.network", "build"),
    "Network": ("engine.network", "Network"),
    "infer_shapes": ("engine.shapes", "infer_shapes"),
    "template": ("engine.templates", "template"),
    "fit": ("engine.training", "fit"),
}


def __getattr__(name: str):
    if name in _LAZY:
        import importlib

        module, attr = _LAZY[name]
        value = getattr(importlib.import_module(module), attr)
        globals()[name] = value
        return value
    raise AttributeError(f"module 'engine' has no attribute {name!r}")
