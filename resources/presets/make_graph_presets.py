"""Writes the graph presets (ResNet, GoogLeNet, DenseNet) from engine.blocks:

    python resources/presets/make_graph_presets.py

Each preset's description states its parameter count, computed by engine.shapes; the
large ones match torchvision's models exactly (tests/engine/test_graph_presets.py checks).
"""

from __future__ import annotations

from pathlib import Path

from engine.blocks import (
    GraphBuilder,
    bottleneck_block,
    dense_block,
    inception_module,
    residual_block,
    transition,
)
from engine.graph import INPUT
from engine.shapes import infer_shapes

HERE = Path(__file__).resolve().parent


def resnet_cifar(depth: int = 20):
    """He et al. 2016, section 4.2: 6n + 2 layers on 32×32, stages of 16, 32 and 64 filters
    (n = 3 for ResNet-20), projection shortcuts (option B) where the shape changes."""
    n = (depth - 2) // 6
    g = GraphBuilder()
    x = g.conv(INPUT, 16, 3, padding=1, bn=True, relu=True, name="stem")
    channels = 16
    for stage, filters in enumerate((16, 32, 64)):
        for block in range(n):
            stride = 2 if stage > 0 and block == 0 else 1
            x = residual_block(g, x, filters, stride, channels, name=f"s{stage + 1}b{block + 1}")
            channels = filters
    x = g.layer("global_avg_pool", x, "pool")
    g.layer("dense", x, "fc", units=10)
    return (
        g,
        (3, 32, 32),
        f"ResNet-{depth}",
        (f"CIFAR ResNet-{depth} of He et al. (2016) with projection shortcuts (option B)"),
    )


def resnet_imagenet(blocks, bottleneck: bool, name: str):
    g = GraphBuilder()
    x = g.conv(INPUT, 64, 7, 2, 3, bn=True, relu=True, name="stem")
    x = g.layer("max_pool2d", x, "stem_pool", size=3, stride=2, padding=1)
    channels = 64
    for stage, (count, width) in enumerate(zip(blocks, (64, 128, 256, 512), strict=True)):
        for block in range(count):
            stride = 2 if stage > 0 and block == 0 else 1
            tag = f"layer{stage + 1}.{block}"
            if bottleneck:
                x = bottleneck_block(g, x, width, stride, channels, name=tag)
                channels = width * 4
            else:
                x = residual_block(g, x, width, stride, channels, name=tag)
                channels = width
    x = g.layer("global_avg_pool", x, "pool")
    g.layer("dense", x, "fc", units=1000)
    return g, (3, 224, 224), name, f"{name} as torchvision builds it (ImageNet, 1000 classes)"


def googlenet():
    """torchvision's GoogLeNet without the auxiliary classifiers. Its ceil-mode pools are
    written as pools with padding 1, which give the same sizes (56, 28, 14, 7)."""
    g = GraphBuilder()
    eps = 1e-3
    x = g.conv(INPUT, 64, 7, 2, 3, bn=True, relu=True, eps=eps, name="conv1")
    x = g.layer("max_pool2d", x, "pool1", size=3, stride=2, padding=1)
    x = g.conv(x, 64, 1, bn=True, relu=True, eps=eps, name="conv2")
    x = g.conv(x, 192, 3, padding=1, bn=True, relu=True, eps=eps, name="conv3")
    x = g.layer("max_pool2d", x, "pool2", size=3, stride=2, padding=1)
    table = {
        "3a": (64, 96, 128, 16, 32, 32), "3b": (128, 128, 192, 32, 96, 64),
        "4a": (192, 96, 208, 16, 48, 64), "4b": (160, 112, 224, 24, 64, 64),
        "4c": (128, 128, 256, 24, 64, 64), "4d": (112, 144, 288, 32, 64, 64),
        "4e": (256, 160, 320, 32, 128, 128), "5a": (256, 160, 320, 32, 128, 128),
        "5b": (384, 192, 384, 48, 128, 128),
    }  # fmt: skip
    for tag, widths in table.items():
        x = inception_module(g, x, *widths, five=3, eps=eps, name=f"inception{tag}")
        if tag == "3b":
            x = g.layer("max_pool2d", x, "pool3", size=3, stride=2, padding=1)
        if tag == "4e":
            x = g.layer("max_pool2d", x, "pool4", size=2, stride=2)
    x = g.layer("global_avg_pool", x, "pool")
    x = g.layer("dropout", x, "dropout", rate=0.2)
    g.layer("dense", x, "fc", units=1000)
    return (
        g,
        (3, 224, 224),
        "GoogLeNet",
        (
            "GoogLeNet (Szegedy et al. 2015) as torchvision builds it, without the auxiliary "
            "classifiers"
        ),
    )


def inception_cifar():
    """A small Inception network for 32×32 images that trains on a CPU in minutes."""
    g = GraphBuilder()
    x = g.conv(INPUT, 32, 3, padding=1, bn=True, relu=True, name="stem")
    x = inception_module(g, x, 16, 16, 24, 4, 8, 8, name="inception1")  # 56 channels
    x = g.layer("max_pool2d", x, "pool1", size=2)
    x = inception_module(g, x, 32, 32, 48, 8, 16, 16, name="inception2")  # 112
    x = g.layer("max_pool2d", x, "pool2", size=2)
    x = inception_module(g, x, 48, 48, 64, 8, 16, 16, name="inception3")  # 144
    x = g.layer("global_avg_pool", x, "pool")
    g.layer("dense", x, "fc", units=10)
    return g, (3, 32, 32), "Inception (CIFAR)", "A small Inception network for 32×32 RGB images"


def densenet(blocks, growth: int, init: int, input, stem: str, classes: int, name: str, what):
    g = GraphBuilder()
    if stem == "imagenet":
        x = g.conv(INPUT, init, 7, 2, 3, bn=True, relu=True, name="conv0")
        x = g.layer("max_pool2d", x, "pool0", size=3, stride=2, padding=1)
    else:
        x = g.layer("conv2d", INPUT, "conv0", filters=init, kernel=3, padding=1, bias=False)
    channels = init
    for b, count in enumerate(blocks):
        x = dense_block(g, x, count, growth, name=f"block{b + 1}")
        channels += count * growth
        if b < len(blocks) - 1:
            channels //= 2
            x = transition(g, x, channels, name=f"transition{b + 1}")
    x = g.layer("batch_norm", x, "norm5")
    x = g.layer("relu", x, "relu5")
    x = g.layer("global_avg_pool", x, "pool")
    g.layer("dense", x, "fc", units=classes)
    return g, input, name, what


PRESETS = {
    "resnet20": lambda: resnet_cifar(20),
    "resnet18": lambda: resnet_imagenet((2, 2, 2, 2), False, "ResNet-18"),
    "resnet50": lambda: resnet_imagenet((3, 4, 6, 3), True, "ResNet-50"),
    "googlenet": googlenet,
    "inception-cifar": inception_cifar,
    "densenet121": lambda: densenet((6, 12, 24, 16), 32, 64, (3, 224, 224), "imagenet", 1000,
                                    "DenseNet-121", "DenseNet-121 as torchvision builds it"),
    "densenet-cifar": lambda: densenet((4, 4, 4), 12, 24, (3, 32, 32), "cifar", 10,
                                       "DenseNet (CIFAR)", "A small DenseNet-BC for 32×32 RGB "
                                       "images: three blocks of four layers, growth 12"),
}  # fmt: skip


def make(name: str):
    g, shape, title, what = PRESETS[name]()
    spec = g.spec(shape, name=title, rounding="floor")
    report = infer_shapes(spec)
    assert report.ok, [p.message for p in report.problems]
    text = f"{what}; {report.total_params:,} parameters."
    return spec._replace(description=text)


def main() -> None:
    for name in PRESETS:
        spec = make(name)
        spec.save(HERE / f"{name}.json")
        print(f"{name}: {spec.description}")


if __name__ == "__main__":
    main()
