"""Kafka mode: warnings in from an ingest topic, actions out to one topic per department, acknowledgements in.

settings.py  connection and topic settings (SASL/TLS included), from WARNROUTE_KAFKA_* variables
topics.py    the topics the configuration implies, created by the admin client
ingest.py    the ingest consumer: commit only after the store has the decision (DLQ for the rest)
actions.py   the relay from the store's obligations to the department action topics
acks.py      the acknowledgement consumer

An entrypoint, like the HTTP API: it calls the services; nothing below it imports it (only the composition root).
"""
