"""The stub against the kernel: one mutated loader run as PT_INTERP by the kernel and by
the stub, both outcomes classified and compared (bench/differential.py)."""
