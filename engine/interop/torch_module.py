"""A ``torch.nn.Module`` that computes exactly what an engine Network computes, with the same
parameter names ("{position}.weight"), built from each layer type's definition
(``LayerDef.torch_module`` / ``torch_call``): a chain becomes an ``nn.Sequential``, a graph a
module that registers each layer under its position and runs them in list order.

    model = torch_module(net)            # net's weights loaded; float32
    logits = model(torch.from_numpy(x))

torch is imported when this module is; the engine itself never needs it.
"""

from __future__ import annotations

import torch
from torch import nn

from engine.shapes import infer_shapes

__all__ = ["GraphModule", "torch_module"]


class GraphModule(nn.Module):
    """Layers registered as "0", "1", ... (those with a module); forward in list order."""

    def __init__(self, spec):
        super().__init__()
        self.spec = spec
        rows = infer_shapes(spec).rows
        self._calls = {}
        for i, layer in enumerate(spec.layers):
            module = layer.kind.torch_module(layer, list(rows[i].input_shapes))
            if module is None:
                self._calls[i] = layer
            else:
                self.add_module(str(i), module)

    def forward(self, x):
        outs = {-1: x}
        last_use = {}
        for i in range(len(self.spec.layers)):
            for j in self.spec.inputs_of(i):
                last_use[j] = i
        for i, layer in enumerate(self.spec.layers):
            args = [outs[j] for j in self.spec.inputs_of(i)]
            if i in self._calls:
                outs[i] = layer.kind.torch_call(layer, args)
            else:
                outs[i] = getattr(self, str(i))(*args)
            for j in set(self.spec.inputs_of(i)):
                if last_use.get(j) == i:
                    outs.pop(j, None)
        return outs[len(self.spec.layers) - 1]


def torch_module(net, dtype=torch.float32) -> nn.Module:
    """The PyTorch equivalent of ``net`` (an engine Network) with its weights and buffers."""
    spec = net.spec
    if spec.is_chain:
        rows = infer_shapes(spec).rows
        model = nn.Sequential(
            *[layer.kind.torch_module(layer, list(rows[i].input_shapes))
              for i, layer in enumerate(spec.layers)]
        )  # fmt: skip
    else:
        model = GraphModule(spec)
    model = model.to(dtype)
    state = {k: torch.from_numpy(v).to(dtype) for k, v in net.state_dict().items()}
    missing, unexpected = model.load_state_dict(state, strict=False)
    missing = [k for k in missing if not k.endswith("num_batches_tracked")]
    if missing or unexpected:
        raise ValueError(f"state dict mismatch: missing {missing}, unexpected {unexpected}")
    return model
