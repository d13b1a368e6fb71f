"""router.plan."""
