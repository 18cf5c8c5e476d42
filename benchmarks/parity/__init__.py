"""Parity: every exported file judged against the PyTorch model it came from, on x86 and emulated arm64 kernels,
and where an int8 file drifts layer by layer."""
