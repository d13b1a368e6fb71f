"""The published JSON Schema is current, and the JSON examples validate against it independently."""

from __future__ import annotations

import json

import jsonschema

from router.parsers.jsonfmt import json_schema
from tests.support.messages import EXAMPLES, ROOT

SCHEMA_FILE = ROOT / "docs" / "schema" / "warning.schema.json"


def test_published_schema_is_generated_from_the_model() -> None:
    assert json.loads(SCHEMA_FILE.read_text(encoding="utf-8")) == json_schema()


def test_json_examples_validate_against_the_published_schema() -> None:
    schema = json.loads(SCHEMA_FILE.read_text(encoding="utf-8"))
    validator = jsonschema.Draft202012Validator(schema, format_checker=jsonschema.FormatChecker())
    examples = sorted(EXAMPLES.glob("*.json"))
    assert examples
    for path in examples:
        validator.validate(json.loads(path.read_text(encoding="utf-8")))


def test_schema_rejects_what_the_parser_rejects() -> None:
    schema = json.loads(SCHEMA_FILE.read_text(encoding="utf-8"))
    bad = json.loads((EXAMPLES / "04-city-rainstorm-level-ii-report.json").read_text(encoding="utf-8"))
    bad["level"] = "V"
    assert list(jsonschema.Draft202012Validator(schema).iter_errors(bad))
