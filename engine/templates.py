"""The classic CNN pattern as a generator of specs.

    input → [[conv → relu] × n → pool?] × m → flatten → [dense → relu] × k → dense

``template(n=2, m=2, k=1)`` is the pattern the CS231n notes draw; every hyperparameter is an
argument, and the result is an ordinary, validated NetworkSpec. ``block="residual"`` puts
ResNet's basic block (two convs and a shortcut, with a 1×1 projection where the channels
change) in place of each conv → relu, and ``block="inception"`` an Inception module whose
four branches add up to the stage's filters (engine.blocks).
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

from engine.blocks import GraphBuilder, inception_module, residual_block
from engine.graph import INPUT
from engine.spec import InputSpec, LayerSpec, NetworkSpec, SpecError

BLOCKS = ("plain", "residual", "inception")


def _count(name: str, value: Any, lowest: int) -> int:
    if not isinstance(value, int) or isinstance(value, bool) or value < lowest:
        raise ValueError(f"{name} must be an integer ≥ {lowest}, got {value!r}")
    return value


def _per_stage(name: str, value: Any, stages: int, doubling: bool) -> tuple[int, ...]:
    """A sequence of ``stages`` positive integers, or one integer (doubled at each stage
    when ``doubling``, else repeated)."""
    if isinstance(value, int) and not isinstance(value, bool):
        _count(name, value, 1)
        return tuple(value * (2**s if doubling else 1) for s in range(stages))
    if not isinstance(value, Sequence) or isinstance(value, str):
        raise ValueError(f"{name} must be an integer or a sequence of integers, got {value!r}")
    if len(value) != stages:
        raise ValueError(f"{name} must give {stages} values (one per stage), got {len(value)}")
    return tuple(_count(f"{name}[{i}]", v, 1) for i, v in enumerate(value))


def template(
    n: int = 2,
    m: int = 2,
    k: int = 1,
    filters: int | Sequence[int] | None = None,
    kernel: int = 3,
    pool: bool = True,
    pool_size: int = 2,
    dense_units: int | Sequence[int] = 128,
    classes: int = 10,
    input: tuple[int, int, int] = (1, 28, 28),
    padding: int | str = "same",
    name: str = "",
    block: str = "plain",
) -> NetworkSpec:
    """The spec input → [[conv → relu]×n → pool?]×m → flatten → [dense → relu]×k → dense.

    - ``n`` convs per stage (≥ 1), ``m`` stages (≥ 0), ``k`` hidden dense layers (≥ 0);
    - ``filters``: one count per stage (a sequence of length m), or a single int that doubles
      at each stage (32 → 32, 64, 128, ...), as VGG does; None means 32 doubling, so
      (32, 64) for the default two stages;
    - ``kernel``: the conv kernel size; ``padding``: "same", "valid" or an integer;
    - ``pool``: a max pool of ``pool_size`` (stride = size) closes each stage;
    - ``dense_units``: one count per hidden dense layer (a sequence of length k), or a single
      int used for all of them;
    - ``classes``: units of the final dense layer; ``input``: (C, H, W);
    - ``block``: "plain" (conv → relu), "residual" (a basic block with batch norm and a
      shortcut; its convs keep the size, so ``padding`` is ignored) or "inception" (a module
      of four branches whose outputs make the stage's filters, at least 8).

    Raises ValueError naming the bad argument. The shapes are not checked here: run
    engine.shapes.infer_shapes on the result (a 28×28 input survives at most four 2× pools).
    """
    n = _count("n", n, 1)
    m = _count("m", m, 0)
    k = _count("k", k, 0)
    kernel = _count("kernel", kernel, 1)
    pool_size = _count("pool_size", pool_size, 1)
    classes = _count("classes", classes, 1)
    if not isinstance(pool, bool):
        raise ValueError(f"pool must be true or false, got {pool!r}")
    stage_filters = _per_stage("filters", 32 if filters is None else filters, m, doubling=True)
    units = _per_stage("dense_units", dense_units, k, doubling=False)
    if padding not in ("same", "valid") and (
        not isinstance(padding, int) or isinstance(padding, bool) or padding < 0
    ):
        raise ValueError(f'padding must be "same", "valid" or an integer ≥ 0, got {padding!r}')
    if (
        not isinstance(input, Sequence)
        or len(input) != 3
        or not all(isinstance(x, int) and not isinstance(x, bool) and x >= 1 for x in input)
    ):
        raise ValueError(
            f"input must be (channels, height, width) positive integers, got {input!r}"
        )

    if block not in BLOCKS:
        raise ValueError(f"block must be one of {', '.join(BLOCKS)}, got {block!r}")
    label = name or f"template n={n} m={m} k={k}" + ("" if block == "plain" else f" {block}")
    if block != "plain":
        return _branched(block, n, m, stage_filters, kernel, pool, pool_size, units, classes,
                         input, label)  # fmt: skip
    layers: list[LayerSpec] = []
    try:
        for stage in range(m):
            for _ in range(n):
                layers.append(
                    LayerSpec.create(
                        "conv2d", filters=stage_filters[stage], kernel=kernel, padding=padding
                    )
                )
                layers.append(LayerSpec.create("relu"))
            if pool:
                layers.append(LayerSpec.create("max_pool2d", size=pool_size))
        layers.append(LayerSpec.create("flatten"))
        for u in units:
            layers.append(LayerSpec.create("dense", units=u))
            layers.append(LayerSpec.create("relu"))
        layers.append(LayerSpec.create("dense", units=classes))
        c, h, w = input
        spec = NetworkSpec(InputSpec(1, 1, 1)).with_input(channels=c, height=h, width=w)
    except SpecError as e:  # a value beyond the catalogue's range, e.g. kernel 5000
        raise ValueError(str(e)) from None
    return spec.with_layers(layers).with_name(label)


def _branched(block, n, m, stage_filters, kernel, pool, pool_size, units, classes, input, name):
    """The template with residual blocks or Inception modules in place of conv → relu."""
    g = GraphBuilder()
    x, channels = INPUT, input[0]
    try:
        for stage in range(m):
            filters = stage_filters[stage]
            for j in range(n):
                tag = f"s{stage + 1}b{j + 1}"
                if block == "residual":
                    x = residual_block(g, x, filters, 1, channels, name=tag)
                else:
                    if filters < 8:
                        raise ValueError(
                            f"an inception stage needs at least 8 filters, got {filters}"
                        )
                    c1, c3, c5 = filters // 4, filters // 2, filters // 8
                    pp = filters - c1 - c3 - c5
                    five = kernel + 2 if kernel % 2 else 5
                    reduce3, reduce5 = max(1, c3 // 2), max(1, c5 // 2)
                    x = inception_module(
                        g, x, c1, reduce3, c3, reduce5, c5, pp, five=five, name=tag
                    )
                channels = filters
            if pool:
                x = g.layer("max_pool2d", x, f"s{stage + 1}_pool", size=pool_size)
        x = g.layer("flatten", x, "flatten")
        for i, u in enumerate(units):
            x = g.layer("dense", x, f"fc{i + 1}", units=u)
            x = g.layer("relu", x, f"fc{i + 1}_relu")
        g.layer("dense", x, "logits", units=classes)
        return g.spec(tuple(input), name=name)
    except SpecError as e:
        raise ValueError(str(e)) from None
