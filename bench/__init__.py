"""Benchmarks: figures printed with the machine's size, never pass/fail timing assertions."""
