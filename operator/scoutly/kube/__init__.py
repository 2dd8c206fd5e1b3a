"""Kubernetes API access (besides kopf's own watches)."""
