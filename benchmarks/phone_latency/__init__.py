"""Latency on Android phones: ``benchmark_model`` driven over adb, its output parsed, the device described."""
