"""The Network: a spec built into layers with parameters, run forward and backward over its
graph (contract).

    net = engine.build(spec, seed=0)        # SpecError listing every shape problem
    sd = net.state_dict()                   # "0.weight" -> float32 (K, C, F, F) copy, ...
    net.load_state_dict(sd)                 # StateDictError naming the key on any mismatch
    logits = net.forward(x, train=False)    # (N, C, H, W) float32 -> (N, classes) float32
    loss, grads = net.loss_and_grads(x, y)  # mean cross-entropy; grads keyed like parameters()

Names and layouts are those of PyTorch's ``state_dict`` for the same stack written as an
``nn.Sequential`` with one module per layer entry (for a graph: a module that registers each
layer under its position), so weights move between the two unchanged.

Forward runs the layers in list order, keeping each output only until its last consumer has
run; backward adds up the gradients that every consumer of an output sends back. A conv
followed by relu and/or max pool runs as one fused stage wherever nothing else reads the
intermediate outputs, in a chain or inside a branch.

Frozen layers (``"trainable": false`` in the spec, engine.transfer.freeze_up_to): their
parameters get no gradient (:meth:`Network.loss_and_grads` returns the trainable ones only,
so an optimiser never touches them), a frozen batch norm normalises with its running
statistics in training too and leaves them as they are, and wherever nothing before an
output trains, that part of the network is run forward without recording and its backward is
skipped (the first trainable layer does not compute its input gradient). A frozen conv →
batch norm prefix then folds the batch norm into the convolution, as evaluation does.
"""

from __future__ import annotations

import threading
from collections.abc import Mapping, Sequence

import numpy as np

from engine.init import bias_bound, initialise
from engine.kernels.workers import SERIAL_ELEMENTS, Tuner, kernel_threads, run, split
from engine.layers import (
    AvgPool2D,
    BatchNorm,
    Conv2D,
    Dense,
    Dropout,
    Flatten,
    GlobalAvgPool,
    Layer,
    LeakyReLU,
    LpPool2D,
    MaxPool2D,
    ReLU,
    Sigmoid,
    Tanh,
)
from engine.layers.add import Add
from engine.layers.concat import Concat
from engine.losses import LOSSES, softmax
from engine.spec import InputSpec, NetworkSpec, SpecError, load_spec, resolved_init

__all__ = ["EVAL_CHUNK", "Network", "StateDictError", "build", "warm_up"]

#: Images per slice of an evaluation-mode forward pass (see Network.forward).
EVAL_CHUNK = 64


def _threadsafe_numba() -> bool:
    """Whether numba's parallel kernels may be launched from several threads at once: true for
    its "omp" and "tbb" threading layers, false for "workqueue" (which aborts on concurrent
    launches) or before any parallel kernel has run (no layer chosen yet)."""
    import numba

    try:
        return numba.threading_layer() in ("omp", "tbb")
    except ValueError:
        return False


def _fusable_activation(layer: Layer) -> tuple[str, float] | None:
    """(name, slope) of an activation a conv epilogue applies, or None. Leaky relu only with
    a slope of at least 0 (its backward then reads the sign of x from the output)."""
    kind = type(layer)
    if kind is ReLU:
        return ("relu", 0.0)
    if kind is Tanh:
        return ("tanh", 0.0)
    if kind is Sigmoid:
        return ("sigmoid", 0.0)
    if kind is LeakyReLU and layer.slope >= 0:
        return ("leaky_relu", layer.slope)
    return None


def _accumulate(pending: dict, j: int, d: np.ndarray, parts) -> np.ndarray:
    """pending[j] + d, the gradient of output j summed over its readers, in place into one
    of the two when nothing else can see it. A residual add hands the same array to each of
    its inputs and a flatten returns a view of its gradient, so an array is written only if
    it shares no memory with the other, with any other pending gradient or with what the
    current layer still hands out (``parts``); else a new array (was always a new array:
    a 4 MB allocation and its page faults per shortcut of resnet20)."""
    a = pending[j]

    def private(arr, other) -> bool:
        if not arr.flags.writeable or arr.dtype != np.result_type(a, d):
            return False
        if np.may_share_memory(arr, other):
            return False
        for k, v in pending.items():
            if k != j and np.may_share_memory(arr, v):
                return False
        # d itself is one of parts, once (an add's [d, d] hands it out twice).
        seen = sum(1 for p in parts if p is not None and np.may_share_memory(arr, p))
        return seen == (1 if arr is d else 0)

    if a.shape == d.shape:
        if private(a, d):
            return np.add(a, d, out=a)
        if private(d, a):
            return np.add(d, a, out=d)
    return a + d


def _into(layer: Layer, sources, pending: dict, g: np.ndarray) -> np.ndarray | None:
    """The gradient already pending for a one-input ``layer``'s input (from its other
    readers) when the layer can add its own input gradient into it in place
    (``accumulates``) and nothing else sees that array: not the gradient ``g`` the layer is
    handed, nor another pending gradient (a residual add hands one array to both inputs)."""
    if not getattr(layer, "accumulates", False) or len(sources) != 1:
        return None
    j = sources[0]
    a = pending.get(j)
    if a is None or not a.flags.writeable or np.may_share_memory(a, g):
        return None
    if any(k != j and np.may_share_memory(a, v) for k, v in pending.items()):
        return None
    return a


def _check_parameters_fit(spec: NetworkSpec, need: int) -> None:
    """SpecError when ``need`` bytes of parameters exceed what this process can have (a
    valid spec of 65,536 64×64 filters before a million-unit dense layer wants 244 GiB:
    the allocation would fail, or swap the machine to a halt, half way through a build)."""
    from engine.io import size_text
    from engine.memory_budget import machine_memory

    have = machine_memory()
    if need > have:
        name = f"{spec.name}: " if spec.name else ""
        raise SpecError(
            f"{name}the network's parameters need {size_text(need)}; this machine has "
            f"{size_text(have)}: use fewer filters or units (the shape table lists each "
            "layer's parameters)"
        )


class StateDictError(ValueError):
    """A state dict that does not fit the network; the message names every offending key."""


def build(spec, seed: int = 0, weights: Mapping[str, object] | None = None) -> Network:
    """Build a network from a spec (a NetworkSpec, preset name, path or dict) with seeded
    initial weights: the same spec and seed give bit-identical parameters and dropout masks.
    ``weights`` (a state dict, as :meth:`Network.load_state_dict` takes it): start from those
    instead; nothing is drawn (the draws were most of building a predictor's network), and a
    state dict that does not fit raises StateDictError.

    Raises SpecError listing every problem shape inference finds (and, as a last guard, any
    layer whose output would be empty or a network that does not end in a vector of scores),
    and, before allocating anything, when the parameters alone would not fit in this
    machine's memory. Emits ZeroInitWarning for a layer with init "zeros".
    """
    spec = load_spec(spec)
    from engine.shapes import infer_shapes

    report = infer_shapes(spec)
    problems = [p.message for p in report.problems]
    if problems:
        raise SpecError(problems)
    _check_parameters_fit(spec, report.param_memory)
    init_seed, dropout_seed = np.random.SeedSequence(int(seed)).spawn(2)
    init_rng = np.random.default_rng(init_seed)
    dropout_rng = np.random.default_rng(dropout_seed)
    layers: list[Layer] = []
    shapes: dict[int, tuple[int, ...]] = {-1: spec.input.shape}
    for index, layer_spec in enumerate(spec.layers):
        in_shapes = [shapes[j] for j in spec.inputs_of(index)]
        kind = layer_spec.kind
        layer = kind.build(layer_spec, in_shapes, dropout_rng)
        shape = layer.output_shape(*in_shapes)
        if min(shape) < 1:
            raise SpecError(f"layers[{index}] ({layer_spec.type}): output shape {shape} is empty")
        shapes[index] = shape
        if kind.has_weights_to_initialise and weights is None:
            weight = layer.params["weight"]
            init = resolved_init(spec, index)
            weight[...] = initialise(
                init,
                init_rng,
                weight.shape,
                layer.fan_in,
                layer.fan_out,
                std=layer_spec["std"],
                layer=f"layers[{index}] ({layer_spec.type})",
            )
            bound = bias_bound(init, layer.fan_in)
            if bound is not None and "bias" in layer.params:
                bias = layer.params["bias"]
                bias[...] = init_rng.uniform(-bound, bound, size=bias.shape)
        layers.append(layer)
    if len(shapes[len(layers) - 1]) != 1:
        raise SpecError(
            f"the network ends with output shape {shapes[len(layers) - 1]}; it must end in one "
            "score per class (add flatten and a dense layer with one unit per class)"
        )
    net = Network(spec, layers, dropout_rng)
    if weights is not None:
        net.load_state_dict(weights)
    return net


class Network:
    """Layers built from a spec, with PyTorch-named parameters. Not thread-safe: one trainer
    at a time; other threads should read :meth:`state_dict` copies."""

    def __init__(
        self,
        spec: NetworkSpec,
        layers: list[Layer],
        dropout_rng: np.random.Generator,
        inputs: Sequence[Sequence[int]] | None = None,
    ):
        """``inputs[i]``: positions whose outputs layer i takes (-1: the network input);
        by default the spec's wiring, or a chain when the spec does not describe ``layers``."""
        self.spec = spec
        self.layers = layers
        self.dropout_rng = dropout_rng
        self.input_shape: tuple[int, int, int] = spec.input.shape
        if inputs is None:
            if len(spec.layers) == len(layers):
                inputs = spec.wiring.inputs
            else:
                inputs = [(i - 1,) for i in range(len(layers))]
        self.sources: tuple[tuple[int, ...], ...] = tuple(tuple(ins) for ins in inputs)
        consumers: list[list[int]] = [[] for _ in layers]
        for i, ins in enumerate(self.sources):
            for j in ins:
                if j >= 0:
                    consumers[j].append(i)
        self.consumers = tuple(tuple(c) for c in consumers)
        shapes: dict[int, tuple[int, ...]] = {-1: self.input_shape}
        for i, layer in enumerate(layers):
            shapes[i] = tuple(layer.output_shape(*[shapes[j] for j in self.sources[i]]))
        self.output_shape = shapes[len(layers) - 1] if layers else self.input_shape
        self._shapes = shapes
        # Values per image of the largest tensor each layer reads or writes: its numba
        # kernels run on one thread when a batch of them is small (kernel_threads).
        self._values = tuple(
            max(int(np.prod(shapes[j])) for j in (i, *self.sources[i])) for i in range(len(layers))
        )
        #: frozen[i]: layer i is not trained (its spec says "trainable": false).
        self.frozen: tuple[bool, ...] = (
            tuple(not layer.trainable for layer in spec.layers)
            if len(spec.layers) == len(layers)
            else (False,) * len(layers)
        )
        # An output needs a gradient when it or anything before it has trainable parameters;
        # a layer computes its input gradient only when one of its inputs needs it. Outputs
        # that need none are computed without recording and never run backward.
        needs = {-1: False}
        for i, layer in enumerate(layers):
            trains = bool(layer.params) and not self.frozen[i]
            needs[i] = trains or any(needs[j] for j in self.sources[i])
            layer.input_grad = any(needs[j] for j in self.sources[i])
        self._needs_grad = needs
        # Frozen batch norms run as in evaluation (running statistics, not updated).
        self._eval_always = frozenset(
            i for i, layer in enumerate(layers) if self.frozen[i] and isinstance(layer, BatchNorm)
        )
        # Each output's last reader (the final output is read by the loss).
        last = {j: max(c) for j, c in enumerate(self.consumers) if c}
        last[-1] = max((i for i, ins in enumerate(self.sources) if -1 in ins), default=-1)
        self._last_use = last
        self.dtype = np.dtype(np.float32)

    def astype(self, dtype) -> Network:
        """Compute in ``dtype`` from now on (float64 for gradient checks): parameters, buffers
        and inputs are cast. Returns self."""
        self.dtype = np.dtype(dtype)
        for layer in self.layers:
            layer.astype(self.dtype)
        return self

    @property
    def num_classes(self) -> int:
        """Number of outputs of the last layer (one score per class)."""
        return int(self.output_shape[0])

    # ------------------------------------------------------------------ parameters

    def parameters(self) -> dict[str, np.ndarray]:
        """Every learnable parameter by PyTorch name ("0.weight", "0.bias", ...), frozen
        layers' included, live arrays: an optimiser updates them in place (only those
        :meth:`loss_and_grads` returns gradients for)."""
        return {
            f"{i}.{k}": v for i, layer in enumerate(self.layers) for k, v in layer.params.items()
        }

    def trainable_parameters(self) -> dict[str, np.ndarray]:
        """The parameters of the layers that are not frozen, live, in forward order."""
        return {
            f"{i}.{k}": v
            for i, layer in enumerate(self.layers)
            if not self.frozen[i]
            for k, v in layer.params.items()
        }

    def num_parameters(self) -> int:
        """Number of learnable scalars, frozen ones included."""
        return sum(v.size for v in self.parameters().values())

    def _state_arrays(self) -> dict[str, np.ndarray]:
        # PyTorch's order within a module: parameters first, then buffers.
        out: dict[str, np.ndarray] = {}
        for i, layer in enumerate(self.layers):
            for k, v in layer.params.items():
                out[f"{i}.{k}"] = v
            for k, v in layer.buffers.items():
                out[f"{i}.{k}"] = v
        return out

    def state_dict(self) -> dict[str, np.ndarray]:
        """Parameters and buffers (batch norm running stats) by PyTorch name: float32 copies."""
        return {k: v.copy() for k, v in self._state_arrays().items()}

    def load_state_dict(self, state: Mapping[str, object]) -> None:
        """Copy ``state`` into the network's arrays (in place; optimisers keep their references).

        Values may be numpy arrays or anything ``np.asarray`` accepts (CPU torch tensors too);
        they are converted to float32. Batch norm's "num_batches_tracked" entries are accepted
        and ignored. Raises StateDictError naming every missing, unexpected or mis-shaped key;
        nothing is copied unless everything fits.
        """
        own = self._state_arrays()
        missing = [k for k in own if k not in state]
        unexpected = [
            k
            for k in state
            if k not in own and not (str(k).endswith(".num_batches_tracked") and self._is_bn(k))
        ]
        problems = []
        if missing:
            problems.append(f"missing keys: {', '.join(missing)}")
        if unexpected:
            problems.append(f"unexpected keys: {', '.join(map(str, unexpected))}")
        values = {}
        for k, target in own.items():
            if k not in state:
                continue
            value = np.asarray(state[k])
            if value.shape != target.shape:
                problems.append(
                    f"{k}: shape {tuple(value.shape)} in the state dict, "
                    f"{tuple(target.shape)} in the network"
                )
            values[k] = value
        if problems:
            name = f" {self.spec.name!r}" if self.spec.name else ""
            raise StateDictError(f"state dict does not fit network{name}: " + "; ".join(problems))
        for k, value in values.items():
            own[k][...] = value

    def _is_bn(self, key: str) -> bool:
        head = key.split(".", 1)[0]
        return (
            head.isdigit()
            and int(head) < len(self.layers)
            and (isinstance(self.layers[int(head)], BatchNorm))
        )

    # ------------------------------------------------------------------ running

    def _check_input(self, x) -> np.ndarray:
        x = np.asarray(x)
        if x.ndim != 4 or tuple(x.shape[1:]) != self.input_shape:
            c, h, w = self.input_shape
            raise ValueError(
                f"input has shape {tuple(x.shape)}; this network takes (N, {c}, {h}, {w}) "
                "images (batch, channels, height, width)"
            )
        return np.ascontiguousarray(x, dtype=self.dtype)

    def forward(self, x, train: bool = False) -> np.ndarray:
        """Logits (N, classes) float32 for images ``x`` (N, C, H, W) (converted to float32).

        ``train=True`` applies dropout and batch statistics (and updates running stats).
        Raises ValueError for an input of the wrong shape.
        """
        x = self._check_input(x)
        if train or len(x) <= EVAL_CHUNK:
            return self._forward(x, train)
        if not _threadsafe_numba():
            out = np.empty((len(x), *self.output_shape), np.float32)
            for start in range(0, len(x), EVAL_CHUNK):
                out[start : start + EVAL_CHUNK] = self._forward(
                    x[start : start + EVAL_CHUNK], False
                )
            return out
        # Evaluation is per image, so a large batch goes through in chunks of at most
        # EVAL_CHUNK images (memory stays bounded for any batch size), which the worker
        # threads take one at a time, each running every layer on its chunk: one hand-off per
        # chunk instead of one per layer, and no thread waits for a slower one's share.
        # Where the layers are so small that two threads running them mostly wait for each
        # other's turn with the interpreter (LeNet-5: 36k images/s on two threads, 43k on
        # one), the chunks run one after another instead, each layer free to use the
        # threads itself: a tuner per batch shape times both ways and keeps the faster.
        out = np.empty((len(x), *self.output_shape), np.float32)

        def chunk(_, lo, hi):
            out[lo:hi] = self._forward(x[lo:hi], False)

        tuners = self.__dict__.setdefault("_tuners", {})
        tuner = tuners.setdefault(x.shape, Tuner())
        run(split(len(x), 1, -(-len(x) // EVAL_CHUNK)), chunk, tuner)
        return out

    def _stages(self, fold: bool = False) -> list[tuple[int, int, dict]]:
        """The layers grouped for running: ``(start, stop, fused)`` per stage.

        A convolution followed by an activation (relu, leaky relu with a slope of at least 0,
        tanh, sigmoid) and/or a pool without padding (max, average, global average) is one
        stage when each of them is the only reader of the one before: the convolution applies
        them in the epilogue of each chunk's product while the chunk is in cache (``fused``
        holds its ``act``/``slope``/``pool``/``pool_mode``/``squeeze`` arguments), with the
        same arithmetic as the separate layers, so outputs and gradients are unchanged
        (tests/engine/test_fusion.py). A batch norm that is not folded, and a residual add,
        take the activation after them the same way. Every other layer is a stage of its own.
        With ``fold`` (evaluation without recording), a batch norm right after the
        convolution joins the stage too: its running statistics fold into the convolution's
        weights and bias (``fused["affine"]``), so the relu and pool after it fuse as well.
        In training, a frozen batch norm after a convolution whose output needs no gradient
        (a frozen prefix, run without recording) folds the same way.
        Recomputed per call (microseconds), so edits to ``layers`` count.
        """
        stages: list[tuple[int, int, dict]] = []
        layers = self.layers

        def sole_reader(j: int, k: int) -> bool:
            return k < len(layers) and self.sources[k] == (j,) and self.consumers[j] == (k,)

        i = 0
        while i < len(layers):
            stop, fused = i + 1, {}
            if type(layers[i]) is Conv2D:
                fold_bn = fold or (stop in self._eval_always and not self._needs_grad[i])
                if fold_bn and sole_reader(stop - 1, stop) and type(layers[stop]) is BatchNorm:
                    fused["affine"] = layers[stop].folded()
                    stop += 1
                act = _fusable_activation(layers[stop]) if sole_reader(stop - 1, stop) else None
                if act is not None:
                    fused["act"], fused["slope"] = act
                    stop += 1
                pool = (
                    self._fusable_pool(layers[stop], stop - 1)
                    if sole_reader(stop - 1, stop)
                    else None
                )
                if pool is not None:
                    fused.update(pool)
                    stop += 1
            elif type(layers[i]) in (BatchNorm, Add) and sole_reader(i, stop):
                # batch norm → activation: one pass each way (its statistics need the whole
                # batch, so it cannot go into a conv's per-chunk epilogue in training); a
                # residual add → activation likewise.
                act = _fusable_activation(layers[stop])
                if act is not None:
                    fused["act"], fused["slope"] = act
                    stop += 1
            stages.append((i, stop, fused))
            i = stop
        return stages

    def _fusable_pool(self, layer: Layer, before: int) -> dict | None:
        """The conv epilogue's pool arguments for ``layer`` reading output ``before``, or
        None when it is not a pool the epilogue computes."""
        if type(layer) is MaxPool2D and layer.padding == (0, 0):
            return {"pool": (layer.kernel, layer.stride)}
        if type(layer) is AvgPool2D and layer.padding == (0, 0):
            return {"pool": (layer.kernel, layer.stride), "pool_mode": "avg"}
        if type(layer) is GlobalAvgPool:
            plane = tuple(self._shapes[before][1:])
            return {"pool": (plane, (1, 1)), "pool_mode": "avg", "squeeze": True}
        return None

    def _run(self, x: np.ndarray, train: bool, record: bool, stages=None) -> np.ndarray:
        """The forward pass over ``stages``; each output is dropped once its last reader ran."""
        outs: dict[int, np.ndarray] = {-1: x}
        if stages is None:
            stages = self._stages(fold=not train and not record)
        n_img = len(x)
        for start, stop, fused in stages:
            sources = self.sources[start]
            kernel_threads(n_img * self._values[start])
            y = self.layers[start].forward(
                *[outs[j] for j in sources],
                train=train and start not in self._eval_always,
                record=record and self._needs_grad[stop - 1],
                **fused,
            )
            for j in set(sources):
                if self._last_use.get(j, -1) <= stop - 1:
                    outs.pop(j, None)
            outs[stop - 1] = y
        kernel_threads(SERIAL_ELEMENTS)  # the thread's other kernels as they were: all threads
        return outs[len(self.layers) - 1]

    def _forward(self, h: np.ndarray, train: bool) -> np.ndarray:
        return self._run(h, train, record=False)

    def _backward(self, grad: np.ndarray, stages, grads: dict[str, np.ndarray]) -> None:
        """From the gradient of the final output, every parameter's gradient into ``grads``;
        each output's gradient is the sum of what its readers send back."""
        pending: dict[int, np.ndarray] = {len(self.layers) - 1: grad}
        for start, stop, _ in reversed(stages):
            g = pending.pop(stop - 1, None)
            if g is None or not self._needs_grad[stop - 1]:
                continue
            layer = self.layers[start]
            kernel_threads(len(g) * self._values[start])
            into = _into(layer, self.sources[start], pending, g)
            dx = layer.backward(g) if into is None else layer.backward(g, into=into)
            if not self.frozen[start]:
                for k, v in layer.grads.items():
                    grads[f"{start}.{k}"] = v
            layer.grads = {}
            parts = dx if getattr(layer, "multi_input", False) else [dx]
            for j, d in zip(self.sources[start], parts, strict=True):
                if j < 0 or d is None or not self._needs_grad[j]:
                    continue
                if into is not None or j not in pending:  # (with ``into``, d is the sum)
                    pending[j] = d
                else:
                    pending[j] = _accumulate(pending, j, d, parts)
        kernel_threads(SERIAL_ELEMENTS)

    def forward_activations(self, x) -> list[np.ndarray]:
        """Evaluation-mode output of every layer in order (for the feature-map views)."""
        h = self._check_input(x)
        outputs: list[np.ndarray] = []
        for i, layer in enumerate(self.layers):
            args = [h if j < 0 else outputs[j] for j in self.sources[i]]
            outputs.append(layer.forward(*args, train=False))
        return outputs

    def activation_and_gradient(
        self, x, layer_index: int, classes
    ) -> tuple[np.ndarray, np.ndarray]:
        """The output of layer ``layer_index`` for images ``x`` (N, C, H, W) in evaluation
        mode, and the gradient of each image's logit for its class with respect to it (what
        Grad-CAM weighs feature maps by). ``classes``: an int (the same class for every
        image) or int (N,). Returns two float32 arrays of the layer's output shape (N, ...).
        The parameters and their gradients are left as they were.
        """
        h = self._check_input(x)
        if not 0 <= layer_index < len(self.layers):
            raise ValueError(f"layer_index {layer_index} outside 0..{len(self.layers) - 1}")
        classes = np.broadcast_to(np.asarray(classes, dtype=np.int64), (len(h),))
        if classes.size and (classes.min() < 0 or classes.max() >= self.num_classes):
            raise ValueError(f"classes must lie in [0, {self.num_classes})")
        outputs: list[np.ndarray] = []
        for i, layer in enumerate(self.layers):
            args = [h if j < 0 else outputs[j] for j in self.sources[i]]
            outputs.append(layer.forward(*args, train=False, record=i > layer_index))
        activation = outputs[layer_index]
        pending: dict[int, np.ndarray] = {}
        last = len(self.layers) - 1
        grad = np.zeros_like(outputs[last])
        grad[np.arange(len(h)), classes] = 1
        pending[last] = grad
        saved_flags = [layer.input_grad for layer in self.layers]
        try:
            for i in range(last, layer_index, -1):
                g = pending.pop(i, None)
                if g is None:
                    continue
                layer = self.layers[i]
                layer.input_grad = True
                dx = layer.backward(g)
                layer.grads = {}
                parts = dx if getattr(layer, "multi_input", False) else [dx]
                for j, d in zip(self.sources[i], parts, strict=True):
                    if j >= layer_index:
                        pending[j] = d if j not in pending else pending[j] + d
        finally:
            for layer, flag in zip(self.layers, saved_flags, strict=True):
                layer.input_grad = flag
                layer.clear()
        grad = pending.get(layer_index)
        if grad is None:
            grad = np.zeros_like(activation)
        return activation, grad.reshape(activation.shape)

    def predict_proba(self, x) -> np.ndarray:
        """Class probabilities (N, classes) float32: the softmax of the evaluation logits."""
        return softmax(self.forward(x, train=False))

    def loss_and_grads(
        self,
        x,
        y,
        loss: str = "cross_entropy",
        train: bool = True,
        return_logits: bool = False,
    ) -> tuple:
        """Mean loss over the batch and the gradient of every trainable parameter (frozen
        layers' parameters get none: see the module docstring).

        ``y``: integer labels (N,) (or an (N, classes) target array). ``loss``:
        "cross_entropy" (default) or "total_error". ``train``: forward in training mode
        (dropout on, batch statistics; batch norm running stats are updated). Returns the loss
        as a float and new arrays keyed like :meth:`parameters`; with ``return_logits`` also
        the forward pass's (N, classes) float32 logits, so a training loop can count correct
        predictions without a second forward pass.
        """
        if loss not in LOSSES:
            raise ValueError(f"unknown loss {loss!r}; expected one of {', '.join(LOSSES)}")
        h = self._check_input(x)
        stages = self._stages()
        logits = self._run(h, train, record=True, stages=stages)
        value, grad = LOSSES[loss](logits, y)
        grads: dict[str, np.ndarray] = {}
        self._backward(grad, stages, grads)
        for layer in self.layers:
            layer.clear()
        # Report in forward order, like parameters().
        ordered = {k: grads[k] for k in self.trainable_parameters() if k in grads}
        return (value, ordered, logits) if return_logits else (value, ordered)

    # ------------------------------------------------------------------ randomness

    def rng_state(self) -> dict:
        """The dropout RNG's state (a JSON-compatible dict) for checkpoints."""
        return {"dropout": self.dropout_rng.bit_generator.state}

    def set_rng_state(self, state: Mapping) -> None:
        """Restore a state from :meth:`rng_state`, so later dropout masks repeat exactly."""
        try:
            self.dropout_rng.bit_generator.state = dict(state["dropout"])
        except (KeyError, TypeError, ValueError) as e:
            raise ValueError(
                f"not a network RNG state ({e}); expected rng_state()'s dict"
            ) from None

    def __repr__(self) -> str:
        name = self.spec.name or "network"
        return f"Network({name!r}, {len(self.layers)} layers, {self.num_parameters()} parameters)"


_warm_lock = threading.Lock()
_warmed = False


def warm_up() -> None:
    """Compile (or load from the cache) every kernel the engine uses, on tiny float32 inputs,
    once per process: later calls return at once (a call made while another thread warms up
    waits for it, so either way the kernels are ready on return).

    Takes seconds on a cold cache and well under one on a warm one; the GUI runs it off its
    thread at start-up so pressing Train never waits for the compiler. (Running it again at
    every Train press cost the GUI thread a 60 ms stall: its many small Python-level calls
    compete for the interpreter lock.)
    """
    global _warmed
    with _warm_lock:
        if not _warmed:
            _warm_up_kernels()
            _warmed = True


def _warm_up_kernels() -> None:
    from engine.kernels import direct_conv
    from engine.optim import SGD, Adam

    if direct_conv.available():
        # The direct convolution's micro-kernels: one or two vectors of filters, forward and
        # weight gradient (whose tile height is at most a kernel row's KW*C values).
        lanes = direct_conv.tile(1)[1]
        for filters in (lanes, 2 * lanes):
            mr, vl, nv = direct_conv.tile(filters)
            direct_conv.kernel(mr, vl, nv)
            for rows in range(1, mr + 1):
                direct_conv.kernel(rows, vl, nv, weight_grad=True)
        from engine.kernels import direct_conv_rows

        for nv in (1, 2):  # the row kernel: every block size a layer of 1-64 filters uses
            sizes = {k1 - k0 for f in range(1, 65) for k0, k1 in direct_conv_rows.blocks(f, nv)}
            for size in sorted(sizes):
                if nv == 2 or size <= direct_conv_rows.MAX_FILTERS:
                    direct_conv_rows.kernel(size, nv)
        for width in (3, 5):  # its weight gradient for the common 3x3 and 5x5 kernels
            for block in range(1, direct_conv_rows.weight_grad_block(8, width) + 1):
                direct_conv_rows.weight_grad_kernel(block, width)
        from engine.kernels import nchw_store

        nchw_store.warm_up()  # the layout transposes (their shapes are too big for the net below)
    rng = np.random.default_rng(0)
    # Every kernel variant a network can reach: convolutions on one channel (column patches)
    # and on several (row patches); the fused epilogues (relu + max pool, relu alone, none);
    # max pooling on its own with and without padding; the merges; and the other layer kinds.
    stack: list[Layer] = [
        Conv2D(1, 1, (1, 1)),
        Conv2D(1, 3, (3, 3), (1, 1), (1, 1)),
        ReLU(),
        MaxPool2D((2, 2)),
        Conv2D(3, 4, (2, 2), (1, 1), (0, 0)),
        BatchNorm(4),
        LeakyReLU(0.1),
        MaxPool2D((2, 2), (1, 1), (1, 1)),
        Conv2D(4, 4, (1, 1), (1, 1), (0, 0), bias=False),
        ReLU(),
        LpPool2D(2.0, (1, 1)),
        Add(2),
        Concat((4, 4)),
        Conv2D(8, 4, (2, 2)),  # short row patches: the (K, m) product
        AvgPool2D((2, 2), (1, 1), (1, 1)),
        Sigmoid(),
        Conv2D(4, 4, (3, 3), (1, 1), (1, 1)),  # row patches, (m, K) product read transposed
        Tanh(),
        AvgPool2D((2, 2)),  # fused: bias + tanh + average pool
        Conv2D(4, 4, (3, 3), (1, 1), (1, 1)),  # into the fused relu + max pool epilogue
        ReLU(),
        MaxPool2D((2, 2)),
        Conv2D(4, 4, (1, 1)),  # column patches into a fused global average pool
        GlobalAvgPool(),
        Dense(4, 4),
        Add(2),  # with the global pool's output: a residual add fused with the relu after it
        ReLU(),
        Flatten(),
        Dense(4, 5),
        BatchNorm(5),  # after a dense layer: the per-feature kernels, and unfolded in evaluation
        Tanh(),
        Dropout(0.5, rng),
        Dense(5, 3),
    ]
    for layer in stack:
        if "weight" in layer.params and not isinstance(layer, BatchNorm):
            w = layer.params["weight"]
            w[...] = rng.standard_normal(w.shape).astype(np.float32)
    # A chain, except for a residual add and a concatenation after the second ReLU (9), and
    # a residual add after the global pool.
    inputs = [(i - 1,) for i in range(len(stack))]
    inputs[11], inputs[12] = (9, 10), (11, 9)
    gap = next(i for i, layer in enumerate(stack) if type(layer) is GlobalAvgPool)
    inputs[gap + 2] = (gap + 1, gap)
    spec = NetworkSpec(InputSpec(1, 8, 8), (), "warm-up")
    net = Network(spec, stack, rng, inputs)
    x = rng.standard_normal((2, 1, 8, 8)).astype(np.float32)
    net.forward(x)
    for optimiser in (SGD(0.01, momentum=0.9, weight_decay=1e-4), Adam(1e-3, weight_decay=1e-4)):
        for loss in LOSSES:
            _, grads = net.loss_and_grads(x, np.array([0, 2]), loss=loss)
            optimiser.step(net.parameters(), grads)
