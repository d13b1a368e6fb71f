"""Pure rendering: what a notification says, per channel, from the warning and the action."""

from __future__ import annotations

from typing import Any

KIND_ZH = {
    "direct_report": "直报",
    "phone_report": "电话报告",
    "report": "报告",
    "respond": "响应",
    "disseminate": "传播",
    "task": "任务",
    "inform": "预警更新",
    "lift": "预警解除",
}


def title(warning: dict[str, Any], action: dict[str, Any], drill: bool) -> str:
    mark = "【演练】" if drill else ""
    head = warning.get("headline") or f"{warning.get('hazard_name', '')}预警"
    return f"{mark}{head}：{KIND_ZH.get(action['kind'], action['kind'])} §{action['clause']}"


def text(warning: dict[str, Any], action: dict[str, Any], drill: bool, short: bool = False) -> str:
    """The body: who, what (quoted from the plan), the deadline; SMS and voice get the short form."""
    mark = "【演练，非真实预警】" if drill else ""
    due = action["due_at"][11:16]
    body = action["text"] if not short else action["text"].split("\n")[0][:120]
    areas = f"（范围 {','.join(action['areas'])}）" if action.get("areas") else ""
    return (
        f"{mark}【曲靖气象预警】{warning.get('headline') or warning.get('hazard_name', '')}。"
        f"请于{due}前落实（预案§{action['clause']}）：{body}{areas}"
    )


def acknowledge_hint(link: str | None, code: int | None, channel: str) -> str:
    """How to acknowledge, as the channel allows: a reply code by SMS, a signed link elsewhere."""
    parts = []
    if channel == "sms" and code is not None:
        parts.append(f"回复“确认 {code}”")
    if link and channel != "voice":
        parts.append(f"点击 {link}")
    return f" 收到请确认：{'或'.join(parts)}。" if parts else ""


def escalation_title(action: dict[str, Any], about: str, drill: bool) -> str:
    mark = "【演练】" if drill else ""
    return f"{mark}【逾期未确认】{about}：{KIND_ZH.get(action['kind'], action['kind'])} §{action['clause']}"


def escalation_text(warning: dict[str, Any], action: dict[str, Any], about: str, deadline: str, drill: bool) -> str:
    """To the duty office: who has not acknowledged what, and by when it must be done."""
    mark = "【演练】" if drill else ""
    head = warning.get("headline") or f"{warning.get('hazard_name', '')}预警"
    return (
        f"{mark}【值班提醒】{about}尚未确认“{head}”的{KIND_ZH.get(action['kind'], action['kind'])}"
        f"（预案§{action['clause']}），时限{deadline}。请电话督促落实，或代为登记确认并注明原因。"
    )


def payload(warning: dict[str, Any], action: dict[str, Any], obligation_id: str, drill: bool) -> dict[str, Any]:
    """The structured event for webhooks: the obligation, its action and the warning it comes from."""
    return {
        "obligation_id": obligation_id,
        "drill": drill,
        "action": action,
        "warning": {
            k: warning.get(k)
            for k in (
                "id",
                "product",
                "hazard",
                "hazard_name",
                "severity",
                "level",
                "jurisdiction",
                "areas",
                "msg_type",
                "status",
                "issued_at",
                "onset",
                "expires",
                "headline",
            )
        },
    }
