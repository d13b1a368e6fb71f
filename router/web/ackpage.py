"""The small pages behind a one-click acknowledgement link: confirm, done, refused. Pure."""

from __future__ import annotations

import html
from typing import Any

from router.delivery.render import KIND_ZH
from router.plan.config import RoutingConfig
from router.store import AckResult

_HEAD = (
    '<!doctype html><html lang="zh"><head><meta charset="utf-8">'
    '<meta name="viewport" content="width=device-width, initial-scale=1"><title>{title}</title>'
    "<style>body{{font-family:sans-serif;margin:1.5em;max-width:36em}}button{{font-size:1.2em;padding:.5em 2em}}"
    "input{{font-size:1em;padding:.3em}}</style></head><body>"
)


def confirm(o: dict[str, Any], config: RoutingConfig) -> str:
    e = html.escape
    dept = config.departments.get(o["department"])
    juris = config.jurisdictions.get(o["jurisdiction"])
    who = f"{juris.zh if juris else o['jurisdiction']}{dept.zh if dept else o['department']}"
    action = o["action"]
    if o["state"] == "acknowledged":
        status = f"<p>已于 {e(o['acknowledged_at'] or '')} 由 {e(o['acknowledged_by'] or '')} 确认。</p>"
        form = ""
    elif o["ack_mode"] == "confirm":
        status = "<p>电话报告须由本人接听电话按键确认，或由值班室代为登记。</p>"
        form = ""
    else:
        status = ""
        form = (
            '<form method="post"><p><label>确认人 <input name="by" maxlength="100" autocomplete="name"></label></p>'
            '<p><button type="submit">确认收到 Acknowledge</button></p></form>'
        )
    return (
        _HEAD.format(title="确认预警任务")
        + f"<h1>{e(o['headline'] or '')}</h1><p><b>{e(who)}</b> — {e(KIND_ZH.get(o['kind'], o['kind']))}"
        f"（预案§{e(action['clause'])}），时限 {e(o['deadline'] or action['due_at'])}</p>"
        f"<blockquote>{e(action['text'])}</blockquote>{status}{form}</body></html>"
    )


def done(result: AckResult) -> str:
    if result.status in ("acknowledged", "already"):
        body = f"<h1>已确认 Acknowledged</h1><p>{html.escape(result.acknowledged_by or '')}</p>"
    else:
        body = f"<h1>未能确认</h1><p>{html.escape(result.problem)}</p>"
    return _HEAD.format(title="确认") + body + "</body></html>"


def refused(problem: str) -> str:
    return _HEAD.format(title="链接无效") + f"<h1>链接无效</h1><p>{html.escape(problem)}</p></body></html>"
