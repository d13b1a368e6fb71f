"""The plan as data: the YAML schema, loading with cross-checks, secret references, coverage, the plan's text.

schema.py    strict pydantic models of warnings.yaml and departments.yaml (local checks)
config.py    load + cross-checks, compiled into the ``RoutingConfig`` routing trusts (ladders included)
yamlload.py  YAML with line numbers, for errors that name file:line: path: problem
secrets.py   ``{env: NAME}`` / ``{file: PATH}`` references resolved when a channel needs them
coverage.py  clause → rules → test cases; every quoted text checked against the plan
text.py      the plan's text, by clause

Imports only the domain (and reads files): no store, channel, service or entrypoint.
"""
