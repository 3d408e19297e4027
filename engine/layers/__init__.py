"""Layers, one module per family; each layer's backward sits right beside its forward.

Every layer follows :class:`engine.layers.base.Layer`: ``forward(x, train, record)``,
``backward(dy)``, ``params`` / ``buffers`` / ``grads`` named as PyTorch names them.
"""

from engine.layers.activations import LeakyReLU, ReLU, Sigmoid, Tanh
from engine.layers.base import Layer
from engine.layers.batch_norm import BatchNorm
from engine.layers.conv import Conv2D
from engine.layers.dense import Dense, Flatten
from engine.layers.dropout import Dropout
from engine.layers.pooling import AvgPool2D, GlobalAvgPool, MaxPool2D

__all__ = [
    "AvgPool2D",
    "BatchNorm",
    "Conv2D",
    "Dense",
    "Dropout",
    "Flatten",
    "GlobalAvgPool",
    "Layer",
    "LeakyReLU",
    "MaxPool2D",
    "ReLU",
    "Sigmoid",
    "Tanh",
]
