"""Unit tests: pure parts (parsers, routing, plan, ladder, settings) and handlers against fake transports."""
