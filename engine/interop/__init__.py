"""Exchange with other tools: PyTorch today (torch_module); ONNX and the PyTorch project export
build on the catalogue's names and modules."""
