"""Everything the commands print, text and JSON, worded in one place: `files` for the
commands that work file by file (patch, restore, inspect), `trees` for the release-tree
commands (bundle, verify), `libraries` for ldd.  The results themselves are
relinterp.report's types (and relinterp.loaders.libraries' for ldd)."""
