"""Reading YAML configuration files strictly: duplicate keys are errors, and paths map to lines."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import yaml

from router.errors import ConfigProblem


class _StrictLoader(yaml.SafeLoader):
    """SafeLoader that refuses duplicate mapping keys instead of keeping the last one silently."""

    def construct_mapping(self, node: yaml.MappingNode, deep: bool = False) -> dict[Any, Any]:
        seen: dict[Any, int] = {}
        for key_node, _ in node.value:
            key = self.construct_object(key_node, deep=deep)
            if key in seen:
                raise yaml.constructor.ConstructorError(
                    None,
                    None,
                    f"duplicate key {key!r} (first at line {seen[key] + 1})",
                    key_node.start_mark,
                )
            seen[key] = key_node.start_mark.line
        return super().construct_mapping(node, deep=deep)


# Keys such as 530300 or 4.3 must stay strings: read every scalar key and value as YAML 1.2 would
# for our purposes by quoting them in the files; the loader does not guess further.


@dataclass(frozen=True)
class YamlDoc:
    """A parsed YAML file: its data, and its node tree for mapping error paths to lines."""

    file: str
    data: Any
    root: yaml.Node | None

    def line_of(self, path: Sequence[str | int]) -> int | None:
        """1-based line of the deepest node on ``path`` that exists, or None."""
        node = self.root
        line = node.start_mark.line + 1 if node is not None else None
        for part in path:
            if isinstance(node, yaml.MappingNode):
                for key_node, value_node in node.value:
                    if str(key_node.value) == str(part):
                        node = value_node
                        line = key_node.start_mark.line + 1
                        break
                else:
                    return line
            elif isinstance(node, yaml.SequenceNode) and isinstance(part, int) and part < len(node.value):
                node = node.value[part]
                line = node.start_mark.line + 1
            else:
                return line
        return line


def load_yaml(path: Path, display: str) -> YamlDoc:
    """Parse ``path``; raises a one-problem ``ConfigProblem`` list via ``YamlError`` on failure."""
    try:
        text = path.read_text(encoding="utf-8")
    except FileNotFoundError:
        raise YamlError(ConfigProblem(display, "", "file not found")) from None
    except (OSError, UnicodeDecodeError) as exc:
        raise YamlError(ConfigProblem(display, "", f"cannot read: {exc}")) from None
    try:
        root = yaml.compose(text, Loader=_StrictLoader)
        data = yaml.load(text, Loader=_StrictLoader)
    except yaml.MarkedYAMLError as exc:
        mark = exc.problem_mark or exc.context_mark
        line = mark.line + 1 if mark is not None else None
        problem = f"{exc.context + ': ' if exc.context else ''}{exc.problem}"
        raise YamlError(ConfigProblem(display, "", f"invalid YAML: {problem}", line)) from None
    except yaml.YAMLError as exc:
        raise YamlError(ConfigProblem(display, "", f"invalid YAML: {exc}")) from None
    return YamlDoc(display, data, root)


class YamlError(Exception):
    def __init__(self, problem: ConfigProblem) -> None:
        self.problem = problem
        super().__init__(str(problem))


def format_path(loc: Sequence[str | int]) -> str:
    """``("rules", 3, "actions")`` → ``rules[3].actions``; keys that are not identifiers are quoted."""
    out = ""
    for part in loc:
        if isinstance(part, int):
            out += f"[{part}]"
        elif part.isidentifier():
            out += f".{part}" if out else part
        else:
            out += f"[{part!r}]"
    return out
