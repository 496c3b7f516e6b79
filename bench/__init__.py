"""Benchmarks: the pipeline against baselines run side by side on the same broker and workload."""
