"""router.access."""
