"""`relinterp bundle`: plan a self-contained tree, assemble it, archive it."""
