"""The layer protocol shared by every layer family.

A layer maps a batch ``x`` to ``y = forward(x, train, record)`` and, after a recorded forward,
maps the gradient of the loss with respect to ``y`` back to the gradient with respect to ``x``
with ``backward(dy)``, leaving the gradients of its own parameters in ``grads``.

- ``params``: trainable arrays by PyTorch name ("weight", "bias"), live (optimisers update them
  in place).
- ``buffers``: non-trainable state that belongs in a checkpoint (batch norm's running stats).
- ``grads``: filled by ``backward``, same keys, shapes and dtype as ``params``.
- ``input_grad``: when False, ``backward`` skips the input gradient and returns None (the
  network sets it on the first layers, whose input is the data).

Layers are dtype-generic: they compute in the dtype of their parameters and inputs, so the
same code runs in float32 for training and in float64 for the gradient checks
(:meth:`Layer.astype`).
"""

from __future__ import annotations

from abc import ABC, abstractmethod

import numpy as np

from engine.kernels.workers import Tuner

__all__ = ["Layer"]


class Layer(ABC):
    """Base class: no parameters, identity shape. Subclasses override what differs."""

    #: The spec type name ("conv2d", "relu", ...).
    kind = "layer"

    def __init__(self) -> None:
        self.params: dict[str, np.ndarray] = {}
        self.buffers: dict[str, np.ndarray] = {}
        self.grads: dict[str, np.ndarray] = {}
        self.input_grad = True

    def tuner(self, key) -> Tuner:
        """The tuner that decides whether this layer's calls of kind ``key`` (a pass and an
        input shape, say) run on the worker threads (:class:`engine.kernels.workers.Tuner`)."""
        tuners = self.__dict__.setdefault("_tuners", {})
        found = tuners.get(key)
        if found is None:
            found = tuners[key] = Tuner()
        return found

    def output_shape(self, input_shape: tuple[int, ...]) -> tuple[int, ...]:
        """Per-sample output shape for a per-sample input shape (batch axis excluded)."""
        return tuple(input_shape)

    @abstractmethod
    def forward(self, x: np.ndarray, train: bool = False, record: bool = False) -> np.ndarray:
        """Output for ``x`` (batch first). ``train`` selects training behaviour (dropout,
        batch statistics); ``record`` keeps what :meth:`backward` needs."""

    @abstractmethod
    def backward(self, dy: np.ndarray) -> np.ndarray | None:
        """Input gradient for output gradient ``dy``, after a forward with ``record=True``.
        Fills ``grads``; returns None when ``input_grad`` is False."""

    def astype(self, dtype) -> Layer:
        """Cast parameters and buffers to ``dtype`` in place of the old arrays; returns self."""
        self.params = {k: v.astype(dtype) for k, v in self.params.items()}
        self.buffers = {k: v.astype(dtype) for k, v in self.buffers.items()}
        self.grads = {}
        return self

    def clear(self) -> None:
        """Drop what the last recorded forward kept (frees the conv column matrices)."""
        for name in [k for k in vars(self) if k.startswith("_saved")]:
            setattr(self, name, None)

    def _require_saved(self, value):
        if value is None:
            raise RuntimeError(
                f"{self.kind}: backward() needs a forward(x, record=True) first; "
                "call the network's loss_and_grads rather than forward"
            )
        return value

    def __repr__(self) -> str:
        shapes = ", ".join(f"{k}={tuple(v.shape)}" for k, v in self.params.items())
        return f"{type(self).__name__}({shapes})"
