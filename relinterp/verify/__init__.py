"""`relinterp verify`: static checks of a shipped tree, notes on host files, a sandboxed run."""
