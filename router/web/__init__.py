"""router.web."""
