"""The scrape Job's workload: fetch postings, dedupe, match, record."""
