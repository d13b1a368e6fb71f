"""The ingest service: bytes → parse → route → the record one store transaction writes, and the answer.

service.py  ``IngestService.submit``: dedupe, lineage lookup (what an Update or a lift refers to),
            routing, the obligations' opening ladder steps, one durable write, the live feed told

A service: imports the domain, plan, parsers, routing, store and delivery's feed hub; never an entrypoint.
"""
