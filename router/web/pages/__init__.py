"""The duty office's dashboard and the department pages: views, templates, static files (an entrypoint)."""
