"""deploy/ checked as far as this machine can: promtool over the alert rules (syntax and unit tests), every
metric the rules and the Grafana dashboard name exists, the manifests and compose file are well-formed and
point at real endpoints, settings and runbook sections, and the image runs as a non-root user."""

from __future__ import annotations

import contextlib
import json
import re
import subprocess
from pathlib import Path
from typing import Any

import yaml
from prometheus_client import CollectorRegistry

from router.errors import ConfigError
from router.metrics import Metrics
from router.settings import Settings
from router.stream.settings import KafkaSettings
from router.web.api import create_app

ROOT = Path(__file__).resolve().parents[2]
DEPLOY = ROOT / "deploy"


def metric_names() -> set[str]:
    registry = CollectorRegistry()
    Metrics(registry)
    names = set()
    for family in registry.collect():
        suffixes = {"counter": ("_total",), "histogram": ("_bucket", "_sum", "_count")}.get(family.type, ())
        names |= {family.name, *(family.name + suffix for suffix in suffixes)}
        names |= {sample.name for sample in family.samples}
    return names


def referenced_metrics(text: str) -> set[str]:
    return set(re.findall(r"\bwarnroute_[a-z_]+\b", text))


def test_promtool_accepts_the_rules_and_their_unit_tests_pass(tmp_path: Path) -> None:
    rules = DEPLOY / "prometheus" / "rules.yml"
    assert subprocess.run(["promtool", "check", "rules", str(rules)], capture_output=True).returncode == 0
    tested = subprocess.run(
        ["promtool", "test", "rules", str(DEPLOY / "prometheus" / "rules.test.yml")], capture_output=True, text=True
    )
    assert tested.returncode == 0, tested.stdout + tested.stderr
    config = (DEPLOY / "prometheus" / "prometheus.yml").read_text().replace("/etc/prometheus/rules.yml", str(rules))
    (tmp_path / "prometheus.yml").write_text(config)
    checked = subprocess.run(["promtool", "check", "config", str(tmp_path / "prometheus.yml")], capture_output=True)
    assert checked.returncode == 0, checked.stdout


def test_every_metric_an_alert_or_a_panel_uses_exists() -> None:
    known = metric_names()
    rules = referenced_metrics((DEPLOY / "prometheus" / "rules.yml").read_text())
    dashboard = json.loads((DEPLOY / "grafana" / "warnroute.json").read_text())
    panels = referenced_metrics(json.dumps([t["expr"] for p in dashboard["panels"] for t in p["targets"]]))
    assert rules and panels
    assert rules <= known, rules - known
    assert panels <= known, panels - known
    assert len({p["id"] for p in dashboard["panels"]}) == len(dashboard["panels"])


def test_every_runbook_link_of_an_alert_has_its_section() -> None:
    runbook = (ROOT / "docs" / "operations.md").read_text()
    anchors = {
        re.sub(r"[^a-z0-9 -]", "", line.lstrip("#").strip().lower()).replace(" ", "-")
        for line in runbook.splitlines()
        if line.startswith("#")
    }
    rules = yaml.safe_load((DEPLOY / "prometheus" / "rules.yml").read_text())
    for rule in rules["groups"][0]["rules"]:
        link = rule["annotations"]["runbook"]
        assert link.startswith("docs/operations.md#") and link.split("#")[1] in anchors, link


def k8s_objects() -> list[dict[str, Any]]:
    docs = []
    for path in sorted((DEPLOY / "k8s").glob("*.yaml")):
        docs += [d for d in yaml.safe_load_all(path.read_text()) if d]
    return docs


def test_kubernetes_manifests_probe_real_endpoints_and_reference_secrets_only() -> None:
    objects = {d["kind"]: d for d in k8s_objects()}
    assert {"Namespace", "Deployment", "Service", "Kustomization"} <= set(objects)
    for d in objects.values():
        assert d["apiVersion"] and (d["kind"] == "Kustomization" or d["metadata"]["name"])
    kustomized = set(objects["Kustomization"]["resources"])
    assert kustomized == {p.name for p in (DEPLOY / "k8s").glob("*.yaml")} - {"kustomization.yaml"}
    pod = objects["Deployment"]["spec"]["template"]["spec"]
    container = pod["containers"][0]
    routes = {getattr(r, "path", "") for r in create_app(Settings()).routes}
    for probe in ("startupProbe", "livenessProbe", "readinessProbe"):
        assert container[probe]["httpGet"]["path"] in routes
    assert container["readinessProbe"]["httpGet"]["path"] == "/readyz"
    assert pod["securityContext"]["runAsNonRoot"] is True
    for env in container["env"]:
        assert _read_by_warnroute(env["name"]), env["name"]  # a setting warnroute really reads
        if any(word in env["name"] for word in ("KEY", "TOKEN", "PASSWORD", "DATABASE_URL")):
            assert "value" not in env or env["name"].endswith("_FILE"), env["name"]  # secrets by reference


def test_compose_runs_two_routers_on_kafka_and_postgres_with_prometheus() -> None:
    compose = yaml.safe_load((DEPLOY / "compose.yaml").read_text())
    services = compose["services"]
    assert {"kafka", "postgres", "router-a", "router-b", "prometheus"} <= set(services)
    kafka = services["kafka"]["environment"]
    assert kafka["KAFKA_PROCESS_ROLES"] == "broker,controller"  # KRaft, no ZooKeeper
    for name in ("router-a", "router-b"):
        env = services[name]["environment"]
        assert env["WARNROUTE_KAFKA_BOOTSTRAP"] == "kafka:9092"
        assert env["WARNROUTE_DATABASE_URL"].startswith("postgresql://")
        assert "${WARNROUTE_ACK_KEY" in env["WARNROUTE_ACK_KEY"]  # one key, from outside the file
        assert "${WARNROUTE_DB_PASSWORD" in env["WARNROUTE_DATABASE_URL"]
    for service in services.values():  # every secret comes from the environment of `docker compose`
        for name, value in (service.get("environment") or {}).items():
            if any(word in name for word in ("KEY", "TOKEN", "PASSWORD")):
                assert str(value).startswith("${"), name


def test_the_image_is_slim_and_runs_as_a_numeric_non_root_user() -> None:
    dockerfile = (DEPLOY / "Dockerfile").read_text()
    assert re.findall(r"^FROM python:3\.11-slim", dockerfile, re.M)
    users = re.findall(r"^USER (\S+)", dockerfile, re.M)
    assert users and users[-1].split(":")[0].isdigit() and users[-1].split(":")[0] != "0"
    assert 'CMD ["serve", "--host", "0.0.0.0", "--port", "8080"]' in dockerfile


class _Recording(dict[str, str]):
    """An environment that remembers which variables were asked for."""

    def __init__(self) -> None:
        super().__init__()
        self.asked: set[str] = set()

    def get(self, key: str, default: Any = None) -> Any:
        self.asked.add(key)
        return super().get(key, default)


def _read_by_warnroute(name: str) -> bool:
    """Whether setting ``name`` changes what warnroute starts with: the Kafka settings are asked which
    variables they read; any other variable must change the process settings when given a value."""
    if name.startswith("WARNROUTE_KAFKA_"):
        recording = _Recording()
        recording["WARNROUTE_KAFKA_BOOTSTRAP"] = "127.0.0.1:9092"
        recording["WARNROUTE_KAFKA_SECURITY_PROTOCOL"] = "SASL_SSL"  # so that every branch asks for its variables
        with contextlib.suppress(ConfigError):  # (no password given: refused, after asking)
            KafkaSettings.from_env(recording)
        return name in recording.asked
    default = Settings.from_env({}).model_dump()
    for value in ("7", "dev", "/tmp/warnroute-check"):
        try:
            changed = Settings.from_env({name: value}).model_dump() != default
        except ConfigError:
            continue
        if changed:
            return True
    return False
