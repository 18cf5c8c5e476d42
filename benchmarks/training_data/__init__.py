"""Training-data benchmarks: the memory and the decoding throughput of streamed image folders."""
