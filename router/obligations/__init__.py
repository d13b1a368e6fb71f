"""router.obligations."""
