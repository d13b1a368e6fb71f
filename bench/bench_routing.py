"""Benchmark: pure routing and parsing rates, each beside its raw building block in the same run.

    python -m bench.bench_routing [--reps 5] [--seconds 1.0] [--json FILE]

Routing: warnings/s through ``route()`` with every action built (the bundled examples plus a
matrix of hazards, colours and counties), against the raw cost of constructing the same number of
``Action`` objects. Recording: warnings/s through ``ingest_record()`` (what a routed warning writes: one
obligation row per action, with its ladder's opening and next step), each warning on time, against the raw
cost of building one tuple of an obligation row's width per action. Parsing: messages/s per format
through ``parse_message()`` against the raw parser alone (defusedxml for XML, pydantic
``model_validate_json`` for JSON). Each figure is the median over ``--reps`` repetitions, with its
range. One process, one core (pure Python, no threads).
"""

from __future__ import annotations

import argparse
import functools
import json
import platform
import statistics
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

import defusedxml.ElementTree as SafeET

from router.domain.models import Action, Severity, WeatherWarning
from router.ingest.service import ingest_record
from router.parsers import parse_message
from router.parsers.jsonfmt import JsonWarningMessage
from router.plan.config import RoutingConfig, load_config
from router.routing.route import route

ROOT = Path(__file__).resolve().parent.parent


def rate(fn: Callable[[], int], seconds: float) -> float:
    """Units per second: call ``fn`` (which returns how many units it did) for about ``seconds``."""
    done = 0
    start = time.perf_counter()
    deadline = start + seconds
    while True:
        done += fn()
        now = time.perf_counter()
        if now >= deadline:
            return done / (now - start)


def measure(name: str, fn: Callable[[], int], reps: int, seconds: float) -> dict[str, Any]:
    fn()  # warm up
    samples = [rate(fn, seconds) for _ in range(reps)]
    return {"name": name, "median": statistics.median(samples), "min": min(samples), "max": max(samples)}


def warnings_mix(config: RoutingConfig) -> list[WeatherWarning]:
    """The bundled examples plus one signal per hazard × valid colour × county, and reports."""
    out = [parse_message(p.read_bytes(), config) for p in sorted((ROOT / "examples").iterdir())]
    base = out[0]
    for hazard, spec in config.hazards.items():
        for colour in spec.signal_colours:
            for county in config.counties():
                out.append(
                    base.model_copy(
                        update={
                            "hazard": hazard,
                            "severity": Severity(colour),
                            "level": None,
                            "jurisdiction": county,
                            "areas": (county,),
                            "hazard_name": spec.zh,
                        }
                    )
                )
    return [WeatherWarning.model_validate(w.model_dump()) for w in out]


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0] if __doc__ else None)
    parser.add_argument("--reps", type=int, default=5)
    parser.add_argument("--seconds", type=float, default=1.0)
    parser.add_argument("--json", type=Path, help="also write the results to this file")
    args = parser.parse_args()
    config = load_config(ROOT / "config")
    mix = warnings_mix(config)
    decisions = [route(w, config) for w in mix]
    actions_per_warning = sum(len(d.actions) for d in decisions) / len(decisions)

    def route_all() -> int:
        for w in mix:
            route(w, config)
        return len(mix)

    def route_all_cold() -> int:
        for w in mix:
            config.plan_cache.clear()
            config.spec_memo.clear()
            route(w, config)
        return len(mix)

    def route_all_new_classification() -> int:
        # A classification never seen before, whose merged action specs recur from others.
        for w in mix:
            config.plan_cache.clear()
            route(w, config)
        return len(mix)

    def build_actions_only() -> int:
        # The floor: constructing the same Action objects, with no routing decisions at all.
        for decision in decisions:
            tuple([Action(a.spec, a.due_at) for a in decision.actions])
        return len(decisions)

    def record_all() -> int:
        for w, decision in zip(mix, decisions, strict=True):
            ingest_record(config, w, decision, w.id, False, w.issued_at.timestamp())  # routed as it is issued
        return len(mix)

    def rows_only() -> int:
        # The floor: a tuple of an obligation row's width (19 fields) per action, nothing worked out.
        for decision in decisions:
            [(a, a.spec, a.due_at, 0, 1, 2, 3, 4, 5, 6, 7, 8, 9, 10, 11, 12, 13, 14, 15) for a in decision.actions]
        return len(decisions)

    formats = {
        "cap": (ROOT / "examples" / "02-luoping-rainstorm-orange-upgrade.cap.xml").read_bytes(),
        "national": (ROOT / "examples" / "06-xuanwei-gale-blue-signal.national.xml").read_bytes(),
        "json": (ROOT / "examples" / "05-city-heavy-rain-nowcast.json").read_bytes(),
    }
    batch = 200
    results = [
        measure("route (warm template cache)", route_all, args.reps, args.seconds),
        measure("route (new classification, specs memoised)", route_all_new_classification, args.reps, args.seconds),
        measure("route (cold: all caches cleared per warning)", route_all_cold, args.reps, args.seconds),
        measure("raw: construct the same actions", build_actions_only, args.reps, args.seconds),
        measure("record (what a routed warning writes)", record_all, args.reps, args.seconds),
        measure("raw: a row-wide tuple per action", rows_only, args.reps, args.seconds),
    ]
    for fmt, data in formats.items():
        full = functools.partial(_loop, batch, functools.partial(parse_message, data, config))
        results.append(measure(f"parse {fmt} ({len(data)} B)", full, args.reps, args.seconds))
        if fmt == "json":
            raw = functools.partial(_loop, batch, functools.partial(JsonWarningMessage.model_validate_json, data))
            results.append(measure("raw: pydantic model_validate_json", raw, args.reps, args.seconds))
        else:
            raw = functools.partial(_loop, batch, functools.partial(SafeET.fromstring, data))
            results.append(measure(f"raw: defusedxml parse ({fmt})", raw, args.reps, args.seconds))
    by = {r["name"]: r for r in results}
    routed = by["route (warm template cache)"]["median"]
    floor = by["raw: construct the same actions"]["median"]
    print(
        f"python {platform.python_version()} on {platform.machine()}; {len(mix)} warnings in the mix, "
        f"{actions_per_warning:.1f} actions each; median of {args.reps} x {args.seconds}s"
    )
    print(f"{'figure':48} {'median/s':>10} {'range/s':>21}")
    for r in results:
        print(f"{r['name']:48} {r['median']:>10,.0f} {r['min']:>10,.0f}–{r['max']:<10,.0f}")
    print(
        f"routing / action-construction floor: {routed / floor:.2f}  "
        f"(routing reaches {100 * routed / floor:.0f}% of the rate of merely building its actions)"
    )
    recorded, rows = by["record (what a routed warning writes)"]["median"], by["raw: a row-wide tuple per action"]
    print(f"record / row-tuple floor: {recorded / rows['median']:.2f}")
    for fmt in formats:
        raw_name = "raw: pydantic model_validate_json" if fmt == "json" else f"raw: defusedxml parse ({fmt})"
        full = next(r for r in results if r["name"].startswith(f"parse {fmt}"))["median"]
        print(f"parse {fmt} / raw parser: {full / by[raw_name]['median']:.2f}")
    if args.json:
        args.json.write_text(json.dumps({"actions_per_warning": actions_per_warning, "results": results}, indent=2))


def _loop(n: int, fn: Callable[[], object]) -> int:
    for _ in range(n):
        fn()
    return n


if __name__ == "__main__":
    main()
