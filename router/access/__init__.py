"""Who may do what: principals, roles, tokens, request signatures, signed acknowledgement links.

roles.py     principals and roles, the rules of who may (pure)
gate.py      who is calling, may they; every denial counted and audited (no web framework)
tokens.py    issuing API tokens (the store keeps only their digests)
acklinks.py  signed one-click acknowledgement links, page sessions, SMS reply codes

Imports the domain, plan and store; never a channel, a web framework or an entrypoint.
"""
