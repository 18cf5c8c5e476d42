"""One module per runtime that runs an exported file here (ONNX Runtime, LiteRT on x86, LiteRT on arm64 under
emulation, the Core ML evaluator, Qualcomm's HTP emulator), all behind ``base.Runner``; ``loader.load_runner`` picks
the one for a manifest entry. The export's parity step and every benchmark run files through here."""
