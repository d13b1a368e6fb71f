"""router.delivery."""
