"""End-to-end tests: real ``warnroute serve`` and simulator processes on loopback, kill -9, the dashboard
in real Chromium, the CLI."""
