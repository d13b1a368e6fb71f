"""router.tools."""
