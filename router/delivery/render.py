"""Pure rendering: what a notification says, per channel, from the warning and the action."""

from __future__ import annotations

from typing import Any

from router.domain.reports import FIGURES, KIND_NAMES, ReportKind

_REPORT_KINDS = frozenset(k.value for k in ReportKind)
# What opens a construct in the robots' markdown (WeCom, DingTalk): headings, quotes, emphasis, code,
# links and images, HTML such as <font>, strike-through, tables. In a department's own words each becomes
# its full-width form, which reads the same in Chinese text and is never markup.
_MARKUP = str.maketrans("#>*_`[]<~|", "＃＞＊＿｀［］＜～｜")

KIND_ZH = {
    "direct_report": "直报",
    "phone_report": "电话报告",
    "report": "报告",
    "respond": "响应",
    "disseminate": "传播",
    "task": "任务",
    "inform": "预警更新",
    "lift": "预警解除",
    "report_copy": "情况报告",
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


def report_title(report: dict[str, Any], filer: str, clause: str) -> str:
    """A situation report's title (DESIGN §13): who reports what, under which clause it is sent."""
    return f"【情况报告】{filer}：{_kind_zh(report['kind'])} §{clause}"


def report_text(
    report: dict[str, Any], filer: str, clauses: list[str], short: bool = False, markdown: bool = False
) -> str:
    """The body: who, what was observed when and where, each figure with its unit, the reporter's words
    (for a markdown channel, as plain text: a report cannot make itself look like a warning's heading or
    carry a link the reader did not see)."""
    kind = _kind_zh(report["kind"])
    observed = str(report.get("observed_at", ""))[11:16]
    figures = "、".join(
        f"{FIGURES[name].name}{value:g}{FIGURES[name].unit}" if name in FIGURES else f"{name} {value:g}"
        for name, value in report.get("figures", {}).items()
    )
    words = str(report.get("text") or "")
    if short:
        words = words.split("\n")[0][:80]
    if markdown:
        words = words.translate(_MARKUP)
    areas = f"（范围 {','.join(report['areas'])}）" if report.get("areas") else ""
    correction = "（更正/续报）" if report.get("replaces") else ""
    parts = [p for p in (figures, words) if p]
    return (
        f"【曲靖情况报告】{filer}报告{kind}{correction}，{observed}{areas}：{'；'.join(parts) or '见报告'}。"
        f"（预案§{'、§'.join(clauses)}）"
    )


def report_payload(report: dict[str, Any], clauses: list[str]) -> dict[str, Any]:
    """The structured event for webhooks: the report as filed and the clauses it is sent under."""
    return {"report": report, "clauses": clauses}


def _kind_zh(kind: str) -> str:
    return KIND_NAMES[ReportKind(kind)] if kind in _REPORT_KINDS else kind
