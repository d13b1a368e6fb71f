"""Tools beside the product: the local provider simulator and the demo that replays a storm through it.

simulator.py  plays every receiver (webhooks, SMS and voice gateways, robots) on loopback
demo.py       ``warnroute demo``: router and simulator on loopback, a storm replayed through real HTTP

An entrypoint (run from the CLI); imported by nothing of the product.
"""
