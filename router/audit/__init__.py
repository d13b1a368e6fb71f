"""router.audit."""
