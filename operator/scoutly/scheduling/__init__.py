"""Pure scheduling decisions (no I/O; the clock is an argument)."""
