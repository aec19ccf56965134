"""YAML reading that remembers where every key came from.

PyYAML's ``safe_load`` forgets line numbers and silently keeps the last of two duplicate
keys; packs need both. We compose the node tree with the safe loader, build plain Python
data from it ourselves, and keep a map from each key path to its line.

Pack YAML is untrusted, so reading it is bounded: files over :data:`MAX_YAML_BYTES`, more
than :data:`MAX_YAML_NODES` values after alias expansion (a "billion laughs" document
is a few hundred bytes that expand to gigabytes), nesting deeper than
:data:`MAX_YAML_DEPTH` (a self-referencing alias is infinitely deep), NUL and other
non-printable characters, text that is not UTF-8, and non-finite numbers (``.nan``,
``.inf``, ``1e999``: never a meaningful pack value, and NaN passes every ``minimum`` check
of a schema) are each one :class:`YamlSyntaxError` with the line.
"""

from __future__ import annotations

import math
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import yaml

KeyPath = tuple[Any, ...]

#: Largest YAML file read (bytes); the largest built-in pack file is about 20 KB.
MAX_YAML_BYTES = 2 << 20
#: Most values (scalars, lists, mappings) one file may expand to, aliases included.
MAX_YAML_NODES = 200_000
#: Deepest nesting of lists and mappings.
MAX_YAML_DEPTH = 64


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


#: The safe loader: libyaml's (C) parser when PyYAML was built with it, else pure Python.
_Loader: type[yaml.SafeLoader] = getattr(yaml, "CSafeLoader", yaml.SafeLoader)


def read_yaml(path: Path) -> YamlDoc:
    """Read one YAML file (safe loader only, bounded; see the module docstring) into a
    :class:`YamlDoc`."""
    size = path.stat().st_size
    if size > MAX_YAML_BYTES:
        raise YamlSyntaxError(1, f"file is {size} bytes; pack YAML files are limited to {MAX_YAML_BYTES} bytes")
    raw = path.read_bytes()[: MAX_YAML_BYTES + 1]
    try:
        text = raw.decode("utf-8")
    except UnicodeDecodeError as exc:
        line = raw[: exc.start].count(b"\n") + 1
        raise YamlSyntaxError(line, f"not UTF-8 text (byte {exc.start}); save the file as UTF-8") from None
    if "\x00" in text:
        raise YamlSyntaxError(text[: text.index("\x00")].count("\n") + 1, "NUL character in the file")
    try:
        # libyaml's parser when PyYAML has it (about 5x faster on pack files; same marks, same
        # Python resolver and constructors); the pure-Python one checks every character first
        loader = _Loader(text)  # may raise ReaderError
    except yaml.reader.ReaderError as exc:
        line = text[: max(exc.position, 0)].count("\n") + 1
        raise YamlSyntaxError(line, f"invalid YAML: character {exc.character!r} is not allowed") from None
    try:
        node = loader.get_single_node()
        doc = YamlDoc(None)
        if node is not None:
            doc.lines[()] = node.start_mark.line + 1
            doc.data = _Builder(loader, doc).build(node, (), 0)
        return doc
    except yaml.MarkedYAMLError as exc:
        mark = exc.problem_mark or exc.context_mark
        line = mark.line + 1 if mark is not None else 1
        raise YamlSyntaxError(line, f"invalid YAML: {exc.problem or exc}") from None
    except yaml.reader.ReaderError as exc:  # a character YAML does not allow
        line = text[: max(exc.position, 0)].count("\n") + 1
        raise YamlSyntaxError(line, f"invalid YAML: character {exc.character!r} is not allowed") from None
    except yaml.YAMLError as exc:
        raise YamlSyntaxError(1, f"invalid YAML: {' '.join(str(exc).split())[:200]}") from None
    except RecursionError:
        raise YamlSyntaxError(1, f"invalid YAML: nested deeper than {MAX_YAML_DEPTH} levels") from None
    finally:
        loader.dispose()


class _Builder:
    """Builds plain data from the node tree, counting every value and level (aliases are
    expanded, so each use of an anchor counts again)."""

    def __init__(self, loader: yaml.SafeLoader, doc: YamlDoc) -> None:
        self.loader = loader
        self.doc = doc
        self.nodes = 0

    def _count(self, node: yaml.Node, depth: int) -> None:
        self.nodes += 1
        line = node.start_mark.line + 1
        if self.nodes > MAX_YAML_NODES:
            raise YamlSyntaxError(
                line,
                f"the document expands to more than {MAX_YAML_NODES} values (aliases repeating "
                f"aliases?); write it out or split it",
            )
        if depth > MAX_YAML_DEPTH:
            raise YamlSyntaxError(
                line, f"nested deeper than {MAX_YAML_DEPTH} levels (or an alias that contains itself)"
            )

    def scalar(self, node: yaml.Node) -> Any:
        line = node.start_mark.line + 1
        try:
            value = self.loader.construct_object(node, deep=True)
        except (ValueError, OverflowError) as exc:  # e.g. an integer of 10,000 digits
            raise YamlSyntaxError(line, f"invalid value: {' '.join(str(exc).split())[:120]}") from None
        if isinstance(value, float) and not math.isfinite(value):
            raise YamlSyntaxError(line, f"{node.value!r} is not a finite number; give a finite value")
        return value

    def build(self, node: yaml.Node, path: KeyPath, depth: int) -> Any:
        self._count(node, depth)
        doc, loader = self.doc, self.loader
        if isinstance(node, yaml.MappingNode):
            loader.flatten_mapping(node)
            out: dict[Any, Any] = {}
            for key_node, value_node in node.value:
                if not isinstance(key_node, yaml.ScalarNode):
                    raise yaml.constructor.ConstructorError(
                        None, None, "mapping keys must be scalars", key_node.start_mark
                    )
                key = self.scalar(key_node)
                if not isinstance(key, (str, int, float, bool)) and key is not None:
                    raise yaml.constructor.ConstructorError(
                        None, None, "mapping keys must be scalars", key_node.start_mark
                    )
                child = path + (key,)
                line = key_node.start_mark.line + 1
                if key in out:
                    doc.duplicates.append((child, doc.lines[child], line))
                doc.lines[child] = line
                out[key] = self.build(value_node, child, depth + 1)
            return out
        if isinstance(node, yaml.SequenceNode):
            items = []
            for i, item in enumerate(node.value):
                doc.lines[path + (i,)] = item.start_mark.line + 1
                items.append(self.build(item, path + (i,), depth + 1))
            return items
        return self.scalar(node)
