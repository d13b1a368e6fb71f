"""Routing, pure: (warning, configuration, now) → decision. Merge, lifecycle (updates, lifts), explain.

route.py    the decision: which department of which jurisdiction must do what, by when, under which clause
explain.py  the decision in words (``warnroute route --format text``)
reports.py  where a situation report goes: its recipients and the clauses that send it there

Imports the domain and the plan only: no store, channel, service or entrypoint (an import contract).
"""
