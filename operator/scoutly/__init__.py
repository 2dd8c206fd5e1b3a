"""Scoutly scrape operator: ScrapeTarget custom resources scheduled as Kubernetes Jobs."""

from importlib.metadata import PackageNotFoundError, version

try:
    __version__ = version("scoutly-operator")
except PackageNotFoundError:  # running from a source tree without an install
    __version__ = "0.0.0+src"
