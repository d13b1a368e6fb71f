"""Kafka settings from the environment: every problem named by its variable, the password never shown."""

from __future__ import annotations

from pathlib import Path

import pytest

from router.errors import ConfigError
from router.settings import Settings
from router.stream.settings import KafkaSettings


def test_no_bootstrap_means_no_kafka_mode() -> None:
    assert Settings.from_env({}).kafka is None
    assert Settings.from_env({}, kafka_bootstrap="127.0.0.1:9092").kafka == KafkaSettings("127.0.0.1:9092")


def test_sasl_ssl_settings_are_read_and_the_password_stays_out_of_repr(tmp_path: Path) -> None:
    ca = tmp_path / "ca.pem"
    ca.write_text("x")
    secret = tmp_path / "password"
    secret.write_text("s3cret-from-file\n")
    k = KafkaSettings.from_env(
        {
            "WARNROUTE_KAFKA_BOOTSTRAP": "broker:9093",
            "WARNROUTE_KAFKA_SECURITY_PROTOCOL": "sasl_ssl",
            "WARNROUTE_KAFKA_SASL_MECHANISM": "SCRAM-SHA-512",
            "WARNROUTE_KAFKA_SASL_USERNAME": "warnroute",
            "WARNROUTE_KAFKA_SASL_PASSWORD_FILE": str(secret),
            "WARNROUTE_KAFKA_SSL_CAFILE": str(ca),
            "WARNROUTE_KAFKA_PARTITIONS": "12",
        }
    )
    assert k is not None
    assert (k.security_protocol, k.sasl_mechanism, k.sasl_password, k.partitions) == (
        "SASL_SSL",
        "SCRAM-SHA-512",
        "s3cret-from-file",
        12,
    )
    assert "s3cret" not in repr(k) and "s3cret" not in repr(Settings(kafka=k))
    assert k.action_topic("flood_drought_hq") == "warnroute.actions.flood_drought_hq"


def test_every_problem_is_named_by_its_variable_and_no_password_is_repeated() -> None:
    with pytest.raises(ConfigError) as caught:
        KafkaSettings.from_env(
            {
                "WARNROUTE_KAFKA_BOOTSTRAP": "broker:9093",
                "WARNROUTE_KAFKA_SECURITY_PROTOCOL": "SASL_PLAINTEXT",
                "WARNROUTE_KAFKA_SASL_MECHANISM": "GSSAPI",
                "WARNROUTE_KAFKA_SASL_PASSWORD": "hunter2-not-shown",
                "WARNROUTE_KAFKA_SSL_CAFILE": "/nonexistent/ca.pem",
                "WARNROUTE_KAFKA_BATCH": "-5",
            }
        )
    text = str(caught.value)
    for expected in (
        "environment: WARNROUTE_KAFKA_SASL_MECHANISM: must be one of PLAIN, SCRAM-SHA-256, SCRAM-SHA-512",
        "environment: WARNROUTE_KAFKA_SASL_USERNAME: is required with SASL_PLAINTEXT",
        "environment: WARNROUTE_KAFKA_SECURITY_PROTOCOL: SASL_PLAINTEXT would send the password in clear",
        "environment: WARNROUTE_KAFKA_SSL_CAFILE: no such file: /nonexistent/ca.pem",
        "environment: WARNROUTE_KAFKA_BATCH: must be a positive whole number, not '-5'",
    ):
        assert expected in text, text
    assert "hunter2" not in text


def test_a_missing_password_is_reported() -> None:
    with pytest.raises(ConfigError, match="WARNROUTE_KAFKA_SASL_PASSWORD: \\(or …_PASSWORD_FILE\\) is required"):
        KafkaSettings.from_env(
            {
                "WARNROUTE_KAFKA_BOOTSTRAP": "b:1",
                "WARNROUTE_KAFKA_SECURITY_PROTOCOL": "SASL_SSL",
                "WARNROUTE_KAFKA_SASL_USERNAME": "u",
            }
        )
