"""The layer catalogue: every layer type, its fields, their ranges and plain-words help.

This table is the single source for validation (engine.spec), the inspector form the GUI
generates (workbench.views.inspector) and the palette's descriptions. Adding a field here
adds it everywhere.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

#: Field kinds. "pair" is a positive integer or [h, w]; "optional_pair" also admits None
#: (meaning "same as size" for a pool's stride); "padding" is a non-negative integer,
#: [h, w], or "same"/"valid".
FIELD_KINDS = ("int", "float", "bool", "choice", "pair", "optional_pair", "padding")

INIT_CHOICES = ("auto", "he", "xavier", "gaussian", "zeros")


@dataclass(frozen=True)
class FieldInfo:
    """One hyperparameter of a layer type.

    ``minimum``/``maximum`` are inclusive bounds (``exclusive_max`` makes the maximum
    exclusive, as for a dropout rate that must stay below 1). ``description`` is the
    plain-words tooltip shown in the inspector.
    """

    name: str
    kind: str
    default: Any
    description: str
    minimum: float | None = None
    maximum: float | None = None
    choices: tuple[str, ...] = ()
    exclusive_max: bool = False
    required: bool = False
    step: float | None = None

    @property
    def label(self) -> str:
        return self.name.replace("_", " ")


@dataclass(frozen=True)
class LayerType:
    """A layer type of the palette: its name in spec files, a label, a one-line summary."""

    name: str
    label: str
    summary: str
    family: str
    fields: tuple[FieldInfo, ...] = ()

    def field(self, name: str) -> FieldInfo:
        for f in self.fields:
            if f.name == name:
                return f
        raise KeyError(f"{self.name} has no field {name!r}")

    @property
    def field_names(self) -> tuple[str, ...]:
        return tuple(f.name for f in self.fields)


_MAX_SIZE = 4096

_BIAS = FieldInfo("bias", "bool", True, "bias: add a learned constant to every output unit")
_INIT = FieldInfo(
    "init",
    "choice",
    "auto",
    "init: how the weights start. auto = he before a ReLU, xavier otherwise; "
    "zeros makes every unit learn the same thing",
    choices=INIT_CHOICES,
)
_STD = FieldInfo(
    "std",
    "float",
    0.01,
    "std: standard deviation of the gaussian initialiser (used only when init is gaussian)",
    minimum=1e-6,
    maximum=10.0,
    step=0.01,
)


def _pool(name: str, label: str, summary: str) -> LayerType:
    return LayerType(
        name,
        label,
        summary,
        "pool",
        (
            FieldInfo(
                "size",
                "pair",
                2,
                "size: the width and height of the window that is summarised into one value",
                minimum=1,
                maximum=_MAX_SIZE,
                required=True,
            ),
            FieldInfo(
                "stride",
                "optional_pair",
                None,
                "stride: how many pixels the window moves at each step (empty = same as size, "
                "so windows do not overlap)",
                minimum=1,
                maximum=_MAX_SIZE,
            ),
            FieldInfo(
                "padding",
                "pair",
                0,
                "padding: pixels added around the border before pooling",
                minimum=0,
                maximum=_MAX_SIZE,
            ),
        ),
    )


LAYER_TYPES: dict[str, LayerType] = {
    t.name: t
    for t in (
        LayerType(
            "conv2d",
            "Convolution",
            "conv: slides small learned filters over the image; each filter makes one feature map",
            "conv",
            (
                FieldInfo(
                    "filters",
                    "int",
                    8,
                    "filters: how many filters, so how many feature maps (output channels)",
                    minimum=1,
                    maximum=65536,
                    required=True,
                ),
                FieldInfo(
                    "kernel",
                    "pair",
                    3,
                    "kernel: the width and height F of each filter, in pixels",
                    minimum=1,
                    maximum=_MAX_SIZE,
                    required=True,
                ),
                FieldInfo(
                    "stride",
                    "pair",
                    1,
                    "stride: how many pixels the filter moves at each step",
                    minimum=1,
                    maximum=_MAX_SIZE,
                ),
                FieldInfo(
                    "padding",
                    "padding",
                    0,
                    "padding: zeros added around the border; 'same' keeps the size at stride 1, "
                    "'valid' adds none",
                    minimum=0,
                    maximum=_MAX_SIZE,
                    choices=("same", "valid"),
                ),
                _BIAS,
                _INIT,
                _STD,
            ),
        ),
        LayerType(
            "relu", "ReLU", "relu: keeps positive values, sets negatives to zero", "activation"
        ),
        LayerType(
            "leaky_relu",
            "Leaky ReLU",
            "leaky relu: like relu, but negatives are scaled down instead of zeroed",
            "activation",
            (
                FieldInfo(
                    "slope",
                    "float",
                    0.01,
                    "slope: what negative inputs are multiplied by",
                    minimum=0.0,
                    maximum=1.0,
                    step=0.01,
                ),
            ),
        ),
        LayerType("sigmoid", "Sigmoid", "sigmoid: squashes every value into (0, 1)", "activation"),
        LayerType("tanh", "Tanh", "tanh: squashes every value into (−1, 1)", "activation"),
        _pool("max_pool2d", "Max pool", "max pool: keeps the largest value in each window"),
        _pool("avg_pool2d", "Average pool", "average pool: keeps the mean of each window"),
        LayerType(
            "global_avg_pool",
            "Global average pool",
            "global average pool: averages each feature map down to one number",
            "pool",
        ),
        LayerType(
            "flatten",
            "Flatten",
            "flatten: unrolls the C×H×W feature maps into one long vector for dense layers",
            "reshape",
        ),
        LayerType(
            "dense",
            "Fully connected",
            "dense: every output unit is a weighted sum of all inputs",
            "dense",
            (
                FieldInfo(
                    "units",
                    "int",
                    10,
                    "units: how many outputs (the last dense layer has one per class)",
                    minimum=1,
                    maximum=1_000_000,
                    required=True,
                ),
                _BIAS,
                _INIT,
                _STD,
            ),
        ),
        LayerType(
            "dropout",
            "Dropout",
            "dropout: randomly zeroes a fraction of units while training, against overfitting",
            "regularization",
            (
                FieldInfo(
                    "rate",
                    "float",
                    0.5,
                    "rate: the fraction of units dropped at each training step",
                    minimum=0.0,
                    maximum=1.0,
                    exclusive_max=True,
                    step=0.05,
                ),
            ),
        ),
        LayerType(
            "batch_norm",
            "Batch norm",
            "batch norm: normalises each channel over the batch, then scales and shifts it",
            "regularization",
            (
                FieldInfo(
                    "eps",
                    "float",
                    1e-5,
                    "eps: small number added to the variance so it never divides by zero",
                    minimum=1e-12,
                    maximum=1.0,
                    step=1e-5,
                ),
                FieldInfo(
                    "momentum",
                    "float",
                    0.1,
                    "momentum: how fast the running mean and variance follow each batch",
                    minimum=0.0,
                    maximum=1.0,
                    step=0.01,
                ),
            ),
        ),
    )
}

#: Layer types whose output goes through an activation (used to pick the "auto" initialiser).
RELU_LIKE = frozenset({"relu", "leaky_relu"})
