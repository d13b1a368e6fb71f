"""Channel kinds: the words a department's channels are listed in, and which of them warnroute pushes to."""

from __future__ import annotations

CHANNEL_KINDS = ("feed", "webhook", "sms", "voice", "email", "wecom", "dingtalk", "feishu", "kafka")
"""Every channel kind a department may list; each has a handler in router/handlers/."""

PUSH_KINDS = ("webhook", "sms", "voice", "email", "wecom", "dingtalk", "feishu")
"""Channels the router pushes to (feed and kafka are pulled or streamed, and always written)."""

CONFIRM_KEY = "1"
"""The key a callee presses to confirm a voice call (a §4.3 phone report is done by it)."""
