"""Delivery: the dispatcher and what it needs to send a notification on its channel.

dispatcher.py  claims due notifications, renders, sends through a channel handler, records each attempt
retry.py       the retry schedule (capped backoff with jitter) and which errors retry
render.py      notification texts and payloads, per channel
feed.py        the live department feed (the SSE hub)
canary.py      the self-test message through every channel, and whether it came back

A service: imports the domain, plan, store and channel handlers; never an entrypoint.
"""
