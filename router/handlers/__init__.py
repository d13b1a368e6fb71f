"""Channel handlers: one module per delivery mechanism (webhook, SMS, voice, e-mail, IM bots, feed).

The routing core names channels by kind (see ``router.config_schema.CHANNEL_KINDS``); the
handlers that deliver on them belong to the runtime and live here.
"""
