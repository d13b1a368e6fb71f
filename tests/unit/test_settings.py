"""Process settings from the environment: each bad variable named with its problem, secrets never shown."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

import pytest

from router.errors import ConfigError
from router.settings import Settings
from tests.support.messages import ROOT


def test_variables_are_read_by_name_and_empty_ones_count_as_unset() -> None:
    s = Settings.from_env(
        {
            "WARNROUTE_CONFIG": "/etc/warnroute",
            "WARNROUTE_CALL_TIMEOUT": "2.5",
            "WARNROUTE_DISPATCH": "off",
            "WARNROUTE_AUTH": "DEV",
            "WARNROUTE_SCHEDULER_POLL": "",
            "WARNROUTE_SMTP_HOST": "127.0.0.1",
            "WARNROUTE_SMTP_PORT": "2525",
            "WARNROUTE_SMTP_PASSWORD": "mail-pw",
        },
        data_dir=Path("/var/lib/warnroute"),
        port=None,
    )
    assert (s.config_dir, s.data_dir, s.call_timeout, s.dispatch, s.auth) == (
        Path("/etc/warnroute"),
        Path("/var/lib/warnroute"),
        2.5,
        False,
        "dev",
    )
    assert (s.scheduler_poll, s.port) == (1.0, 8080)
    assert s.smtp == {"host": "127.0.0.1", "port": "2525", "from": "warnroute@localhost", "password": "mail-pw"}
    assert "mail-pw" not in repr(s)


def test_every_bad_variable_is_named_with_its_problem_and_never_its_value() -> None:
    with pytest.raises(ConfigError) as caught:
        Settings.from_env({"WARNROUTE_CALL_TIMEOUT": "ten", "WARNROUTE_CANARY_TIMEOUT": "0", "WARNROUTE_PORT": "http"})
    lines = sorted(str(p) for p in caught.value.problems)
    assert lines == [
        "environment: WARNROUTE_CALL_TIMEOUT: Input should be a valid number, unable to parse string as a number",
        "environment: WARNROUTE_CANARY_TIMEOUT: Input should be greater than 0",
        "environment: WARNROUTE_PORT: Input should be a valid integer, unable to parse string as an integer",
    ]


def test_serve_with_a_bad_variable_stops_before_binding_naming_it(tmp_path: Path) -> None:
    env = {"PATH": "/usr/bin:/bin", "WARNROUTE_LEASE_SECONDS": "soon", "WARNROUTE_DATA_DIR": str(tmp_path)}
    result = subprocess.run(
        [sys.executable, "-m", "router", "serve", "--port", "1"], env=env, cwd=ROOT, capture_output=True, timeout=60
    )
    assert result.returncode == 1
    assert "environment: WARNROUTE_LEASE_SECONDS: Input should be a valid number" in result.stderr.decode()


def test_every_setting_is_listed_by_its_variable_in_the_module_docstring() -> None:
    import router.settings

    doc = router.settings.__doc__ or ""
    names = {"config_dir": "WARNROUTE_CONFIG"}
    for field in Settings.model_fields:
        if field not in ("smtp", "kafka"):  # smtp is made of the WARNROUTE_SMTP_* parts; kafka is stream's
            assert names.get(field, "WARNROUTE_" + field.upper()) in doc, field
