"""The HTTP entrypoint: FastAPI routers per area, the SSE feeds, the acknowledgement and dashboard pages.

api.py          the app: one router per area, errors mapped by type (answers.py)
ingest.py       POST warnings          reports.py   warnings, compliance reports, the audit check
obligations.py  acks and receipts      feeds.py     department feeds, pull and live
admin.py        tokens, reload         health.py    liveness, readiness, metrics
ackpage.py      the pages behind a signed link;  pages/  the duty office's dashboard, department pages

On top: it may import anything below it; nothing imports it but the CLI.
"""
