"""Patching a program: read → plan → write.  The stub's config block, the prebuilt stubs,
the loader candidates, the pure plan, and the one writer of ELF bytes."""
