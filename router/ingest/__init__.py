"""router.ingest."""
