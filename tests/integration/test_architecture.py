"""The import contracts in pyproject.toml hold on the tree, and break when a "never" is broken."""

from __future__ import annotations

import shutil
import subprocess
import sys
from pathlib import Path

from tests.support.messages import ROOT

LINT = Path(sys.executable).parent / "lint-imports"


def _lint(tree: Path) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [str(LINT), "--config", str(tree / "pyproject.toml"), "--no-cache"],
        cwd=tree,
        env={"PATH": "/usr/bin:/bin", "PYTHONPATH": str(tree)},
        capture_output=True,
        text=True,
        timeout=120,
    )


def _copy(tmp_path: Path) -> Path:
    tree = tmp_path / "tree"
    shutil.copytree(ROOT / "router", tree / "router", ignore=shutil.ignore_patterns("__pycache__"))
    shutil.copy(ROOT / "pyproject.toml", tree / "pyproject.toml")
    return tree


def test_the_tree_keeps_every_contract(tmp_path: Path) -> None:
    result = _lint(_copy(tmp_path))
    assert result.returncode == 0, result.stdout
    assert "Contracts: 6 kept, 0 broken." in result.stdout


def _with_import(tmp_path: Path, module: str, line: str) -> subprocess.CompletedProcess[str]:
    """lint-imports over a copy of the tree in which ``module`` (a path under router/) gains ``line``."""
    tree = _copy(tmp_path)
    source = tree / "router" / module
    source.write_text(source.read_text() + f"\n{line}  # noqa: E402,F401\n")
    return _lint(tree)


def test_a_store_that_imports_a_channel_breaks_the_build(tmp_path: Path) -> None:
    result = _with_import(tmp_path, "store/reads.py", "from router.handlers.webhook import WebhookHandler")
    assert result.returncode == 1
    assert "router.store is not allowed to import router.handlers" in result.stdout
    assert "router.store.reads -> router.handlers.webhook" in result.stdout


def test_a_domain_type_that_reaches_for_the_plan_breaks_the_build(tmp_path: Path) -> None:
    result = _with_import(tmp_path, "domain/ladder.py", "from router.plan.schema import Escalation")
    assert result.returncode == 1
    assert "router.domain is not allowed to import router.plan" in result.stdout
