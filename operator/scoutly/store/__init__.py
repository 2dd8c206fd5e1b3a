"""MongoDB access: the only package that talks to MongoDB."""
