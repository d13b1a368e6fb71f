"""router.web.pages."""
