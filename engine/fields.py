"""Field metadata: the kinds of hyperparameter a layer type declares, with their ranges and
plain-words help, and the fields several types share.

Each layer type lists its fields in its own module (engine/layers/); validation
(engine.spec), the inspector form the GUI generates (workbench.views.inspector) and the
palette's descriptions all read them from there.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

#: Field kinds. "pair" is a positive integer or [h, w]; "optional_pair" also admits None
#: (meaning "same as size" for a pool's stride); "padding" is a non-negative integer,
#: [h, w], or "same"/"valid".
FIELD_KINDS = ("int", "float", "bool", "choice", "pair", "optional_pair", "padding")

INIT_CHOICES = ("auto", "uniform", "he", "xavier", "gaussian", "zeros")


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


#: Largest kernel, stride or padding a field accepts.
MAX_SIZE = 4096

BIAS = FieldInfo("bias", "bool", True, "bias: add a learned constant to every output unit")
INIT = FieldInfo(
    "init",
    "choice",
    "auto",
    "init: how the weights start. auto = uniform, PyTorch's default: weights and biases "
    "uniform in ±1/√fan_in; he and xavier are the papers' choices; zeros makes every unit "
    "learn the same thing",
    choices=INIT_CHOICES,
)
#: A convolution may also start from the tutorials' named kernels (engine.named_kernels).
CONV_INIT = FieldInfo(
    "init",
    "choice",
    "auto",
    INIT.description + "; kernels = the tutorials' named kernels (edge detectors, blurs, "
    "sharpen, Sobel, emboss), one per filter in turn",
    choices=(*INIT_CHOICES, "kernels"),
)
STD = FieldInfo(
    "std",
    "float",
    0.01,
    "std: standard deviation of the gaussian initialiser (used only when init is gaussian)",
    minimum=1e-6,
    maximum=10.0,
    step=0.01,
)
