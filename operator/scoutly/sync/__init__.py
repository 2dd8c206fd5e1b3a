"""Preference sync: the app's tracked companies (MongoDB) become ScrapeTargets (docs/sync.md)."""
