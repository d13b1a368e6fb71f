"""Integration tests: the store on real SQLite files and a real PostgreSQL server, the dispatcher, Kafka
against a real broker, security, deploy, the import contracts."""
