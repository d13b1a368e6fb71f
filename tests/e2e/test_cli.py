"""The ``warnroute`` command line, run as a real process."""

from __future__ import annotations

import json
import shutil
import subprocess
import sys
from pathlib import Path

from tests.support.messages import CONFIG_DIR, EXAMPLES, ROOT, json_message


def run(*args: str, stdin: bytes | None = None, cwd: Path = ROOT) -> subprocess.CompletedProcess[bytes]:
    return subprocess.run(
        [sys.executable, "-m", "router", *args], input=stdin, capture_output=True, cwd=cwd, timeout=60, check=False
    )


def test_route_prints_one_json_line_per_message() -> None:
    files = sorted(str(p) for p in EXAMPLES.iterdir())
    result = run("route", *files)
    assert result.returncode == 0, result.stderr.decode()
    lines = [json.loads(line) for line in result.stdout.decode().splitlines()]
    assert len(lines) == len(files)
    first = lines[0]
    assert set(first["warning"]) >= {
        "id",
        "product",
        "hazard",
        "severity",
        "level",
        "jurisdiction",
        "areas",
        "msg_type",
        "status",
        "issued_at",
        "onset",
        "expires",
        "references",
    }
    action = first["actions"][0]
    assert set(action) >= {"department", "jurisdiction", "kind", "clause", "text", "mandatory", "due_at", "channels"}
    assert first["warning"]["issued_at"] == "2026-07-15T08:00:00+08:00"


def test_route_links_updates_to_earlier_files() -> None:
    """Given the whole storm in order, the upgrade informs and the lift reaches everyone told."""
    names = [
        "01-luoping-rainstorm-blue-signal.cap.xml",
        "02-luoping-rainstorm-orange-upgrade.cap.xml",
        "08-luoping-rainstorm-lift.cap.xml",
    ]
    result = run("route", *(str(EXAMPLES / n) for n in names))
    _, orange, lift = (json.loads(x) for x in result.stdout.decode().splitlines())
    assert not orange["reference_unknown"]
    assert any(a["kind"] == "inform" for a in orange["actions"])
    assert lift["reference_unknown"]  # the lift references the red upgrade, which was not given


def test_bad_input_exits_2_naming_file_field_problem_and_goes_on(tmp_path: Path) -> None:
    bad = tmp_path / "frost-red.json"
    bad.write_bytes(json_message(hazard="frost", severity="red"))
    good = EXAMPLES / "06-xuanwei-gale-blue-signal.national.xml"
    result = run("route", str(bad), str(tmp_path / "missing.xml"), str(good))
    assert result.returncode == 2
    err = result.stderr.decode()
    assert f"{bad}: severity: a red frost signal does not exist nationally" in err
    assert "missing.xml: cannot read" in err
    assert "Traceback" not in err
    assert len(result.stdout.decode().splitlines()) == 1


def test_route_reads_stdin_and_now() -> None:
    result = run("route", "--now", "2026-07-15T09:00:00", "-", stdin=json_message(severity="orange"))
    assert result.returncode == 0
    decision = json.loads(result.stdout)
    assert any("past their deadline" in n for n in decision["notes"])


def test_config_check_ok_and_broken(tmp_path: Path) -> None:
    ok = run("config", "check")
    assert ok.returncode == 0 and b"ok:" in ok.stdout
    broken = tmp_path / "config"
    shutil.copytree(CONFIG_DIR, broken)
    text = (broken / "warnings.yaml").read_text(encoding="utf-8").replace("kind: phone_report", "kind: phone_call")
    (broken / "warnings.yaml").write_text(text, encoding="utf-8")
    result = run("config", "check", "--config", str(broken))
    assert result.returncode == 1
    assert f"{broken / 'warnings.yaml'}:" in result.stderr.decode()
    assert "actions[0].kind" in result.stderr.decode()
    routed = run("route", "--config", str(broken), str(EXAMPLES / "06-xuanwei-gale-blue-signal.national.xml"))
    assert routed.returncode == 1 and not routed.stdout


def test_plan_coverage_passes_and_fails_on_a_clause_without_rule(tmp_path: Path) -> None:
    result = run("plan", "coverage", "--require-tests")
    assert result.returncode == 0, result.stderr.decode()
    out = result.stdout.decode()
    assert "§4.3" in out and "rainstorm-direct-report-4.3" in out and "luoping-rainstorm-orange-signal" in out
    broken = tmp_path / "config"
    shutil.copytree(CONFIG_DIR, broken)
    text = (broken / "warnings.yaml").read_text(encoding="utf-8")
    (broken / "warnings.yaml").write_text(
        text.replace('    "5.2": 预警联动响应\n', '    "5.2": 预警联动响应\n    "5.5": 社会动员\n'), encoding="utf-8"
    )
    failing = run("plan", "coverage", "--config", str(broken))
    assert failing.returncode == 1
    assert "clause(s) without a rule: 5.5" in failing.stderr.decode()


def test_plan_coverage_catches_a_misquote(tmp_path: Path) -> None:
    broken = tmp_path / "config"
    shutil.copytree(CONFIG_DIR, broken)
    text = (broken / "warnings.yaml").read_text(encoding="utf-8")
    (broken / "warnings.yaml").write_text(
        text.replace("公安部门对积水地区实行交通引导或管制", "公安部门对积水地区实行交通管制"), encoding="utf-8"
    )
    result = run("plan", "coverage", "--config", str(broken))
    assert result.returncode == 1
    assert "rule rainstorm-5.3.1: text is not in §5.3.1" in result.stderr.decode()


def test_schema_command_matches_the_published_schema() -> None:
    result = run("schema")
    assert json.loads(result.stdout) == json.loads((ROOT / "docs/schema/warning.schema.json").read_text())


def test_no_command_prints_help() -> None:
    result = run()
    assert result.returncode == 2 and b"route" in result.stderr
