"""Fast numba kernels and their naive numpy references.

- :mod:`engine.kernels.conv`: im2col / col2im, im2row / row2im ((kh, kw, c) patch rows) and
  the layout moves around the conv GEMM.
- :mod:`engine.kernels.conv_epilogue`: the fused bias + activation (+ max pool) epilogues of a
  convolution and their gradients; :mod:`engine.kernels.epilogue`: the average-pool one.
- :mod:`engine.kernels.direct_conv`, :mod:`engine.kernels.direct_conv_rows`: the generated
  direct-convolution micro-kernels (float32, LLVM IR), beside the GEMM route.
- :mod:`engine.kernels.pool`: max pooling with argmax, average pooling.
- :mod:`engine.kernels.activations`: relu, leaky relu, sigmoid, tanh.
- :mod:`engine.kernels.updates`: SGD and Adam parameter updates.
- :mod:`engine.kernels.workers`: the engine's worker threads (batch chunks, one-thread BLAS).

Every kernel is ``@njit(cache=True, nogil=True)`` with flags from :mod:`engine.config`, works
for float32 and float64 alike, and has a ``*_naive`` reference beside it.
"""
