"""Latency on this machine: the exported files and PyTorch timed on the host, per-unit profiles, the paper's Table 8,
the side-by-side with a peer converter, the export benchmark and the arm64 emulation benchmark."""
