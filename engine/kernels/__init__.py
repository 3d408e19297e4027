"""Fast numba kernels and their naive numpy references.

- :mod:`engine.kernels.conv`: im2col / col2im and the layout moves around the conv GEMM.
- :mod:`engine.kernels.pool`: max pooling with argmax, average pooling.
- :mod:`engine.kernels.activations`: relu, leaky relu, sigmoid, tanh.
- :mod:`engine.kernels.updates`: SGD and Adam parameter updates.

Every kernel is ``@njit(cache=True, nogil=True)`` with flags from :mod:`engine.config`, works
for float32 and float64 alike, and has a ``*_naive`` reference beside it.
"""
