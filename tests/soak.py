"""A storm night, soaked: mixed warnings for a long while, provider outages and ``kill -9`` of the router
every few minutes, on the real processes (the provider simulator, a real SMTP server, ``warnroute serve``).

    python -m tests.soak --minutes 30 [--seed N] [--out FILE]     # or: bash scripts/soak.sh 30

Deadlines and ladder steps run at 1/30 of the plan's (30 minutes become 60 s), so warnings are acknowledged,
escalated and breached while the soak runs. The bureau re-sends what was not answered 200/202 (as a real
publisher does), and the departments acknowledge three obligations in four a moment after each arrives;
the rest are left to breach. At the end, with providers well and the router up, every obligation has
reached its deadline, and the soak checks:

- **lost**: a warning answered 202 and not stored with the obligations it was promised, a notification
  recorded delivered that its receiver never got, one still waiting, or one failed for good with no outage
  of its channel to explain it;
- **duplicated**: a receiver holding a key the router does not know, or an obligation given the same step
  (purpose, channel, recipient) twice; a repeat of one key after a crash is counted apart (the receiver
  knows it by its idempotency key);
- **unexplained breaches**: a breach recorded before its deadline, or one of an obligation acknowledged in
  time. Each other breach is put down to its cause: left unacknowledged, delivered late (an outage of its
  channels), the router down, or acknowledged after the deadline.

Exit 0 when all three are empty; the figures are printed (and written to ``--out``) either way.
"""

from __future__ import annotations

import argparse
import contextlib
import json
import mailbox
import random
import sys
import tempfile
import threading
import time
import zlib
from collections import Counter
from dataclasses import asdict, dataclass, field
from datetime import datetime
from pathlib import Path
from typing import Any

import httpx

from tests.support.messages import now_iso
from tests.support.procs import Stack, start_stack, wait_for

SHRINK = 1 / 30
COUNTIES = ("530302", "530303", "530304", "530322", "530323", "530324", "530325", "530326", "530381")
LINES = {"rainstorm": ("blue", "yellow", "orange", "red"), "gale": ("blue", "yellow", "orange"), "hail": ("orange",)}
ACK_DELAY = 2.0  # a department acknowledges this long after its message arrived
OUTAGE_CHANNELS = (("webhook",), ("sms",), ("voice",), ("webhook", "sms"), ("wecom", "dingtalk", "feishu"))
JSON = {"content-type": "application/json"}
RETRY_WINDOW = 180.0  # a notification failed for good within this of its creation (the retry budget)


@dataclass
class Figures:
    minutes: float
    seed: int
    messages_sent: int = 0
    resends: int = 0
    warnings_accepted: int = 0
    obligations: int = 0
    notifications: int = 0
    delivered: int = 0
    failed_explained: int = 0
    received_keys: int = 0
    repeats_recognised: int = 0
    acknowledged: int = 0
    breaches: dict[str, int] = field(default_factory=dict)
    kills: int = 0
    outages: int = 0
    lost: list[str] = field(default_factory=list)
    duplicated: list[str] = field(default_factory=list)
    unexplained: list[str] = field(default_factory=list)

    @property
    def ok(self) -> bool:
        return not (self.lost or self.duplicated or self.unexplained)


@dataclass
class Window:
    start: float
    end: float
    channels: tuple[str, ...] = ()


class Night:
    """The soak's shared record: what was accepted, when things were down, what was acknowledged."""

    def __init__(self, stack: Stack, minutes: float, seed: int) -> None:
        self.stack, self.minutes, self.rand = stack, minutes, random.Random(seed)
        self.figures = Figures(minutes, seed)
        self.accepted: dict[str, list[str]] = {}  # warning id → obligation ids promised in its 202
        self.open: list[str] = []  # warnings whose obligations the departments still watch
        self.outages: list[Window] = []
        self.downtime: list[Window] = []
        self.acked: dict[str, float] = {}  # obligation id → when the router answered the acknowledgement
        self.lock = threading.Lock()
        self.stopping = threading.Event()

    # -- the bureau ----------------------------------------------------------------------------

    def publish(self, body: bytes) -> None:
        """POST until answered 200/202, waiting out a router that is down or a 503 (bounded)."""
        identifier = json.loads(body)["identifier"]
        deadline = time.monotonic() + 120
        tries = 0
        while time.monotonic() < deadline:
            tries += 1
            try:
                r = httpx.post(f"{self.stack.api}/api/v1/warnings", content=body, headers=JSON, timeout=30)
            except httpx.HTTPError:
                time.sleep(0.5)
                continue
            if r.status_code in (200, 202):
                with self.lock:
                    self.figures.resends += tries - 1
                    if r.status_code == 202:
                        self.accepted[identifier] = [o["id"] for o in r.json()["obligations"]]
                        self.open.append(identifier)
                return
            if r.status_code != 503:
                self.figures.lost.append(f"{identifier}: answered {r.status_code} {r.text[:200]}")
                return
            time.sleep(0.5)
        self.figures.lost.append(f"{identifier}: not accepted within 120 s")

    def bureau(self, interval: float) -> None:
        """New signals, upgrades and lifts across the counties, one every ``interval`` seconds."""
        lines: list[dict[str, Any]] = []
        n = 0
        while not self.stopping.is_set():
            n += 1
            if lines and (len(lines) >= 6 or self.rand.random() < 0.6):
                line = self.rand.choice(lines)
                colours = LINES[line["hazard"]]
                if line["step"] + 1 < len(colours) and self.rand.random() < 0.7:
                    line["step"] += 1
                    body = self._message(line, n, "update", colours[line["step"]])
                else:
                    body = self._message(line, n, "cancel", colours[line["step"]])
                    lines.remove(line)
            else:
                hazard = self.rand.choice(tuple(LINES))
                line = {"county": self.rand.choice(COUNTIES), "hazard": hazard, "step": 0, "last": None}
                lines.append(line)
                body = self._message(line, n, "alert", LINES[hazard][0])
            line["last"] = json.loads(body)["identifier"]
            self.figures.messages_sent += 1
            self.publish(body)
            self.stopping.wait(interval)

    @staticmethod
    def _message(line: dict[str, Any], n: int, msg_type: str, colour: str) -> bytes:
        county = line["county"]
        message = {
            "schema": "warnroute.warning/1",
            "identifier": f"{county}41600000_soak_{n:05d}",
            "sender": "气象台",
            "sender_code": f"{county}41600000",
            "sent": now_iso(),
            "msg_type": msg_type,
            "references": [line["last"]] if line["last"] else [],
            "product": "signal",
            "hazard": line["hazard"],
            "severity": colour,
            "areas": [county],
            "headline": f"soak {n} {line['hazard']} {colour} {msg_type}",
        }
        return json.dumps(message, ensure_ascii=False).encode()

    # -- the departments -----------------------------------------------------------------------

    def departments(self) -> None:
        """Acknowledge three obligations in four, ``ACK_DELAY`` after their first message arrived."""
        with httpx.Client(timeout=30) as client:
            while not self.stopping.is_set():
                with self.lock:
                    watching = list(self.open)
                for identifier in watching:
                    with contextlib.suppress(httpx.HTTPError):  # the router is down: try again next round
                        self.acknowledge(client, identifier)
                self.stopping.wait(0.5)

    def acknowledge(self, client: httpx.Client, identifier: str) -> None:
        """One look at a warning: acknowledge what arrived ``ACK_DELAY`` ago; stop watching it when
        nothing of it waits for the departments any more."""
        doc = client.get(f"{self.stack.api}/api/v1/warnings/{identifier}").json()
        now = time.time()
        waiting = False
        for o in doc["obligations"]:
            if o["state"] in ("acknowledged", "cancelled", "superseded", "closed") or o["breached_at"]:
                continue
            if o["ack_mode"] == "delivery" or not chosen(o["id"]) or o["id"] in self.acked:
                continue
            waiting = True
            if o["delivered_at"] and stamp(o["delivered_at"]) + ACK_DELAY <= now:
                r = client.post(f"{self.stack.api}/api/v1/obligations/{o['id']}/ack", json={"by": "值班员"})
                if r.status_code == 200:
                    self.acked[o["id"]] = time.time()
        if not waiting:
            with self.lock:
                self.open.remove(identifier)

    # -- the night's troubles ------------------------------------------------------------------

    def troubles(self, kill_every: float, outage_every: float, outage_for: float) -> None:
        started = time.monotonic()
        next_kill, next_outage = started + kill_every, started + outage_every / 2
        while not self.stopping.is_set():
            now = time.monotonic()
            if now >= next_outage:
                channels = self.rand.choice(OUTAGE_CHANNELS)
                mode = "hang" if channels == ("webhook",) and self.rand.random() < 0.5 else "fail"
                begun = time.time()
                httpx.post(f"{self.stack.sim.url}/control", json={"mode": mode, "status": 503, "channels": channels})
                self.stopping.wait(outage_for)
                httpx.post(f"{self.stack.sim.url}/control", json={"mode": "ok"})
                self.outages.append(Window(begun, time.time(), channels))
                self.figures.outages += 1
                next_outage = time.monotonic() + outage_every
            elif now >= next_kill:
                assert self.stack.router is not None
                down = time.time()
                self.stack.router.kill9()
                self.stack.start_router()
                self.downtime.append(Window(down, time.time()))
                self.figures.kills += 1
                next_kill = time.monotonic() + kill_every
            else:
                self.stopping.wait(0.2)


def chosen(obligation_id: str) -> bool:
    """Whether the soak's departments acknowledge this obligation (three in four, the same every run)."""
    return zlib.crc32(obligation_id.encode()) % 4 != 0


def stamp(iso: str) -> float:
    return datetime.fromisoformat(iso).timestamp()


def overlaps(windows: list[Window], start: float, end: float, channels: set[str] | None = None) -> bool:
    return any(w.start <= end and start <= w.end and (channels is None or channels & set(w.channels)) for w in windows)


def run(tmp: Path, minutes: float, seed: int = 1, shrink: float = SHRINK) -> Figures:
    """The soak; ``shrink`` scales the plan's deadlines and ladder steps (the short version runs faster)."""
    kill_every = max(50.0, min(180.0, minutes * 60 / 8))
    env = {"WARNROUTE_SCHEDULER_POLL": "0.2", "WARNROUTE_LEASE_SECONDS": "5"}
    stack = start_stack(tmp, shrink=shrink, extra_env=env)
    night = Night(stack, minutes, seed)
    try:
        workers = [
            threading.Thread(target=night.bureau, args=(4.0,), name="bureau"),
            threading.Thread(target=night.departments, name="departments"),
            threading.Thread(target=night.troubles, args=(kill_every, 40.0, 12.0), name="troubles"),
        ]
        for w in workers:
            w.start()
        night.stopping.wait(minutes * 60)
        night.stopping.set()
        for w in workers:
            w.join(timeout=180)
        httpx.post(f"{stack.sim.url}/control", json={"mode": "ok"})
        settle(night)
        check(night)
    finally:
        stack.stop()
    return night.figures


def settle(night: Night) -> None:
    """Until every obligation is past its deadline (or closed) and nothing waits to be sent (bounded)."""
    api = night.stack.api
    last_deadline = 0.0
    with httpx.Client(timeout=30) as client:
        for identifier in night.accepted:
            for o in client.get(f"{api}/api/v1/warnings/{identifier}").json()["obligations"]:
                if o["deadline"]:
                    last_deadline = max(last_deadline, stamp(o["deadline"]))
        while time.time() < last_deadline + 5:
            for identifier in list(night.open):  # the departments go on acknowledging what arrives late
                night.acknowledge(client, identifier)
            time.sleep(0.5)

        def quiet() -> bool:
            waiting = client.get(f"{api}/api/v1/summary").json()["notifications"]
            return not waiting.get("pending") and not waiting.get("sending")

        wait_for(quiet, timeout=240, step=0.5)


def check(night: Night) -> None:
    f, stack = night.figures, night.stack
    with httpx.Client(timeout=30) as client:
        docs = {i: client.get(f"{stack.api}/api/v1/warnings/{i}").json() for i in night.accepted}
        received: dict[str, dict[str, int]] = client.get(f"{stack.sim.url}/received").json()
        arrivals: dict[str, float] = client.get(f"{stack.sim.url}/arrivals").json()
    keys: Counter[str] = Counter()
    for channel in received.values():
        keys.update(channel)
    assert stack.maildir is not None
    for mail in mailbox.Maildir(stack.maildir):
        key = str(mail["X-Warnroute-Idempotency-Key"])
        keys[key] += 1
        arrivals[key] = min(arrivals.get(key, float("inf")), mail.get_date())
    f.warnings_accepted = len(docs)
    known: set[str] = set()
    breaches: Counter[str] = Counter()
    for identifier, doc in docs.items():
        if [o["id"] for o in doc.get("obligations", [])] != night.accepted[identifier]:
            f.lost.append(f"{identifier}: stored obligations differ from those promised")
            continue
        for o in doc["obligations"]:
            f.obligations += 1
            f.duplicated += twice(o)
            for n in o["notifications"]:
                f.notifications += 1
                known.add(n["id"])
                if n["state"] == "delivered":
                    f.delivered += 1
                    if n["id"] not in keys:
                        f.lost.append(f"{n['id']} ({n['channel']}): recorded delivered, never received")
                elif n["state"] == "failed":
                    lived = (stamp(n["created_at"]), stamp(n["created_at"]) + RETRY_WINDOW)
                    if overlaps(night.outages, *lived, {n["channel"]}) or overlaps(night.downtime, *lived):
                        f.failed_explained += 1
                    else:
                        f.lost.append(f"{n['id']} ({n['channel']}): failed with no outage: {n['last_error']}")
                elif n["state"] != "cancelled":
                    f.lost.append(f"{n['id']} ({n['channel']}): still {n['state']}")
            if o["state"] == "acknowledged":
                f.acknowledged += 1
            if o["breached_at"]:
                cause = explain(night, o, arrivals)
                if cause.startswith("unexplained"):
                    f.unexplained.append(f"{o['id']}: {cause}")
                breaches[cause] += 1
    unknown = set(keys) - known
    f.duplicated += [f"{k}: received, but no such notification" for k in sorted(unknown)]
    f.received_keys = len(set(keys) & known)
    f.repeats_recognised = sum(n - 1 for n in keys.values())
    f.breaches = dict(breaches)


def twice(o: dict[str, Any]) -> list[str]:
    """The same message twice at once: two notifications of one obligation on one channel to one recipient
    created within a second (a rung fired again, or two rungs naming one channel). A reminder on the same
    channel at a later rung is not that."""
    seen: dict[tuple[str, str, str | None], float] = {}
    out: list[str] = []
    for n in o["notifications"]:
        key, at = (n["purpose"], n["channel"], n["to_department"]), stamp(n["created_at"])
        if key in seen and abs(at - seen[key]) < 1.0:
            out.append(f"{o['id']}: {n['purpose']} on {n['channel']} twice at once ({n['id']})")
        seen[key] = at
    return out


def explain(night: Night, o: dict[str, Any], arrivals: dict[str, float]) -> str:
    """Why an obligation was breached, from the soak's own record (not the router's word for it)."""
    deadline, breached = stamp(o["deadline"]), stamp(o["breached_at"])
    if breached < deadline - 0.5:
        return "unexplained: breached before its deadline"
    acked = stamp(o["acknowledged_at"]) if o["acknowledged_at"] else None
    if acked is not None and acked <= deadline - 0.5:
        return "unexplained: acknowledged in time, breached all the same"
    if o["ack_mode"] == "delivery":
        first = min((arrivals.get(n["id"], float("inf")) for n in o["notifications"]), default=float("inf"))
        if first <= deadline - 0.5:
            return "unexplained: delivered in time, breached all the same"
    elif not chosen(o["id"]):
        return "left unacknowledged"
    created = stamp(o["created_at"])
    channels = {n["channel"] for n in o["notifications"]}
    if overlaps(night.downtime, created, deadline):
        return "the router was down between issue and deadline"
    first = min((arrivals.get(n["id"], float("inf")) for n in o["notifications"]), default=float("inf"))
    if first + ACK_DELAY > deadline or overlaps(night.outages, created, deadline, channels):
        return "delivered late (an outage of its channels)"
    if acked is not None or o["id"] in night.acked:
        return "acknowledged after the deadline"
    return "unexplained: no acknowledgement, no outage and no restart to account for it"


def report(f: Figures) -> str:
    lines = [
        f"soak: {f.minutes:g} min, seed {f.seed}: {f.messages_sent} messages ({f.resends} re-sent by the bureau), "
        f"{f.warnings_accepted} warnings accepted, {f.kills} kill -9, {f.outages} provider outages",
        f"  {f.obligations} obligations, {f.acknowledged} acknowledged; {f.notifications} notifications, "
        f"{f.delivered} delivered, {f.failed_explained} failed during an outage (their ladders went on)",
        f"  receivers: {f.received_keys} keys, {f.repeats_recognised} repeats recognised by key",
        f"  breaches: {sum(f.breaches.values())} — "
        + ", ".join(f"{k}: {v}" for k, v in sorted(f.breaches.items(), key=lambda kv: -kv[1])),
        f"  lost: {len(f.lost)}, duplicated: {len(f.duplicated)}, unexplained breaches: {len(f.unexplained)}",
    ]
    lines += [f"    {x}" for x in (f.lost + f.duplicated + f.unexplained)[:20]]
    return "\n".join(lines)


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m tests.soak", description=__doc__.splitlines()[0])
    parser.add_argument("--minutes", type=float, default=30.0)
    parser.add_argument("--seed", type=int, default=1)
    parser.add_argument("--out", type=Path, help="write the figures here as JSON")
    args = parser.parse_args(argv)
    with tempfile.TemporaryDirectory(prefix="warnroute-soak-") as tmp:
        figures = run(Path(tmp), args.minutes, args.seed)
    print(report(figures))
    if args.out:
        args.out.write_text(json.dumps(asdict(figures), ensure_ascii=False, indent=2) + "\n")
    return 0 if figures.ok else 1


if __name__ == "__main__":
    sys.exit(main())
