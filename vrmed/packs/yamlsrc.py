"""YAML reading that remembers where every key came from.

PyYAML's ``safe_load`` forgets line numbers and silently keeps the last of two duplicate
keys; packs need both. We compose the node tree with the safe loader, build plain Python
data from it ourselves, and keep a map from each key path to its line.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import yaml

KeyPath = tuple[Any, ...]


@dataclass
class YamlDoc:
    """Parsed YAML data plus the line (1-based) of every key path, and duplicate keys found."""

    data: Any
    lines: dict[KeyPath, int] = field(default_factory=dict)
    duplicates: list[tuple[KeyPath, int, int]] = field(default_factory=list)

    def line(self, path: KeyPath) -> int:
        """The line of ``path``, or of its nearest ancestor that has one."""
        path = tuple(path)
        while path:
            if path in self.lines:
                return self.lines[path]
            path = path[:-1]
        return self.lines.get((), 1)


class YamlSyntaxError(Exception):
    """The file is not valid YAML; ``line`` is 1-based."""

    def __init__(self, line: int, message: str) -> None:
        super().__init__(message)
        self.line = line
        self.message = message


def read_yaml(path: Path) -> YamlDoc:
    """Read one YAML file (safe loader only) into a :class:`YamlDoc`."""
    text = path.read_text(encoding="utf-8")
    loader = yaml.SafeLoader(text)
    try:
        node = loader.get_single_node()
        doc = YamlDoc(None)
        if node is not None:
            doc.lines[()] = node.start_mark.line + 1
            doc.data = _build(loader, node, (), doc)
        return doc
    except yaml.MarkedYAMLError as exc:
        mark = exc.problem_mark or exc.context_mark
        line = mark.line + 1 if mark is not None else 1
        raise YamlSyntaxError(line, f"invalid YAML: {exc.problem or exc}") from None
    finally:
        loader.dispose()


def _build(loader: yaml.SafeLoader, node: yaml.Node, path: KeyPath, doc: YamlDoc) -> Any:
    if isinstance(node, yaml.MappingNode):
        loader.flatten_mapping(node)
        out: dict[Any, Any] = {}
        for key_node, value_node in node.value:
            key = loader.construct_object(key_node, deep=True)
            if not isinstance(key, (str, int, float, bool)) and key is not None:
                raise yaml.constructor.ConstructorError(None, None, "mapping keys must be scalars", key_node.start_mark)
            child = path + (key,)
            line = key_node.start_mark.line + 1
            if key in out:
                doc.duplicates.append((child, doc.lines[child], line))
            doc.lines[child] = line
            out[key] = _build(loader, value_node, child, doc)
        return out
    if isinstance(node, yaml.SequenceNode):
        items = []
        for i, item in enumerate(node.value):
            doc.lines[path + (i,)] = item.start_mark.line + 1
            items.append(_build(loader, item, path + (i,), doc))
        return items
    return loader.construct_object(node, deep=True)
