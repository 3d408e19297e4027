"""The layer catalogue: one module per layer type, each holding the type's definition (fields,
shape rule, costs, receptive-field step, PyTorch and ONNX names) and its compute layer
(forward and backward side by side). Everything else asks :data:`LAYER_TYPES`.

Adding a layer type: docs/adding-a-layer-type.md.
"""

from engine.layers.add import ADD, Add
from engine.layers.avg_pool2d import AVG_POOL2D, AvgPool2D
from engine.layers.base import Layer
from engine.layers.batch_norm import BATCH_NORM, BatchNorm
from engine.layers.concat import CONCAT, Concat
from engine.layers.conv2d import CONV2D, Conv2D
from engine.layers.definition import Geometry, Inferred, LayerDef, Tensor
from engine.layers.dense import DENSE, Dense
from engine.layers.dropout import DROPOUT, Dropout
from engine.layers.flatten import FLATTEN, Flatten
from engine.layers.global_avg_pool import GLOBAL_AVG_POOL, GlobalAvgPool
from engine.layers.leaky_relu import LEAKY_RELU, LeakyReLU
from engine.layers.lp_pool2d import LP_POOL2D, LpPool2D
from engine.layers.max_pool2d import MAX_POOL2D, MaxPool2D
from engine.layers.relu import RELU, ReLU
from engine.layers.sigmoid import SIGMOID, Sigmoid
from engine.layers.tanh import TANH, Tanh

#: Every layer type by its name in spec files, in the order the palette lists them.
LAYER_TYPES: dict[str, LayerDef] = {
    d.name: d
    for d in (
        CONV2D,
        RELU,
        LEAKY_RELU,
        SIGMOID,
        TANH,
        MAX_POOL2D,
        AVG_POOL2D,
        LP_POOL2D,
        GLOBAL_AVG_POOL,
        FLATTEN,
        DENSE,
        DROPOUT,
        BATCH_NORM,
        ADD,
        CONCAT,
    )
}

__all__ = [
    "LAYER_TYPES",
    "Add",
    "AvgPool2D",
    "BatchNorm",
    "Concat",
    "Conv2D",
    "Dense",
    "Dropout",
    "Flatten",
    "Geometry",
    "GlobalAvgPool",
    "Inferred",
    "Layer",
    "LayerDef",
    "LeakyReLU",
    "LpPool2D",
    "MaxPool2D",
    "ReLU",
    "Sigmoid",
    "Tanh",
    "Tensor",
]
