"""The ScrapeTarget API: typed models and the CRD generated from them."""
