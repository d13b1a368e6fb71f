"""Write a store as a release of warnroute leaves it, and the answers that release gives about it.

    PYTHONPATH=. python tests/data/release_db/write.py OUT_DIR      (run in a checkout of the release)

The storm: 罗平县 blue → orange (an Update), a city Level Ⅱ report, a red gale with phone reports, the
lift; every notification of the first rungs delivered (a recording channel), a receipt that names no send
yet, one acknowledgement by API and one on someone's behalf, ladder steps fired to the breach. Answers:
each warning as the API gives it, its compliance report, feeds, counts, one obligation, the audit check.
The migration test opens a copy with the current store and expects the same answers.
"""

from __future__ import annotations

import asyncio
import dataclasses
import json
import sys
from pathlib import Path
from typing import Any

from prometheus_client import CollectorRegistry

from router.audit import report
from router.audit.verify import verify_store
from router.delivery.feed import FeedHub
from router.ingest.service import IngestService, SentWindow
from router.metrics import Metrics
from router.obligations.scheduler import Scheduler
from router.plan.config import load_config
from router.store import NotificationOutcome, SqliteStore

T0 = 1784073600.0  # 2026-07-15T08:00:00+08:00
NOW = T0 + 3600.0  # when the answers are asked for
WARNINGS = [
    ("53032441600000_rel_0", "rainstorm", "blue", "alert", [], "signal", None, "530324"),
    ("53032441600000_rel_1", "rainstorm", "orange", "update", ["53032441600000_rel_0"], "signal", None, "530324"),
    ("53030041600000_rel_report", "rainstorm", None, "alert", [], "report", "II", "530300"),
    ("53032541600000_rel_gale", "gale", "red", "alert", [], "signal", None, "530325"),
    ("53032441600000_rel_2", "rainstorm", "orange", "cancel", ["53032441600000_rel_1"], "signal", None, "530324"),
]


def message(i: int, spec: tuple[Any, ...]) -> bytes:
    identifier, hazard, severity, msg_type, refs, product, level, where = spec
    code = identifier.split("_")[0]
    body: dict[str, Any] = {
        "schema": "warnroute.warning/1",
        "identifier": identifier,
        "sender": "曲靖市气象局" if where == "530300" else "县气象台",
        "sender_code": code,
        "sent": f"2026-07-15T08:{i * 2:02d}:00+08:00",
        "msg_type": msg_type,
        "references": refs,
        "product": product,
        "hazard": hazard,
        "areas": ["530324", "530323"] if where == "530300" else [where],
        "headline": f"{identifier} headline",
    }
    if severity:
        body["severity"] = severity
    if level:
        body["level"] = level
    return json.dumps(body, ensure_ascii=False).encode()


async def answers_of(store: Any, config: Any, obligation_id: str) -> dict[str, Any]:
    """What the store answers about the storm: the same questions of the release and of the current store."""
    answers: dict[str, Any] = {"warnings": {}, "reports": {}}
    for spec in WARNINGS:
        found = await store.get_warning(spec[0])
        assert found is not None
        answers["warnings"][spec[0]] = found
        answers["reports"][spec[0]] = report.build(found, await store.events_of(spec[0]), config, NOW)
    answers["feeds"] = {
        f"{j}/{d}": [dataclasses.asdict(e) for e in await store.feed(j, d, 0, 1000)]
        for j, d in (("530324", "water"), ("530324", "flood_drought_hq"), ("530300", "government"))
    }
    answers["counts"] = await store.counts()
    answers["obligation"] = await store.get_obligation(obligation_id)
    answers["by_department"] = await store.obligations_of("530325", "water", 50)
    answers["audit"] = repr(await verify_store(store))
    return answers


async def main(out: Path) -> None:
    out.mkdir(parents=True, exist_ok=True)
    clock = [T0]
    config = load_config(Path("config"))
    store = SqliteStore(out / "warnroute.db", clock=lambda: clock[0])
    await store.open()
    metrics = Metrics(CollectorRegistry())
    service = IngestService(
        config, store, metrics, FeedHub(), lambda: None, clock=lambda: clock[0], sent_window=SentWindow(10**9, 10**9)
    )
    scheduler = Scheduler(store, config, metrics, lambda: None, clock=lambda: clock[0])
    for i, spec in enumerate(WARNINGS):
        clock[0] = T0 + i * 120 + 5
        await service.submit(message(i, spec))
        claimed = await store.claim_notifications(clock[0], 10_000, 60)
        outcomes = [
            NotificationOutcome(c.id, "delivered" if c.channel == "webhook" else "sent", clock[0] + 1, f"p-{c.id}")
            for c in claimed
        ]
        await store.record_outcomes(outcomes)
    await store.record_receipt("sms", "p-no-such-send", True, T0 + 700)  # kept until a send names it
    gale = await store.get_warning("53032541600000_rel_gale")
    assert gale is not None
    first, second = gale["obligations"][0]["id"], gale["obligations"][1]["id"]
    await store.acknowledge(first, "api", "水务局 孙八", T0 + 800)
    await store.acknowledge(second, "on_behalf", "值班员", T0 + 810, reason="电话已确认")
    for minutes in (3, 8, 15, 31, 60):
        clock[0] = T0 + 480 + minutes * 60
        await scheduler.pass_once()
    answers = await answers_of(store, config, first)
    await store.close()
    text = json.dumps({"obligation_id": first, "answers": answers}, ensure_ascii=False, default=str)
    (out / "answers.json").write_text(text, encoding="utf-8")


if __name__ == "__main__":
    asyncio.run(main(Path(sys.argv[1])))
