"""The ``warnroute`` command line: route messages offline, check the config, report plan coverage.

Exit codes: 0 success; 1 the configuration is invalid (or coverage fails); 2 some input was
rejected (``route`` goes on with the other files) or the command line is wrong.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import sys
from collections.abc import Sequence
from datetime import datetime
from pathlib import Path
from typing import TextIO

from router.audit.chain import Verdict
from router.domain.models import Decision
from router.domain.reports import report_schema
from router.errors import ConfigError, InvalidMessage
from router.parsers import parse_message
from router.parsers.jsonfmt import json_schema
from router.parsers.normalise import BEIJING
from router.plan.config import RoutingConfig, default_config_dir, load_config
from router.plan.coverage import plan_coverage, render
from router.routing.explain import render_decision
from router.routing.route import route
from router.store import SqlStore, make_store

EXIT_OK, EXIT_CONFIG, EXIT_INPUT = 0, 1, 2


def main(argv: Sequence[str] | None = None) -> int:
    parser = _parser()
    args = parser.parse_args(argv)
    if not hasattr(args, "run"):
        parser.print_help(sys.stderr)
        return EXIT_INPUT
    try:
        code: int = args.run(args)
    except ConfigError as exc:
        print(f"configuration invalid ({len(exc.problems)} problem(s)):", file=sys.stderr)
        for problem in exc.problems:
            print(f"  {problem}", file=sys.stderr)
        return EXIT_CONFIG
    except BrokenPipeError:
        return EXIT_OK
    return code


def _parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(prog="warnroute", description=__doc__.splitlines()[0] if __doc__ else None)
    sub = parser.add_subparsers(metavar="COMMAND")

    p_route = sub.add_parser("route", help="print the routing decision for each message (JSON Lines)")
    p_route.add_argument("--config", type=Path, help="config folder (default: %(default)s)", default=None)
    p_route.add_argument("--now", type=_iso, help="ISO 8601 time to route at (adds lateness notes)")
    p_route.add_argument(
        "--format", choices=("jsonl", "text"), default="jsonl", help="JSON Lines (default) or a readable summary"
    )
    p_route.add_argument("files", nargs="+", metavar="FILE", help="CAP XML, national XML or JSON; '-' = stdin")
    p_route.set_defaults(run=_cmd_route)

    p_config = sub.add_parser("config", help="configuration commands")
    config_sub = p_config.add_subparsers(metavar="ACTION")
    p_check = config_sub.add_parser("check", help="validate the configuration; exit 1 naming every problem")
    p_check.add_argument("--config", type=Path, default=None)
    p_check.set_defaults(run=_cmd_config_check)

    p_plan = sub.add_parser("plan", help="plan commands")
    plan_sub = p_plan.add_subparsers(metavar="ACTION")
    p_cov = plan_sub.add_parser("coverage", help="clause → rules → tests; exit 1 if a clause has no rule")
    p_cov.add_argument("--config", type=Path, default=None)
    p_cov.add_argument("--cases", type=Path, default=Path("tests/data/routing_cases.yaml"))
    p_cov.add_argument("--require-tests", action="store_true", help="also fail if a clause has no test case")
    p_cov.set_defaults(run=_cmd_plan_coverage)

    p_serve = sub.add_parser("serve", help="run the router: HTTP ingest, durable store, dispatcher")
    p_serve.add_argument("--config", type=Path, default=None)
    p_serve.add_argument("--data-dir", type=Path, default=None, help="where the SQLite store lives (default: data)")
    p_serve.add_argument("--host", default="127.0.0.1")
    p_serve.add_argument("--port", type=int, default=8080)
    p_serve.add_argument("--poll", type=float, default=None, help="dispatcher poll interval, seconds")
    p_serve.add_argument("--tls-cert", type=Path, default=None, help="serve HTTPS with this PEM certificate (chain)")
    p_serve.add_argument("--tls-key", type=Path, default=None, help="... and this PEM private key")
    p_serve.add_argument(
        "--kafka", metavar="BOOTSTRAP", default=None, help="Kafka mode: also consume warnings from these brokers"
    )
    p_serve.set_defaults(run=_cmd_serve)

    p_sim = sub.add_parser("simulate", help="run the local provider simulator (SMS, voice, IM robots, webhooks)")
    p_sim.add_argument("--host", default="127.0.0.1")
    p_sim.add_argument("--port", type=int, default=8090)
    p_sim.add_argument("--receipt-delay", type=float, default=0.2)
    p_sim.add_argument(
        "--no-limits", action="store_true", help="accept any rate (default: each provider's limits per destination)"
    )
    p_sim.add_argument(
        "--time-scale", type=float, default=1.0, help="multiply every provider window (1/30: a minute lasts 2 s)"
    )
    p_sim.set_defaults(run=_cmd_simulate)

    p_demo = sub.add_parser("demo", help="serve + simulator, replay a storm on a compressed clock, summarise")
    p_demo.add_argument("--port", type=int, default=8080)
    p_demo.add_argument("--sim-port", type=int, default=8090)
    p_demo.add_argument("--data-dir", type=Path, default=None, help="default: a new temporary folder")
    p_demo.add_argument("--step", type=float, default=2.0, help="seconds of demo time per storm step")
    p_demo.add_argument("--exit", action="store_true", help="stop after the summary instead of serving on")
    p_demo.add_argument(
        "--compress",
        type=float,
        default=1.0,
        help="divide every deadline and escalation step by this (60: minutes become seconds, to watch them)",
    )
    p_demo.set_defaults(run=_cmd_demo)

    p_report = sub.add_parser("report", help="the compliance report of one warning (JSON, or an HTML page)")
    p_report.add_argument("warning_id", metavar="WARNING_ID")
    p_report.add_argument("--config", type=Path, default=None)
    p_report.add_argument("--data-dir", type=Path, default=None, help="where the SQLite store lives (default: data)")
    p_report.add_argument("--html", type=Path, metavar="FILE", help="also write the human-readable page here")
    p_report.set_defaults(run=_cmd_report)

    p_audit = sub.add_parser("audit", help="audit log commands")
    audit_sub = p_audit.add_subparsers(metavar="ACTION")
    p_verify = audit_sub.add_parser("verify", help="check the hash chain; exit 1 naming the first broken event")
    p_verify.add_argument("--data-dir", type=Path, default=None)
    p_verify.add_argument(
        "--anchor",
        action="append",
        default=[],
        metavar="N:HASH",
        help="a head printed by an earlier verify and kept elsewhere: event N must still have this hash",
    )
    p_verify.set_defaults(run=_cmd_audit_verify)

    p_token = sub.add_parser("token", help="API tokens: create (shown once), list, revoke")
    token_sub = p_token.add_subparsers(metavar="ACTION")
    p_tc = token_sub.add_parser("create", help="create a token and print it (the store keeps only its digest)")
    p_tc.add_argument("--name", required=True)
    p_tc.add_argument("--role", required=True, choices=("publisher", "department", "duty_office", "admin"))
    p_tc.add_argument("--jurisdiction", help="department tokens: the jurisdiction code")
    p_tc.add_argument("--department", help="department tokens: the department id")
    p_tc.add_argument(
        "--signing-key",
        help="env:NAME or file:PATH of the signing key: publishers (ingest), offices filing reports (Kafka)",
    )
    p_tc.add_argument("--config", type=Path, default=None)
    p_tc.add_argument("--data-dir", type=Path, default=None)
    p_tc.set_defaults(run=_cmd_token_create)
    p_tl = token_sub.add_parser("list", help="every token (never its secret), revoked ones too")
    p_tl.add_argument("--data-dir", type=Path, default=None)
    p_tl.set_defaults(run=_cmd_token_list)
    p_tr = token_sub.add_parser("revoke", help="revoke a token by id (a running server stops taking it within 10 s)")
    p_tr.add_argument("token_id", metavar="TOKEN_ID")
    p_tr.add_argument("--data-dir", type=Path, default=None)
    p_tr.set_defaults(run=_cmd_token_revoke)

    p_schema = sub.add_parser("schema", help="print the JSON Schema of the JSON warning format (or of a report)")
    p_schema.add_argument("--report", action="store_true", help="the situation report's schema instead")
    p_schema.set_defaults(run=lambda args: _print_json(report_schema() if args.report else json_schema()))
    return parser


def _iso(text: str) -> datetime:
    try:
        value = datetime.fromisoformat(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"not an ISO 8601 date-time: {text!r}") from None
    return value if value.tzinfo is not None else value.replace(tzinfo=BEIJING)


def _config(path: Path | None) -> RoutingConfig:
    return load_config(path if path is not None else default_config_dir())


def _cmd_route(args: argparse.Namespace, out: TextIO = sys.stdout) -> int:
    config = _config(args.config)
    code = EXIT_OK
    decisions: dict[str, Decision] = {}  # by identifier, so later files can update earlier ones
    for name in args.files:
        try:
            data = sys.stdin.buffer.read() if name == "-" else Path(name).read_bytes()
        except OSError as exc:
            print(f"{name}: cannot read: {exc.strerror}", file=sys.stderr)
            code = EXIT_INPUT
            continue
        try:
            warning = parse_message(data, config)
        except InvalidMessage as exc:
            print(f"{name}: {exc.field}: {exc.problem}", file=sys.stderr)
            code = EXIT_INPUT
            continue
        previous = next((decisions[r] for r in warning.references if r in decisions), None)
        decision = route(warning, config, now=args.now, previous=previous)
        decisions[warning.id] = decision
        if args.format == "text":
            out.write(render_decision(decision, config) + "\n")
        else:
            out.write(json.dumps(decision.public_dict(), ensure_ascii=False) + "\n")
    return code


def _cmd_config_check(args: argparse.Namespace) -> int:
    config = _config(args.config)
    rules = len(config.rules)
    recipients = sum(1 for j in config.jurisdictions for d in config.departments if config.has_department(j, d))
    print(
        f"ok: {config.directory}: {len(config.hazards)} hazards, {len(config.products)} products, {rules} rules, "
        f"{len(config.jurisdictions)} jurisdictions, {len(config.township_county)} townships, "
        f"{len(config.departments)} departments, {recipients} department offices"
    )
    return EXIT_OK


def _cmd_plan_coverage(args: argparse.Namespace) -> int:
    config = _config(args.config)
    coverage = plan_coverage(config, args.cases)
    print(render(coverage))
    failed = False
    if coverage.without_rules:
        print(f"FAIL: clause(s) without a rule: {', '.join(coverage.without_rules)}", file=sys.stderr)
        failed = True
    if coverage.misquotes:
        for line in coverage.misquotes:
            print(f"FAIL: {line}", file=sys.stderr)
        failed = True
    if args.require_tests and coverage.without_tests:
        print(f"FAIL: clause(s) without a test case: {', '.join(coverage.without_tests)}", file=sys.stderr)
        failed = True
    return EXIT_CONFIG if failed else EXIT_OK


def _cmd_serve(args: argparse.Namespace) -> int:
    import uvicorn

    from router.heap import settle_heap
    from router.logs import configure
    from router.settings import Settings
    from router.web.api import create_app

    settings = Settings.from_env(
        config_dir=args.config,
        data_dir=args.data_dir,
        host=args.host,
        port=args.port,
        poll_seconds=args.poll,
        tls_cert=args.tls_cert,
        tls_key=args.tls_key,
        kafka_bootstrap=args.kafka,
    )
    config = load_config(settings.config_dir)  # fail fast, before binding the port
    if (settings.tls_cert is None) != (settings.tls_key is None):
        print("warnroute: give both --tls-cert and --tls-key (or neither)", file=sys.stderr)
        return EXIT_CONFIG
    configure(settings.json_logs)
    if settings.kafka is not None:  # fail fast too, with the broker's reason (a wrong password, a refused port)
        from router.stream.probe import why_unreachable

        reason = asyncio.run(why_unreachable(settings.kafka))
        if reason:
            print(f"warnroute: Kafka mode cannot start: {reason}", file=sys.stderr)
            return EXIT_CONFIG
    # The heap is settled once the runtime is up (the store open, the dispatcher started, every module they
    # import lazily imported): what the process lives with is then never looked at by the collector again.
    app = create_app(settings, config, started=settle_heap)
    uvicorn.run(
        app,
        host=args.host,
        port=args.port,
        log_level="warning",
        lifespan="on",
        ssl_certfile=str(settings.tls_cert) if settings.tls_cert else None,
        ssl_keyfile=str(settings.tls_key) if settings.tls_key else None,
    )
    return EXIT_OK


def _existing_store(data_dir: Path | None) -> SqlStore:
    """The store a running server uses (``WARNROUTE_DATABASE_URL``, else the SQLite file in the data dir)."""
    from router.settings import Settings

    settings = Settings.from_env(data_dir=data_dir)
    if settings.database_url is None and not (settings.data_dir / "warnroute.db").is_file():
        raise SystemExit(f"warnroute: no store at {settings.data_dir / 'warnroute.db'}")
    return make_store(settings.data_dir, settings.database_url)


def _cmd_report(args: argparse.Namespace) -> int:
    import time

    from router.audit import report

    config = _config(args.config)

    async def build() -> dict[str, object] | None:
        store = _existing_store(args.data_dir)
        await store.open_readonly()
        try:
            found = await store.get_warning(args.warning_id)
            if found is None:
                return None
            return report.build(found, await store.events_of(args.warning_id), config, time.time())
        finally:
            await store.close()

    built = asyncio.run(build())
    if built is None:
        print(f"warnroute: no warning {args.warning_id!r} in the store", file=sys.stderr)
        return EXIT_INPUT
    if args.html is not None:
        args.html.write_text(report.to_html(built), encoding="utf-8")
    _print_json(report.public(built))
    return EXIT_OK


def _cmd_audit_verify(args: argparse.Namespace) -> int:
    from router.audit.verify import verify_store

    anchors: dict[int, str] = {}
    for anchor in args.anchor:
        seq, _, digest = anchor.partition(":")
        if not (seq.isascii() and seq.isdigit() and len(digest) == 64):
            print(
                f"warnroute: --anchor {anchor!r}: expected N:HASH (an event number and its 64-digit hash)",
                file=sys.stderr,
            )
            return EXIT_INPUT
        anchors[int(seq)] = digest

    async def run() -> Verdict:
        store = _existing_store(args.data_dir)
        await store.open_readonly()
        try:
            return await verify_store(store, anchors)
        finally:
            await store.close()

    verdict = asyncio.run(run())
    if verdict.ok:
        print(f"ok: {verdict.events} events, chain intact; head {verdict.head}")
        return EXIT_OK
    print(f"audit chain broken: {verdict.problem} ({verdict.events} events verified before it)", file=sys.stderr)
    return 1


def _admin_store(data_dir: Path | None) -> tuple[SqlStore, str]:
    """The store ``warnroute serve`` uses with the same settings (``--data-dir``, else WARNROUTE_DATA_DIR,
    else ./data; WARNROUTE_DATABASE_URL for PostgreSQL), and where it is, in words (never the URL)."""
    from router.settings import Settings

    settings = Settings.from_env(data_dir=data_dir)
    where = (
        "the PostgreSQL database of WARNROUTE_DATABASE_URL"
        if settings.database_url
        else str((settings.data_dir / "warnroute.db").resolve())
    )
    return make_store(settings.data_dir, settings.database_url), where


def _cmd_token_create(args: argparse.Namespace) -> int:
    from router.access.tokens import issue_token

    config = _config(args.config)

    store, where = _admin_store(args.data_dir)

    async def run() -> tuple[dict[str, str | None], str]:
        await store.open(owner=False)
        try:
            principal, token = await issue_token(
                store, config, args.name, args.role, args.jurisdiction, args.department, args.signing_key
            )
            return principal.public(), token
        finally:
            await store.close()

    try:
        public, token = asyncio.run(run())
    except ValueError as exc:
        print(f"warnroute: {exc}", file=sys.stderr)
        return EXIT_INPUT
    print(f"token {public['id']} ({public['role']}) created in {where}; it is shown this once:", file=sys.stderr)
    print(token)
    return EXIT_OK


def _cmd_token_list(args: argparse.Namespace) -> int:
    async def run() -> list[dict[str, object]]:
        store = _existing_store(args.data_dir)
        await store.open_readonly()
        try:
            return await store.principals()
        finally:
            await store.close()

    _print_json({"tokens": asyncio.run(run())})
    return EXIT_OK


def _cmd_token_revoke(args: argparse.Namespace) -> int:
    import time

    async def run() -> bool:
        store = _existing_store(args.data_dir)
        await store.open(owner=False)
        try:
            return await store.revoke_principal(args.token_id, time.time())
        finally:
            await store.close()

    if not asyncio.run(run()):
        print(f"warnroute: no active token {args.token_id!r}", file=sys.stderr)
        return EXIT_INPUT
    print(f"revoked {args.token_id}")
    return EXIT_OK


def _cmd_simulate(args: argparse.Namespace) -> int:
    import os

    import uvicorn

    from router.heap import settle_heap
    from router.tools.simulator import create_simulator

    app = create_simulator(
        os.environ.get("WARNROUTE_SIM_API_KEY"),
        os.environ.get("WARNROUTE_SIM_WEBHOOK_SECRET"),
        os.environ.get("WARNROUTE_SIM_ROBOT_SECRET"),
        args.receipt_delay,
        limits=not args.no_limits,
        time_scale=args.time_scale,
        started=settle_heap,
    )
    uvicorn.run(app, host=args.host, port=args.port, log_level="warning")
    return EXIT_OK


def _cmd_demo(args: argparse.Namespace) -> int:
    from router.tools.demo import run_demo

    return run_demo(args)


def _print_json(value: object) -> int:
    print(json.dumps(value, ensure_ascii=False, indent=2))
    return EXIT_OK
