"""One module per target format: each writes its files from the PyTorch model (or the simplified ONNX graph) and
returns their manifest entries (``export_entries``); ``shufflenet.export.pipeline`` chains them."""
