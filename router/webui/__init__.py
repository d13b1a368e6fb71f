"""The duty office's dashboard and the department pages: server-rendered shells (Jinja2), data as JSON
from the API, live over Server-Sent Events, plain JavaScript. Login is by the same tokens as the API."""
