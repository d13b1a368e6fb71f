"""router.domain."""
