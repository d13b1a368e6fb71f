"""router.routing."""
