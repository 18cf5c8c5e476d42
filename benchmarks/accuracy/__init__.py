"""Accuracy: top-1/top-5 of checkpoints and exported files on labelled image folders (x86 and emulated arm64), and
the own-photos folder and fine-tuning benchmark built on it."""
