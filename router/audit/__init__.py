"""The audit trail: the hash chain, its verification, and the per-warning compliance report.

chain.py   how each event is linked to the one before (pure)
verify.py  the chain as stored, checked end to end
report.py  the compliance report (JSON and a page): every obligation, how late, the breaches and why

Imports the domain and the plan; the store imports ``chain`` to append. Never a channel or an entrypoint.
"""
