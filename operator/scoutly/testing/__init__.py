"""Local real control plane + FerretDB for tests and `scoutly dev`."""
