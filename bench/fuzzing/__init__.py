"""A structure-aware fuzzer for relinterp's patch, inspect and restore (bench/fuzz.py)."""
