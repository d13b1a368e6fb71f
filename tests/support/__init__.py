"""Test helpers in one place: message builders, fakes, process starters, the Kafka broker and PostgreSQL server."""
