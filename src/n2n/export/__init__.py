"""Models for tools without n2n-lite: TorchScript, ONNX, BioImage Model Zoo packages."""
