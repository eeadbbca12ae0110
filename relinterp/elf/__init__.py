"""Reading ELF files: one model per file (header, program headers, dynamic table, strings)."""
